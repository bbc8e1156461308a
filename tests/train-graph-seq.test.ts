/**
 * Finite-difference gradient checks for the graph operations the fusion heads add (sequences with run-time
 * lengths, masks, multi-head reshapes, binary cross-entropy), and the masked softmax's padding contract.
 */
import { describe, expect, it } from "vitest";
import { GraphBuilder } from "../src/train/graph/builder.js";
import { createSession, floatTensor } from "../src/train/graph/session.js";
import { gradCheck, type GradCheckCase } from "./helpers/gradcheck.js";

const awayFromZero = (rng: { uniform(a: number, b: number): number }) => {
  const v = rng.uniform(0.2, 1.5);
  return rng.uniform(0, 1) < 0.5 ? -v : v;
};

/** Key masks [B, T] (1 = real): row lengths 3, 1, 0 (all padding) and 4 of T = 4. */
const keyMask = [1, 1, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1];

export const seqCases: Record<string, GradCheckCase> = {
  log: { shapes: [[3, 4]], build: (g, [a]) => g.log(a), value: (rng) => rng.uniform(0.3, 2) },
  abs: { shapes: [[3, 4]], build: (g, [a]) => g.abs(a), value: (rng) => awayFromZero(rng) },
  "clampMin (both sides of the bound)": { shapes: [[3, 4]], build: (g, [a]) => g.clampMin(a, 0.1), value: (rng) => awayFromZero(rng) },
  "matmul 4-d (attention scores)": { shapes: [[2, 2, 3, 4], [2, 2, 4, 5]], build: (g, [a, b]) => g.matmul(a, b) },
  "reshape copying symbolic dims ([B, T, 6] -> [B, T, 2, 3])": {
    shapes: [[2, 3, 6]],
    declared: [["B", "T", 6]],
    build: (g, [a]) => g.reshape(a, ["B", "T", 2, 3]),
  },
  "linear over a sequence with run-time B and T": {
    shapes: [[2, 3, 4], [5, 4], [5]],
    declared: [["B", "T", 4], [5, 4], [5]],
    build: (g, [x, w, b]) => g.linear(x, w, b),
  },
  "unsqueeze / squeeze": { shapes: [[3, 4]], build: (g, [a]) => g.squeeze(g.mul(g.unsqueeze(a, [1]), g.unsqueeze(a, [1])), [1]) },
  "expand to a run-time batch": {
    shapes: [[3, 4], [2, 5]],
    declared: [[3, 4], ["B", 5]],
    noGrad: [1],
    build: (g, [q, like]) => g.expand(q, ["B", 3, 4], g.shapeTensor([{ of: like, axis: 0 }, 3, 4])),
  },
  "fitLength cutting (5 -> 3)": {
    shapes: [[2, 5, 3], [2, 3]],
    declared: [["B", "Ta", 3], ["B", "Tt"]],
    noGrad: [1],
    build: (g, [a, t]) => g.fitLength(a, 1, g.dimOf(t, 1), "Tt"),
  },
  "fitLength padding (2 -> 4)": {
    shapes: [[2, 2, 3], [2, 4]],
    declared: [["B", "Ta", 3], ["B", "Tt"]],
    noGrad: [1],
    build: (g, [a, t]) => g.mul(g.fitLength(a, 1, g.dimOf(t, 1), "Tt"), g.unsqueeze(t, [2])),
  },
  "concat along run-time lengths": {
    shapes: [[2, 3, 4], [2, 2, 4]],
    declared: [["B", "Ta", 4], ["B", "Tt", 4]],
    build: (g, [a, t]) => g.concat([a, g.scale(t, 2)], 1),
  },
  "masked softmax with a padded and an all-padding row": {
    shapes: [[4, 2, 3, 4], [4, 1, 1, 4]],
    noGrad: [1],
    fixed: { 1: keyMask },
    build: (g, [s, m]) => g.maskedSoftmax(s, m, -1),
  },
  "binary cross-entropy on logits (weighted rows)": {
    shapes: [[4, 3], [4, 3], [4]],
    noGrad: [1, 2],
    fixed: { 1: [1, 0, 0, 0, 1, 1, 0.5, 0, 0, 0, 0, 1], 2: [0.25, 0.25, 0.25, 0.25] },
    value: (rng, i) => (i === 0 ? awayFromZero(rng) * 2 : 0.25),
    build: (g, [z, t, w]) => g.bceWithLogits(z, t, w),
  },
};

describe("finite-difference gradient checks of the sequence ops (float64)", () => {
  for (const [name, c] of Object.entries(seqCases)) {
    it(name, async () => {
      const r = await gradCheck(c, { dtype: "float64", eps: 1e-6, atol: 1e-8, rtol: 1e-6 });
      expect(r.failures).toEqual([]);
      expect(r.checked).toBeGreaterThan(0);
      expect(r.maxAbsGrad).toBeGreaterThan(1e-3);
    });
  }
});

describe("finite-difference gradient checks of the sequence ops (float32)", () => {
  for (const [name, c] of Object.entries(seqCases)) {
    it(name, async () => {
      const r = await gradCheck(c, { dtype: "float32", eps: 1e-2, atol: 2e-3, rtol: 1e-2 });
      expect(r.failures).toEqual([]);
    });
  }
});

describe("masked softmax", () => {
  it("gives padding exactly zero weight, sums to 1 over real keys, and no NaN for an all-padding row", async () => {
    const g = new GraphBuilder({ mode: "infer" });
    const s = g.input("s", ["B", 3, "T"]);
    const m = g.input("m", ["B", 1, "T"]);
    g.output(g.maskedSoftmax(s, m, -1), "w");
    const session = await createSession(g.toModel("masked_softmax"), { threads: 1 });
    const scores = Float32Array.from({ length: 4 * 3 * 4 }, (_, i) => Math.sin(i) * 40); // large scores too
    const r = await session.run({ s: floatTensor(scores, [4, 3, 4]), m: floatTensor(Float32Array.from(keyMask), [4, 1, 4]) });
    const w = r.w.data as Float32Array;
    for (let b = 0; b < 4; b++)
      for (let q = 0; q < 3; q++) {
        const row = Array.from(w.subarray((b * 3 + q) * 4, (b * 3 + q + 1) * 4));
        const keep = keyMask.slice(b * 4, b * 4 + 4);
        row.forEach((v, k) => {
          expect(Number.isNaN(v)).toBe(false);
          if (keep[k] === 0) expect(v).toBe(0);
        });
        const sum = row.reduce((a, v) => a + v, 0);
        expect(sum).toBeCloseTo(keep.some((k) => k === 1) ? 1 : 0, 6);
      }
    await session.release();
  });
});
