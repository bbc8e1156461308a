/**
 * Combining metrics over folds and seeds.
 *
 * Over folds (cross-validation, one seed): scalar metrics are the mean over folds (the usual "average over
 * the 5 sessions"), the confusion matrix is the sum (every utterance is tested exactly once), per-class
 * numbers are means and supports sums. Over seeds: everything is the mean, and `*_std` holds the sample
 * standard deviation (n - 1) of the scalar metrics; 0 for a single seed.
 */
import type { ClassMetrics, Metrics } from "./metrics.js";

export const SCALARS = ["accuracy", "unweighted_accuracy", "macro_f1", "weighted_f1"] as const;
export type Scalar = (typeof SCALARS)[number];
export type ScalarStd = Record<Scalar, number>;

export interface SplitMetrics {
  train: Metrics;
  val: Metrics;
  test: Metrics;
}

function mean(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

export function sampleStd(xs: number[]): number {
  if (xs.length < 2) return 0;
  const m = mean(xs);
  return Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / (xs.length - 1));
}

export function combine(ms: Metrics[], confusion: "sum" | "mean"): Metrics {
  if (ms.length === 1) return ms[0];
  const c = ms[0].confusion.length;
  const cm = Array.from({ length: c }, (_, i) =>
    Array.from({ length: c }, (_, j) => {
      const s = ms.reduce((a, m) => a + m.confusion[i][j], 0);
      return confusion === "sum" ? s : s / ms.length;
    }),
  );
  const perClass: ClassMetrics[] = ms[0].per_class.map((pc, k) => ({
    label: pc.label,
    precision: mean(ms.map((m) => m.per_class[k].precision)),
    recall: mean(ms.map((m) => m.per_class[k].recall)),
    f1: mean(ms.map((m) => m.per_class[k].f1)),
    support: confusion === "sum" ? ms.reduce((a, m) => a + m.per_class[k].support, 0) : mean(ms.map((m) => m.per_class[k].support)),
  }));
  const out = {
    n: confusion === "sum" ? ms.reduce((a, m) => a + m.n, 0) : mean(ms.map((m) => m.n)),
    per_class: perClass,
    confusion: cm,
  } as Metrics;
  for (const s of SCALARS) out[s] = mean(ms.map((m) => m[s]));
  return out;
}

export function combineSplits(list: SplitMetrics[], confusion: "sum" | "mean"): SplitMetrics {
  return {
    train: combine(list.map((m) => m.train), confusion),
    val: combine(list.map((m) => m.val), confusion),
    test: combine(list.map((m) => m.test), confusion),
  };
}

export function scalarStd(ms: Metrics[]): ScalarStd {
  return Object.fromEntries(SCALARS.map((s) => [s, sampleStd(ms.map((m) => m[s]))])) as ScalarStd;
}
