/**
 * 2-D projections of a store's embeddings for the report: PCA (fit on every row) and UMAP (umap-js, on the
 * subsample that is drawn), both deterministic.
 *
 * PCA is sklearn's: centred data, components = the covariance's leading eigenvectors, each with its
 * largest-|value| loading made positive (svd_flip), explained variance = eigenvalue / (n - 1) scaled, ratio =
 * eigenvalue / trace. The n x d -> d x d Gram matrix is the only heavy step (10,000 x 768 is 6e9 multiply-adds),
 * so it runs as one MatMul on onnxruntime, as the trainer's graphs do; ml-pca (ml-matrix SVD) measured 17 s for
 * 2,000 x 768 here. The leading eigenvectors then come from orthogonal (subspace) iteration on the small d x d
 * matrix with a Rayleigh-Ritz step by ml-matrix's symmetric eigensolver.
 */
import { EigenvalueDecomposition, Matrix } from "ml-matrix";
import { UMAP } from "umap-js";
import { GraphBuilder } from "../train/graph/builder.js";
import { createSession, floatTensor } from "../train/graph/session.js";
import { Rng } from "../train/rng.js";

export interface Pca {
  n: number;
  d: number;
  mean: Float64Array;
  /** k rows of length d. */
  components: Float64Array[];
  explainedVariance: number[];
  explainedVarianceRatio: number[];
}

/** Centred Gram matrix Xc^T Xc (d x d, row-major) and the column means. */
async function centredGram(x: Float32Array, n: number, d: number): Promise<{ gram: Float64Array; mean: Float64Array }> {
  const mean = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) mean[j] += x[i * d + j];
  for (let j = 0; j < d; j++) mean[j] /= n;
  const xc = new Float64Array(n * d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) xc[i * d + j] = x[i * d + j] - mean[j];
  const b = new GraphBuilder({ mode: "infer", dtype: "float64" });
  const input = b.input("xc", [n, d]);
  b.output(b.matmul(b.transpose(input, [1, 0]), input), "gram");
  const session = await createSession(b.toModel("gram"), { threads: 1 });
  try {
    const r = await session.run({ xc: floatTensor(xc, [n, d]) });
    return { gram: Float64Array.from(r.gram.data as Float64Array), mean };
  } finally {
    await session.release();
  }
}

function matVecBlock(c: Float64Array, d: number, v: Float64Array[], out: Float64Array[]): void {
  for (let k = 0; k < v.length; k++) {
    const vk = v[k];
    const ok = out[k];
    for (let i = 0; i < d; i++) {
      let s = 0;
      const row = i * d;
      for (let j = 0; j < d; j++) s += c[row + j] * vk[j];
      ok[i] = s;
    }
  }
}

function orthonormalise(v: Float64Array[]): void {
  for (let k = 0; k < v.length; k++) {
    for (let pass = 0; pass < 2; pass++)
      for (let j = 0; j < k; j++) {
        let dot = 0;
        for (let i = 0; i < v[k].length; i++) dot += v[k][i] * v[j][i];
        for (let i = 0; i < v[k].length; i++) v[k][i] -= dot * v[j][i];
      }
    let norm = 0;
    for (let i = 0; i < v[k].length; i++) norm += v[k][i] * v[k][i];
    norm = Math.sqrt(norm);
    if (norm > 0) for (let i = 0; i < v[k].length; i++) v[k][i] /= norm;
  }
}

