import { describe, expect, it } from "vitest";
import { Rng } from "../src/train/rng.js";

describe("Rng (xoshiro128**)", () => {
  it("matches the reference implementation's output for state (1, 2, 3, 4)", () => {
    // From xoshiro128starstar.c (Blackman & Vigna) with s = {1, 2, 3, 4}.
    const r = Rng.fromState(1, 2, 3, 4);
    expect(Array.from({ length: 6 }, () => r.nextU32())).toEqual([11520, 0, 5927040, 70819200, 2031721883, 1637235492]);
  });

  it("dropout masks advance the same stream and honour p", () => {
    const a = Rng.fromState(1, 2, 3, 4);
    const m = new Float32Array(4);
    a.fillDropoutMask(m, 0.5);
    const b = Rng.fromState(1, 2, 3, 4);
    b.nextU32();
    b.nextU32();
    expect(a.nextU32()).toBe(b.nextU32());
    // 11520 = 0x2d00: low half 0x2d00 (< 32768: dropped), high half 0 (dropped); 0: both dropped
    expect(Array.from(m)).toEqual([0, 0, 0, 0]);
    const big = new Float32Array(200_001);
    new Rng(9).fillDropoutMask(big, 0.3);
    const zeros = big.filter((v) => v === 0).length / big.length;
    expect(zeros).toBeGreaterThan(0.295);
    expect(zeros).toBeLessThan(0.305);
    expect(new Set(big)).toEqual(new Set([0, Math.fround(1 / 0.7)]));
  });

  it("int() is uniform and shuffle is a permutation", () => {
    const r = new Rng(3);
    const counts = [0, 0, 0];
    for (let i = 0; i < 30000; i++) counts[r.int(3)]++;
    for (const c of counts) expect(Math.abs(c - 10000)).toBeLessThan(400);
    const a = Array.from({ length: 50 }, (_, i) => i);
    r.shuffle(a);
    expect([...a].sort((x, y) => x - y)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(a).not.toEqual(Array.from({ length: 50 }, (_, i) => i));
  });
});
