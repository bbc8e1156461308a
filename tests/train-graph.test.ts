import { describe, expect, it } from "vitest";
import { gradCheck, type GradCheckCase } from "./helpers/gradcheck.js";

const awayFromZero = (rng: { uniform(a: number, b: number): number }) => {
  const v = rng.uniform(0.2, 1.5);
  return rng.uniform(0, 1) < 0.5 ? -v : v;
};
const oneHot = (n: number, c: number, seed = 3) => {
  const out: number[] = [];
  for (let i = 0; i < n; i++) for (let j = 0; j < c; j++) out.push((i * 7 + seed) % c === j ? 1 : 0);
  return out;
};

/** Every primitive and composite op, with the inputs it is differentiated against. */
const cases: Record<string, GradCheckCase & { float64Only?: boolean; erf?: boolean }> = {
  "add (broadcast bias)": { shapes: [[3, 4], [4]], build: (g, [a, b]) => g.add(a, b) },
  "add (broadcast keepdim, rank 3)": { shapes: [[2, 3, 4], [3, 1]], build: (g, [a, b]) => g.add(a, b) },
  "sub (broadcast)": { shapes: [[3, 4], [1, 4]], build: (g, [a, b]) => g.sub(a, b) },
  "mul (broadcast)": { shapes: [[3, 4], [3, 1]], build: (g, [a, b]) => g.mul(a, b) },
  "mul (same tensor twice: fan-out)": { shapes: [[3, 4]], build: (g, [a]) => g.mul(a, a) },
  div: { shapes: [[3, 4], [4]], build: (g, [a, b]) => g.div(a, b), value: (rng, i) => (i === 1 ? awayFromZero(rng) : rng.uniform(-1, 1)) },
  neg: { shapes: [[5]], build: (g, [a]) => g.neg(a) },
  scale: { shapes: [[2, 3]], build: (g, [a]) => g.scale(a, -2.5) },
  relu: { shapes: [[4, 5]], build: (g, [a]) => g.relu(a), value: (rng) => awayFromZero(rng) },
  sigmoid: { shapes: [[4, 5]], build: (g, [a]) => g.sigmoid(a) },
  tanh: { shapes: [[4, 5]], build: (g, [a]) => g.tanh(a) },
  exp: { shapes: [[4, 5]], build: (g, [a]) => g.exp(a) },
  erf: { shapes: [[4, 5]], build: (g, [a]) => g.erf(a), erf: true },
  gelu: { shapes: [[4, 5]], build: (g, [a]) => g.gelu(a), erf: true },
  "matmul 2d": { shapes: [[3, 4], [4, 5]], build: (g, [a, b]) => g.matmul(a, b) },
  "matmul 3d x 2d (shared weight)": { shapes: [[2, 3, 4], [4, 5]], build: (g, [a, b]) => g.matmul(a, b) },
  "matmul 3d x 3d": { shapes: [[2, 3, 4], [2, 4, 3]], build: (g, [a, b]) => g.matmul(a, b) },
  "matmul batch broadcast": { shapes: [[2, 3, 4], [1, 4, 2]], build: (g, [a, b]) => g.matmul(a, b) },
  "linear (Gemm) with bias": { shapes: [[3, 4], [5, 4], [5]], build: (g, [x, w, b]) => g.linear(x, w, b) },
  "linear (Gemm) without bias": { shapes: [[3, 4], [5, 4]], build: (g, [x, w]) => g.linear(x, w) },
  "linear over a sequence": { shapes: [[2, 3, 4], [5, 4], [5]], build: (g, [x, w, b]) => g.linear(x, w, b) },
  transpose: { shapes: [[2, 3, 4]], build: (g, [a]) => g.transpose(a, [2, 0, 1]) },
  reshape: { shapes: [[2, 3, 4]], build: (g, [a]) => g.reshape(a, [6, 4]) },
  "concat axis 1": { shapes: [[2, 3], [2, 4], [2, 1]], build: (g, xs) => g.concat(xs, 1) },
  "concat axis 0": { shapes: [[2, 3], [1, 3]], build: (g, xs) => g.concat(xs, 0) },
  "reduceSum": { shapes: [[2, 3, 4]], build: (g, [a]) => g.reduceSum(a, [1], false) },
  "reduceSum keepdims": { shapes: [[2, 3, 4]], build: (g, [a]) => g.reduceSum(a, [0, 2], true) },
  "reduceMean": { shapes: [[2, 3, 4]], build: (g, [a]) => g.reduceMean(a, [-1], false) },
  "layerNorm (x, weight, bias)": { shapes: [[3, 6], [6], [6]], build: (g, [x, w, b]) => g.layerNorm(x, w, b) },
  "layerNorm rank 3": { shapes: [[2, 3, 5], [5], [5]], build: (g, [x, w, b]) => g.layerNorm(x, w, b) },
  "softmax last axis": { shapes: [[3, 5]], build: (g, [a]) => g.softmax(a, -1) },
  "softmax middle axis": { shapes: [[2, 3, 4]], build: (g, [a]) => g.softmax(a, 1) },
  logSoftmax: { shapes: [[3, 5]], build: (g, [a]) => g.logSoftmax(a, -1) },
  "softmax cross-entropy (weighted rows)": {
    shapes: [[4, 3], [4, 3], [4]],
    noGrad: [1, 2],
    fixed: { 1: oneHot(4, 3) },
    value: (rng, i) => (i === 0 ? rng.uniform(-2, 2) : rng.uniform(0.1, 0.5)),
    build: (g, [z, t, w]) => g.softmaxCrossEntropy(z, t, w),
  },
  dropout: { shapes: [[4, 6]], build: (g, [a]) => g.dropout(a, 0.3) },
};

