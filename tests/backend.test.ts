import os from "node:os";
import { describe, expect, it } from "vitest";
import { checkDevice, createSession, defaultThreads, physicalCores, resolveDevice, sessionOptions, tensorToFloat32 } from "../src/backends/onnx.js";
import { createSession as createTrainingSession } from "../src/train/graph/session.js";
import { encodeModel } from "../src/train/onnx/proto.js";

/** y = x + x on [n] floats, built with the project's own ONNX encoder. */
const doubler = () =>
  encodeModel({
    graphName: "double",
    nodes: [{ opType: "Add", inputs: ["x", "x"], outputs: ["y"] }],
    inputs: [{ name: "x", elemType: "float32", shape: ["n"] }],
    outputs: [{ name: "y", elemType: "float32", shape: ["n"] }],
    initializers: [],
  });

describe("devices and threads (backends/onnx.ts)", () => {
  it("--device auto falls back to the CPU here and says why; cuda and unknown devices are refused clearly", async () => {
    const r = await resolveDevice("auto");
    const cudaLib = /not installed/.test(r.reason);
    expect(r.requested).toBe("auto");
    if (r.device === "cpu") expect(r.reason).toMatch(/^auto: (the CUDA execution provider (is not installed|did not start)|onnxruntime-node provides CUDA only on Linux x64)/);
    else expect(r.reason).toBe("auto: the CUDA execution provider started");
    expect(await resolveDevice("cpu")).toEqual({ device: "cpu", requested: "cpu", reason: "--device cpu" });
    expect(() => checkDevice("auto")).toThrow(/resolveDevice/);
    expect(() => checkDevice("tpu")).toThrow(/unknown device "tpu" \(expected one of: auto, cpu, cuda\)/);
    if (cudaLib) await expect(resolveDevice("cuda")).rejects.toThrow(/CUDA execution provider is not installed.*ONNXRUNTIME_NODE_INSTALL=cuda12/s);
  });

  it("sets the thread count explicitly: one per physical core this process may use, unless given", () => {
    expect(physicalCores()).toBeGreaterThanOrEqual(1);
    expect(defaultThreads()).toBe(Math.min(os.availableParallelism(), physicalCores()));
    const noSpin = { extra: { session: { intra_op: { allow_spinning: "0" } } } };
    expect(sessionOptions({ device: "cpu" })).toEqual({ intraOpNumThreads: defaultThreads(), interOpNumThreads: 1, executionMode: "sequential", graphOptimizationLevel: "all", ...noSpin });
    expect(sessionOptions({ device: "cpu", threads: 3, spinning: false })).toMatchObject({ intraOpNumThreads: 3, ...noSpin });
    expect(sessionOptions({ device: "cpu", spinning: true }).extra).toBeUndefined();
  });

  it("creates sessions for encoders and for training graphs through the same settings", async () => {
    const x = Float32Array.from([1, -2.5, 3]);
    for (const s of [await createSession(doubler(), { device: "cpu", threads: 1 }), await createTrainingSession(doubler(), { threads: 1 })]) {
      const { Tensor } = await import("onnxruntime-node");
      const out = await s.run({ x: new Tensor("float32", x, [3]) });
      expect(Array.from(out.y.data as Float32Array)).toEqual([2, -5, 6]);
      await s.release();
    }
  });
});

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
