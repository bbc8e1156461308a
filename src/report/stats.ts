/**
 * Paired significance of the difference between two runs on the same test rows.
 *
 * - McNemar's test on the discordant pairs (b = rows A gets right and B wrong, c = the reverse), exact
 *   binomial form: p = min(1, 2 * P[Binom(b + c, 1/2) <= min(b, c)]), as statsmodels' `mcnemar(exact=True)`.
 *   The exact form is valid for every count (the chi-square form only approximates it), so it is used always.
 * - A paired bootstrap of the WA and UA differences: test rows are resampled with replacement (the same rows
 *   for both runs), the 95% interval is the 2.5 / 97.5 percentiles (numpy's linear interpolation). With
 *   several seeds, each row's correctness is its mean over the seeds, so the statistic is the mean over seeds
 *   of WA (and of UA: balanced accuracy is linear in the per-row correctness once the rows are fixed).
 * - Holm's step-down adjustment for the several comparisons a table shows.
 *
 * Hand-written: a binomial tail, a percentile and a resampling loop are a few lines each; scipy/statsmodels
 * have no maintained JS counterpart, and tests/report-stats.test.ts checks these against their documented
 * definitions computed by scripts/gen/report_fixtures.py.
 */
import { Rng } from "../train/rng.js";
import { BOOTSTRAP_DEFAULTS } from "./defaults.js";

/** Two-sided exact McNemar p-value from the discordant counts. */
export function mcnemarExact(b: number, c: number): number {
  const n = b + c;
  if (n === 0) return 1;
  const k = Math.min(b, c);
  // Binomial(n, 1/2) pmf by the recurrence pmf(i+1) = pmf(i) (n - i) / (i + 1), in logs so 2^-n never underflows.
  let logPmf = -n * Math.LN2;
  let maxLog = logPmf;
  const logs: number[] = [logPmf];
  for (let i = 0; i < k; i++) {
    logPmf += Math.log((n - i) / (i + 1));
    logs.push(logPmf);
    if (logPmf > maxLog) maxLog = logPmf;
  }
  let s = 0;
  for (const l of logs) s += Math.exp(l - maxLog);
  return Math.min(1, 2 * Math.exp(maxLog + Math.log(s)));
}

/** Holm's step-down adjusted p-values, in input order. */
export function holm(ps: readonly number[]): number[] {
  const m = ps.length;
  const order = ps.map((_, i) => i).sort((a, b) => ps[a] - ps[b] || a - b);
  const out = new Array<number>(m);
  let running = 0;
  order.forEach((i, rank) => {
    running = Math.max(running, Math.min(1, ps[i] * (m - rank)));
    out[i] = running;
  });
  return out;
}

/** The q-th percentile (0..100) with linear interpolation between order statistics (numpy's default). */
export function percentile(values: readonly number[], q: number): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const pos = (q / 100) * (s.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, s.length - 1);
  return s[lo] + (s[hi] - s[lo]) * (pos - lo);
}

/** Two runs' per-row correctness (mean over seeds, 0..1) on the same rows, with the rows' class ids. */
export interface PairedRows {
  y: Int32Array;
  a: Float64Array;
  b: Float64Array;
  numClasses: number;
}

/** WA and UA (mean recall over the classes present among the rows) of per-row correctness, over `idx` or all rows. */
export function waUa(y: Int32Array, correct: Float64Array, numClasses: number, idx?: ArrayLike<number>): { wa: number; ua: number } {
  const count = new Float64Array(numClasses);
  const right = new Float64Array(numClasses);
  const n = idx ? idx.length : y.length;
  let total = 0;
  for (let t = 0; t < n; t++) {
    const i = idx ? idx[t] : t;
    count[y[i]]++;
    right[y[i]] += correct[i];
    total += correct[i];
  }
  let ua = 0;
  let present = 0;
  for (let k = 0; k < numClasses; k++)
    if (count[k] > 0) {
      ua += right[k] / count[k];
      present++;
    }
  return { wa: n > 0 ? total / n : NaN, ua: present > 0 ? ua / present : NaN };
}

/** WA and UA differences (A - B) on one resample of the rows. */
export function resampleDiff(p: PairedRows, idx: ArrayLike<number>): { dWa: number; dUa: number } {
  const a = waUa(p.y, p.a, p.numClasses, idx);
  const b = waUa(p.y, p.b, p.numClasses, idx);
  return { dWa: a.wa - b.wa, dUa: a.ua - b.ua };
}

export interface BootstrapResult {
  dWa: number;
  dUa: number;
  ciWa: [number, number];
  ciUa: [number, number];
  resamples: number;
  level: number;
}

export { BOOTSTRAP_DEFAULTS };

/**
 * Paired bootstrap of several comparisons over the same rows at once: every resample draws one set of row
 * indices (seeded, so the report is a pure function of its inputs) and evaluates every pair on it.
 */
export function pairedBootstrap(pairs: readonly PairedRows[], o: Partial<typeof BOOTSTRAP_DEFAULTS> = {}): BootstrapResult[] {
  const { resamples, seed, level } = { ...BOOTSTRAP_DEFAULTS, ...o };
  if (pairs.length === 0) return [];
  const n = pairs[0].y.length;
  for (const p of pairs) if (p.y.length !== n || p.a.length !== n || p.b.length !== n) throw new Error("pairedBootstrap: pairs must share their rows");
  const rng = new Rng(seed);
  const idx = new Uint32Array(n);
  const dWa = pairs.map(() => new Array<number>(resamples));
  const dUa = pairs.map(() => new Array<number>(resamples));
  for (let r = 0; r < resamples; r++) {
    for (let t = 0; t < n; t++) idx[t] = rng.int(n);
    pairs.forEach((p, k) => {
      const d = resampleDiff(p, idx);
      dWa[k][r] = d.dWa;
      dUa[k][r] = d.dUa;
    });
  }
  const lo = (100 * (1 - level)) / 2;
  const hi = 100 - lo;
  return pairs.map((p, k) => {
    const d = resampleDiff(p, Uint32Array.from({ length: n }, (_, i) => i));
    return {
      dWa: d.dWa,
      dUa: d.dUa,
      ciWa: [percentile(dWa[k], lo), percentile(dWa[k], hi)],
      ciUa: [percentile(dUa[k], lo), percentile(dUa[k], hi)],
      resamples,
      level,
    };
  });
}
