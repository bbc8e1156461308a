/**
 * `emofeat/metrics`: WA, UA, F1s and confusion matrices, their means over seeds and folds, and reading run
 * directories' results, without loading any model runtime.
 */
export { computeMetrics, confusionMatrix, argmaxRows, softmaxRows, crossEntropy, type Metrics, type ClassMetrics } from "../train/metrics.js";
export { combine, combineSplits, scalarStd, sampleStd, SCALARS, type Scalar, type ScalarStd, type SplitMetrics } from "../train/aggregate.js";
export { summarizeRuns, formatSummary, type SummaryRow, type SummaryFormat } from "../train/summarize.js";
export { readRunConfig, readRunMetrics, readHeadLabels, isRunDir, RUN_FILES, type RunConfig, type RunMetrics, type HeadLabels } from "../train/run-dir.js";
