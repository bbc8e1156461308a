/**
 * Classification metrics with scikit-learn's definitions (cross-checked in tests/train-metrics.test.ts
 * against numbers that scripts/gen/train_fixtures.py gets from sklearn):
 *
 * - accuracy (WA): accuracy_score.
 * - unweighted_accuracy (UA): balanced_accuracy_score, the mean recall over the classes present in y_true.
 * - macro_f1 / weighted_f1: f1_score(average="macro" | "weighted") without `labels`, i.e. over the classes
 *   that occur in y_true or y_pred (a class only predicted counts with F1 0 in the macro mean and weight 0
 *   in the weighted mean).
 * - per_class: precision/recall/F1/support for every class id 0..C-1 with zero_division=0
 *   (precision_recall_fscore_support(labels=range(C), zero_division=0)).
 * - confusion: confusion_matrix(labels=range(C)); rows are true classes, columns predictions.
 *
 * Tiny and dependency-free: the formulas are a few lines each, and a JS statistics package would not
 * promise sklearn's conventions (which classes enter an average, zero_division) that the reference relies on.
 */
export interface ClassMetrics {
  label: string;
  precision: number;
  recall: number;
  f1: number;
  support: number;
}

export interface Metrics {
  n: number;
  accuracy: number;
  unweighted_accuracy: number;
  macro_f1: number;
  weighted_f1: number;
  per_class: ClassMetrics[];
  confusion: number[][];
}

export function confusionMatrix(yTrue: ArrayLike<number>, yPred: ArrayLike<number>, numClasses: number): number[][] {
  if (yTrue.length !== yPred.length) throw new Error(`metrics: ${yTrue.length} labels but ${yPred.length} predictions`);
  const cm = Array.from({ length: numClasses }, () => new Array<number>(numClasses).fill(0));
  for (let i = 0; i < yTrue.length; i++) {
    const t = yTrue[i];
    const p = yPred[i];
    if (!(t >= 0 && t < numClasses && p >= 0 && p < numClasses)) throw new Error(`metrics: class id out of range at ${i}: true ${t}, predicted ${p}`);
    cm[t][p]++;
  }
  return cm;
}

export function computeMetrics(yTrue: ArrayLike<number>, yPred: ArrayLike<number>, labels: readonly string[]): Metrics {
  const c = labels.length;
  const cm = confusionMatrix(yTrue, yPred, c);
  const n = yTrue.length;
  const support = cm.map((row) => row.reduce((a, b) => a + b, 0));
  const predicted = cm[0] ? cm[0].map((_, j) => cm.reduce((a, row) => a + row[j], 0)) : [];
  const perClass: ClassMetrics[] = labels.map((label, k) => {
    const tp = cm[k][k];
    const fp = predicted[k] - tp;
    const fn = support[k] - tp;
    const precision = tp + fp > 0 ? tp / (tp + fp) : 0;
    const recall = tp + fn > 0 ? tp / (tp + fn) : 0;
    const f1 = 2 * tp + fp + fn > 0 ? (2 * tp) / (2 * tp + fp + fn) : 0;
    return { label, precision, recall, f1, support: support[k] };
  });
  const trace = cm.reduce((a, row, k) => a + row[k], 0);
  const inTrue = perClass.filter((m) => m.support > 0);
  const present = perClass.filter((m, k) => m.support > 0 || predicted[k] > 0);
  const mean = (xs: number[]) => (xs.length > 0 ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);
  return {
    n,
    accuracy: n > 0 ? trace / n : 0,
    unweighted_accuracy: mean(inTrue.map((m) => m.recall)),
    macro_f1: mean(present.map((m) => m.f1)),
    weighted_f1: n > 0 ? perClass.reduce((a, m) => a + m.f1 * m.support, 0) / n : 0,
    per_class: perClass,
    confusion: cm,
  };
}

/** Index of the largest value in each row of a row-major [n, c] matrix (first one on ties, as numpy's argmax). */
export function argmaxRows(logits: ArrayLike<number>, n: number, c: number): Int32Array {
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    let bv = logits[i * c];
    for (let j = 1; j < c; j++) {
      const v = logits[i * c + j];
      if (v > bv) {
        bv = v;
        best = j;
      }
    }
    out[i] = best;
  }
  return out;
}

/** Mean cross-entropy of softmax(logits) against integer labels (torch's CrossEntropyLoss), in float64. */
export function crossEntropy(logits: ArrayLike<number>, y: ArrayLike<number>, c: number): number {
  const n = y.length;
  let total = 0;
  for (let i = 0; i < n; i++) {
    let m = -Infinity;
    for (let j = 0; j < c; j++) m = Math.max(m, logits[i * c + j]);
    let s = 0;
    for (let j = 0; j < c; j++) s += Math.exp(logits[i * c + j] - m);
    total += m + Math.log(s) - logits[i * c + y[i]];
  }
  return n > 0 ? total / n : NaN;
}

/** Row-wise softmax of a row-major [n, c] matrix. */
export function softmaxRows(logits: ArrayLike<number>, n: number, c: number): Float64Array {
  const out = new Float64Array(n * c);
  for (let i = 0; i < n; i++) {
    let m = -Infinity;
    for (let j = 0; j < c; j++) m = Math.max(m, logits[i * c + j]);
    let s = 0;
    for (let j = 0; j < c; j++) s += out[i * c + j] = Math.exp(logits[i * c + j] - m);
    for (let j = 0; j < c; j++) out[i * c + j] /= s;
  }
  return out;
}