/** The k leading eigenpairs of a symmetric positive semi-definite d x d matrix. */
export function leadingEigen(c: Float64Array, d: number, k: number, o: { tol?: number; maxIter?: number } = {}): { values: number[]; vectors: Float64Array[] } {
  const tol = o.tol ?? 1e-10;
  const maxIter = o.maxIter ?? 500;
  const p = Math.min(d, k + 8);
  const rng = new Rng(0);
  let v = Array.from({ length: p }, () => Float64Array.from({ length: d }, () => rng.uniform(-1, 1)));
  orthonormalise(v);
  const cv = Array.from({ length: p }, () => new Float64Array(d));
  let scale = 0;
  for (let i = 0; i < d; i++) scale = Math.max(scale, c[i * d + i]);
  let values: number[] = [];
  let vectors: Float64Array[] = [];
  for (let it = 1; it <= maxIter; it++) {
    matVecBlock(c, d, v, cv);
    // Rayleigh-Ritz: eigenpairs of H = V^T C V, rotated back, give the current best estimates.
    const h = new Matrix(p, p);
    for (let a = 0; a < p; a++)
      for (let b = a; b < p; b++) {
        let s = 0;
        for (let i = 0; i < d; i++) s += v[a][i] * cv[b][i];
        h.set(a, b, s);
        h.set(b, a, s);
      }
    const e = new EigenvalueDecomposition(h, { assumeSymmetric: true });
    const order = e.realEigenvalues.map((val, i) => [val, i] as const).sort((x, y) => y[0] - x[0] || x[1] - y[1]);
    const w = e.eigenvectorMatrix;
    values = order.map(([val]) => val);
    vectors = order.map(([, col]) => {
      const u = new Float64Array(d);
      for (let a = 0; a < p; a++) {
        const f = w.get(a, col);
        for (let i = 0; i < d; i++) u[i] += f * v[a][i];
      }
      return u;
    });
    // Converged when the k leading Ritz pairs satisfy C u = lambda u to tol (relative to C's largest diagonal).
    const check = vectors.slice(0, k);
    const cu = check.map(() => new Float64Array(d));
    matVecBlock(c, d, check, cu);
    let worst = 0;
    for (let j = 0; j < check.length; j++) {
      let r = 0;
      for (let i = 0; i < d; i++) r = Math.max(r, Math.abs(cu[j][i] - values[j] * check[j][i]));
      worst = Math.max(worst, r);
    }
    if (worst <= tol * Math.max(scale, 1e-300) || p === d) break;
    v = cv.map((x) => Float64Array.from(x));
    orthonormalise(v);
  }
  return { values: values.slice(0, k), vectors: vectors.slice(0, k) };
}

/** PCA of row-major [n, d] data, k components (default 2). */
export async function fitPca(x: Float32Array, n: number, d: number, k = 2): Promise<Pca> {
  if (n < 2) throw new Error(`PCA needs at least 2 rows, got ${n}`);
  const kk = Math.min(k, d);
  const { gram, mean } = await centredGram(x, n, d);
  let trace = 0;
  for (let i = 0; i < d; i++) trace += gram[i * d + i];
  const { values, vectors } = leadingEigen(gram, d, kk);
  for (const u of vectors) {
    let at = 0;
    for (let i = 1; i < d; i++) if (Math.abs(u[i]) > Math.abs(u[at])) at = i;
    if (u[at] < 0) for (let i = 0; i < d; i++) u[i] = -u[i];
  }
  return {
    n,
    d,
    mean,
    components: vectors,
    explainedVariance: values.map((v) => Math.max(0, v) / (n - 1)),
    explainedVarianceRatio: values.map((v) => (trace > 0 ? Math.max(0, v) / trace : 0)),
  };
}

/** Scores of the given rows (all rows by default) on the components: [rows, k] row-major. */
export function pcaScores(p: Pca, x: Float32Array, rows?: readonly number[]): Float64Array {
  const list = rows ?? Array.from({ length: x.length / p.d }, (_, i) => i);
  const k = p.components.length;
  const out = new Float64Array(list.length * k);
  list.forEach((r, t) => {
    for (let c = 0; c < k; c++) {
      const comp = p.components[c];
      let s = 0;
      for (let j = 0; j < p.d; j++) s += (x[r * p.d + j] - p.mean[j]) * comp[j];
      out[t * k + c] = s;
    }
  });
  return out;
}

/** A sorted random subset of `max` row numbers out of n (all of them when n <= max), seeded. */
export function subsampleRows(n: number, max: number, seed = 0): number[] {
  const all = Array.from({ length: n }, (_, i) => i);
  if (n <= max) return all;
  new Rng(seed).shuffle(all);
  return all.slice(0, max).sort((a, b) => a - b);
}

export const UMAP_DEFAULTS = { nNeighbors: 15, minDist: 0.1, seed: 0 };

/**
 * UMAP (umap-js, McInnes et al.'s algorithm) of the given rows to 2-D, seeded: the library draws every random
 * number through the generator it is given, so the layout is the same on every run. null when there are too
 * few rows for a neighbour graph.
 */
export function umap2d(x: Float32Array, d: number, rows: readonly number[], o: Partial<typeof UMAP_DEFAULTS> = {}): Float64Array | null {
  const { nNeighbors, minDist, seed } = { ...UMAP_DEFAULTS, ...o };
  if (rows.length < 5) return null;
  const data = rows.map((r) => Array.from(x.subarray(r * d, r * d + d)));
  const rng = new Rng(seed);
  const u = new UMAP({ nComponents: 2, nNeighbors: Math.min(nNeighbors, rows.length - 1), minDist, random: () => rng.next() });
  const emb = u.fit(data);
  const out = new Float64Array(rows.length * 2);
  emb.forEach((p, i) => {
    out[i * 2] = p[0];
    out[i * 2 + 1] = p[1];
  });
  return out;
}