// Composite heads: gradients with respect to all parameters through whole networks.
const compositeCases: Record<string, GradCheckCase & { erf?: boolean }> = {
  "mlp head + cross-entropy": {
    shapes: [[5, 6], [6], [6], [4, 6], [4], [3, 4], [3], [5, 3], [5]],
    noGrad: [0, 7, 8],
    fixed: { 7: oneHot(5, 3, 1), 8: [0.2, 0.2, 0.2, 0.2, 0.2] },
    build: (g, [x, lw, lb, w1, b1, w2, b2, t, wt]) => {
      const h = g.dropout(g.layerNorm(x, lw, lb), 0.1);
      const z = g.linear(g.dropout(g.relu(g.linear(h, w1, b1)), 0.3), w2, b2);
      return g.softmaxCrossEntropy(z, t, wt);
    },
  },
  "gated fusion": {
    shapes: [[4, 3], [4, 5], [2, 8], [2], [2, 3], [2, 5]],
    build: (g, [a, t, wg, bg, wa, wt]) => {
      const gate = g.sigmoid(g.linear(g.concat([a, t], 1), wg, bg));
      const ha = g.tanh(g.linear(a, wa));
      const ht = g.tanh(g.linear(t, wt));
      return g.add(g.mul(gate, ha), g.mul(g.sub(g.scalar(1), gate), ht));
    },
  },
  "attention over a short sequence": {
    shapes: [[2, 3, 4], [4, 4], [4, 4], [4, 4], [4], [4]],
    build: (g, [x, wq, wk, wv, lw, lb]) => {
      const q = g.linear(x, wq);
      const k = g.linear(x, wk);
      const v = g.linear(x, wv);
      const att = g.softmax(g.scale(g.matmul(q, g.transpose(k, [0, 2, 1])), 0.5), -1);
      const y = g.layerNorm(g.add(x, g.gelu(g.matmul(att, v))), lw, lb);
      return g.reduceMean(y, [1], false);
    },
    erf: true,
  },
};

describe("finite-difference gradient checks (float64)", () => {
  for (const [name, c] of Object.entries({ ...cases, ...compositeCases })) {
    it(name, async () => {
      // Erf runs in float32 inside float64 graphs (no double kernel), so its forward is only float-accurate.
      const r = c.erf
        ? await gradCheck(c, { dtype: "float64", eps: 1e-3, atol: 3e-4, rtol: 1e-3 })
        : await gradCheck(c, { dtype: "float64", eps: 1e-6, atol: 1e-8, rtol: 1e-6 });
      expect(r.failures).toEqual([]);
      expect(r.checked).toBeGreaterThan(0);
      expect(r.maxAbsGrad).toBeGreaterThan(1e-3);
    });
  }
});

describe("finite-difference gradient checks (float32, the training dtype)", () => {
  for (const [name, c] of Object.entries({ ...cases, ...compositeCases })) {
    it(name, async () => {
      const r = await gradCheck(c, { dtype: "float32", eps: 1e-2, atol: 2e-3, rtol: 1e-2 });
      expect(r.failures).toEqual([]);
      expect(r.maxAbsGrad).toBeGreaterThan(1e-3);
    });
  }
});

describe("the checker itself", () => {
  it("fails on a gradient that is off by 1% (float64) or 5% (float32)", async () => {
    const c = compositeCases["mlp head + cross-entropy"];
    const bad64 = await gradCheck(c, { dtype: "float64", eps: 1e-6, atol: 1e-8, rtol: 1e-6, corrupt: (a) => a * 1.01 });
    expect(bad64.failures.length).toBeGreaterThan(0);
    const bad32 = await gradCheck(c, { dtype: "float32", eps: 1e-2, atol: 2e-3, rtol: 1e-2, corrupt: (a) => a * 1.05 });
    expect(bad32.failures.length).toBeGreaterThan(0);
  });
});
