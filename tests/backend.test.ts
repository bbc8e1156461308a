import { describe, expect, it } from "vitest";
import { tensorToFloat32 } from "../src/backends/onnx.js";

describe("tensorToFloat32", () => {
  it("decodes float16 bit patterns (as onnxruntime-node returns them on Node 20)", () => {
    // 1.0, -2.0, 0.5, 65504 (max half), smallest subnormal, +inf, 0.333 (0x3555 = 0.33325195)
    const bits = Uint16Array.from([0x3c00, 0xc000, 0x3800, 0x7bff, 0x0001, 0x7c00, 0x3555]);
    const got = Array.from(tensorToFloat32({ type: "float16", data: bits }));
    expect(got.slice(0, 5)).toEqual([1, -2, 0.5, 65504, 2 ** -24]);
    expect(got[5]).toBe(Infinity);
    expect(got[6]).toBeCloseTo(0.33325195, 7);
    expect(Number.isNaN(tensorToFloat32({ type: "float16", data: Uint16Array.from([0x7e00]) })[0])).toBe(true);
  });

  it("passes float32 through and widens float64", () => {
    const f = Float32Array.from([1.5, -3]);
    expect(tensorToFloat32({ type: "float32", data: f })).toBe(f);
    expect(Array.from(tensorToFloat32({ type: "float64", data: Float64Array.from([0.25]) }))).toEqual([0.25]);
  });
});
