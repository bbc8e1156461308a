/**
 * The report's statistics and projection against independent references (scripts/gen/report_fixtures.py:
 * exact rational McNemar tails, statsmodels' Holm definition, numpy percentiles and bootstrap statistics,
 * numpy's SVD for PCA).
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { fitPca, leadingEigen, pcaScores, subsampleRows, umap2d } from "../src/report/projection.js";
import { holm, mcnemarExact, pairedBootstrap, percentile, resampleDiff, waUa, type PairedRows } from "../src/report/stats.js";
import { readNpy } from "../src/store/npy.js";
import { FIXTURES } from "./helpers/paths.js";
import { Rng } from "../src/train/rng.js";

const REF = path.join(FIXTURES, "reference", "report");
const stats = JSON.parse(readFileSync(path.join(REF, "stats.json"), "utf8"));

describe("McNemar, Holm, percentiles", () => {
  it("exact McNemar p-values match the exact binomial tails (relative 1e-10; the pmf recurrence over 4,000 terms loses a few digits)", () => {
    expect(stats.mcnemar.length).toBeGreaterThan(10);
    for (const { b, c, p } of stats.mcnemar as { b: number; c: number; p: number }[]) {
      const got = mcnemarExact(b, c);
      expect(Math.abs(got - p), `b=${b} c=${c}: ${got} vs ${p}`).toBeLessThanOrEqual(1e-10 * Math.max(p, 1e-300));
    }
  });
  it("Holm adjustment matches statsmodels' definition", () => {
    for (const { p, adjusted } of stats.holm as { p: number[]; adjusted: number[] }[]) {
      const got = holm(p);
      got.forEach((v, i) => expect(v).toBeCloseTo(adjusted[i], 14));
    }
  });
  it("percentiles interpolate as numpy's default", () => {
    const { values, q, expected } = stats.percentile as { values: number[]; q: number[]; expected: number[] };
    q.forEach((qq, i) => expect(percentile(values, qq)).toBeCloseTo(expected[i], 13));
  });
});

describe("paired bootstrap of WA / UA differences", () => {
  const bs = stats.bootstrap;
  const y = Int32Array.from(bs.labels as number[]);
  const mean = (preds: number[][]) => Float64Array.from(y, (label, i) => preds.reduce((s, p) => s + (p[i] === label ? 1 : 0), 0) / preds.length);
  const pair: PairedRows = { y, a: mean(bs.pred_a), b: mean(bs.pred_b), numClasses: 3 };

  it("observed WA and UA (mean over seeds) match numpy", () => {
    const a = waUa(pair.y, pair.a, 3);
    const b = waUa(pair.y, pair.b, 3);
    expect(a.wa).toBeCloseTo(bs.observed.wa_a, 14);
    expect(a.ua).toBeCloseTo(bs.observed.ua_a, 14);
    expect(b.wa).toBeCloseTo(bs.observed.wa_b, 14);
    expect(b.ua).toBeCloseTo(bs.observed.ua_b, 14);
  });
  it("the statistic on given resamples matches numpy, and so does the percentile interval over them", () => {
    const dWa: number[] = [];
    const dUa: number[] = [];
    (bs.indices as number[][]).forEach((idx, r) => {
      const d = resampleDiff(pair, idx);
      expect(d.dWa).toBeCloseTo(bs.d_wa[r], 13);
      expect(d.dUa).toBeCloseTo(bs.d_ua[r], 13);
      dWa.push(d.dWa);
      dUa.push(d.dUa);
    });
    expect(percentile(dWa, 2.5)).toBeCloseTo(bs.ci95_wa[0], 13);
    expect(percentile(dUa, 97.5)).toBeCloseTo(bs.ci95_ua[1], 13);
  });
  it("pairedBootstrap: observed differences exact, interval within Monte-Carlo error of numpy's, seeded", () => {
    const [r] = pairedBootstrap([pair], { resamples: 4000, seed: 3 });
    expect(r.dWa).toBeCloseTo(bs.observed.d_wa, 14);
    expect(r.dUa).toBeCloseTo(bs.observed.d_ua, 14);
    // numpy's 300 resamples vs our 4000: the 2.5% quantile of a difference with sd ~0.05 agrees to ~0.02.
    expect(Math.abs(r.ciWa[0] - bs.ci95_wa[0])).toBeLessThan(0.03);
    expect(Math.abs(r.ciUa[1] - bs.ci95_ua[1])).toBeLessThan(0.03);
    expect(r.ciWa[0]).toBeLessThan(r.dWa);
    expect(r.ciWa[1]).toBeGreaterThan(r.dWa);
    expect(pairedBootstrap([pair], { resamples: 200, seed: 3 })).toEqual(pairedBootstrap([pair], { resamples: 200, seed: 3 }));
    expect(pairedBootstrap([pair], { resamples: 200, seed: 4 })[0].ciWa).not.toEqual(pairedBootstrap([pair], { resamples: 200, seed: 3 })[0].ciWa);
  });
  it("McNemar per seed on the fixture's predictions", () => {
    for (const { seed, b, c, p } of bs.mcnemar as { seed: number; b: number; c: number; p: number }[]) {
      let bb = 0;
      let cc = 0;
      y.forEach((label, i) => {
        const ra = bs.pred_a[seed][i] === label;
        const rb = bs.pred_b[seed][i] === label;
        if (ra && !rb) bb++;
        if (!ra && rb) cc++;
      });
      expect([bb, cc]).toEqual([b, c]);
      expect(mcnemarExact(bb, cc)).toBeCloseTo(p, 14);
    }
  });
});

describe("PCA", () => {
  const ref = JSON.parse(readFileSync(path.join(REF, "pca.json"), "utf8"));
  it("matches numpy's SVD: components, scores and explained variance", async () => {
    const { data, shape } = await readNpy(path.join(REF, "pca_x.npy"));
    const [n, d] = shape;
    const p = await fitPca(data, n, d, 2);
    for (let k = 0; k < 2; k++)
      for (let j = 0; j < d; j++) expect(Math.abs(p.components[k][j] - ref.components[k][j])).toBeLessThan(1e-9);
    p.explainedVarianceRatio.forEach((v, k) => expect(v).toBeCloseTo(ref.explained_variance_ratio[k], 10));
    p.explainedVariance.forEach((v, k) => expect(Math.abs(v - ref.explained_variance[k]) / ref.explained_variance[k]).toBeLessThan(1e-10));
    const scores = pcaScores(p, data);
    for (let i = 0; i < n; i++) for (let k = 0; k < 2; k++) expect(Math.abs(scores[i * 2 + k] - ref.scores[i][k])).toBeLessThan(1e-8);
  });
  it("subspace iteration finds the leading eigenpairs of a larger matrix with a decaying spectrum", () => {
    const d = 120;
    const rng = new Rng(5);
    // C = Q diag(lambda) Q^T with a random orthogonal Q (Gram-Schmidt of random vectors).
    const q = Array.from({ length: d }, () => Float64Array.from({ length: d }, () => rng.uniform(-1, 1)));
    for (let k = 0; k < d; k++) {
      for (let j = 0; j < k; j++) {
        let dot = 0;
        for (let i = 0; i < d; i++) dot += q[k][i] * q[j][i];
        for (let i = 0; i < d; i++) q[k][i] -= dot * q[j][i];
      }
      const norm = Math.hypot(...q[k]);
      for (let i = 0; i < d; i++) q[k][i] /= norm;
    }
    const lambda = Array.from({ length: d }, (_, k) => 10 * 0.8 ** k);
    const c = new Float64Array(d * d);
    for (let a = 0; a < d; a++) for (let b = 0; b < d; b++) for (let k = 0; k < d; k++) c[a * d + b] += q[k][a] * lambda[k] * q[k][b];
    const { values, vectors } = leadingEigen(c, d, 2);
    expect(values[0]).toBeCloseTo(10, 8);
    expect(values[1]).toBeCloseTo(8, 8);
    for (let k = 0; k < 2; k++) {
      let dot = 0;
      for (let i = 0; i < d; i++) dot += vectors[k][i] * q[k][i];
      expect(Math.abs(dot)).toBeCloseTo(1, 8);
    }
  });
});

describe("subsample and UMAP", () => {
  it("subsampleRows: all rows when few, a seeded sorted subset otherwise", () => {
    expect(subsampleRows(5, 10)).toEqual([0, 1, 2, 3, 4]);
    const s = subsampleRows(1000, 50, 1);
    expect(s).toHaveLength(50);
    expect(new Set(s).size).toBe(50);
    expect([...s].sort((a, b) => a - b)).toEqual(s);
    expect(subsampleRows(1000, 50, 1)).toEqual(s);
    expect(subsampleRows(1000, 50, 2)).not.toEqual(s);
  });
  it("UMAP is deterministic and keeps well-separated clusters apart", () => {
    const rng = new Rng(9);
    const n = 90;
    const d = 16;
    const x = new Float32Array(n * d);
    const label = (i: number) => i % 3;
    for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) x[i * d + j] = (j === label(i) ? 8 : 0) + rng.uniform(-1, 1);
    const rows = Array.from({ length: n }, (_, i) => i);
    const a = umap2d(x, d, rows)!;
    const b = umap2d(x, d, rows)!;
    expect(Array.from(a)).toEqual(Array.from(b));
    // Every point's nearest neighbour in the layout has its own label.
    let agree = 0;
    for (let i = 0; i < n; i++) {
      let best = -1;
      let bestD = Infinity;
      for (let j = 0; j < n; j++) {
        if (j === i) continue;
        const dd = (a[i * 2] - a[j * 2]) ** 2 + (a[i * 2 + 1] - a[j * 2 + 1]) ** 2;
        if (dd < bestD) [best, bestD] = [j, dd];
      }
      if (label(best) === label(i)) agree++;
    }
    expect(agree / n).toBeGreaterThan(0.95);
    expect(umap2d(x, d, [0, 1, 2])).toBeNull();
  });
});
