/**
 * The run directory: what `emofeat train` writes and `emofeat runs summarize` / `emofeat predict` read.
 *
 *   config.json        everything needed to repeat the run (index and store hashes, settings, seeds, folds)
 *   metrics.json       labels; train/val/test metrics (means over seeds), test_std, per-seed (and per-fold) results
 *   epochs.csv         per seed/fold/epoch: train loss, val loss and val metrics, which epoch was tested
 *   head.onnx          the trained head (inputs named after the stores -> logits, probs); see --export-head
 *   labels.json        class names in output order and the head's inputs
 *   stores/NAME.meta.json  the feature stores' meta.json, so prediction can rebuild their encoders
 *   predictions.csv    per seed/fold/test row: utter_id,split,seed,fold,label,pred (class names)
 *   confusion.svg/png, curves.svg/png  plots (PNG when @resvg/resvg-js is available)
 *   beta.csv, beta.svg/png  gated fusion heads: beta per utterance (split, seed, fold), distributions per class
 */
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { EmofeatError } from "../errors.js";
import type { StoreMeta } from "../store/meta.js";
import { intField, numField, readCsvRecords } from "../util/csv.js";
import { exists } from "../util/fs.js";
import type { ScalarStd, SplitMetrics } from "./aggregate.js";
import type { BetaSummary } from "./beta.js";
import type { JoinReport } from "./data.js";
import type { EpochRecord } from "./engine.js";
import type { HeadArch, HeadName, TrainSettings } from "./heads.js";
import type { Metrics } from "./metrics.js";

export const RUN_FORMAT = "emofeat.run";
export const RUN_FORMAT_VERSION = 1;

export const RUN_FILES = {
  config: "config.json",
  metrics: "metrics.json",
  epochs: "epochs.csv",
  predictions: "predictions.csv",
  head: "head.onnx",
  labels: "labels.json",
  stores: "stores",
  confusionSvg: "confusion.svg",
  confusionPng: "confusion.png",
  curvesSvg: "curves.svg",
  curvesPng: "curves.png",
  betaCsv: "beta.csv",
  betaSvg: "beta.svg",
  betaPng: "beta.png",
} as const;

export interface RunStoreRecord {
  name: string;
  /** Absolute folder at training time. */
  dir: string;
  modality: string;
  model_id: string;
  /** Absent for weight-free builtin features (no model file). */
  model_sha256?: string;
  pooling: string;
  max_len?: number;
  sr?: number;
  max_seconds?: number;
  d: number;
  /** Layer stores: the hidden-state indices used (a selection of the store's meta.layers). */
  layers?: number[];
  n: number;
  fingerprint: string;
  embeddings_sha256: string;
}

export interface RunConfig {
  format: typeof RUN_FORMAT;
  format_version: number;
  tool: { name: "emofeat"; version: string };
  created: string;
  /** The command line that made the run, when it came from the CLI. */
  command: string[] | null;
  index: { path: string; sha256: string; rows: number };
  features: RunStoreRecord[];
  head: HeadName;
  arch: HeadArch;
  settings: TrainSettings;
  classes: { spec: string | null; labels: string[]; map: Record<string, string> };
  protocol: {
    kind: "split" | "session-folds";
    fold_val?: "stratified" | "session";
    folds: { name: string; train: number; val: number; test: number; val_source: string }[];
  };
  seeds: number[];
  threads: number;
  join: JoinReport;
  /** A run of one fold (`train --fold K`): which. */
  fold?: { index: number; name: string };
  /** A run assembled by `runs merge` from this many fold runs. */
  merged_folds?: number;
  /** Splits too small or missing classes (also printed by train). */
  warnings?: string[];
  /** sha256 of the files predict reads (head.onnx, labels.json, stores/NAME.meta.json), as written. */
  files?: Record<string, string>;
  /**
   * Head export: which head is in head.onnx (method first-seed | refit | best-fold; its seed, tested epoch or
   * refit epoch count, fold and validation macro-F1 for best-fold, rows for refit), or why there is none.
   */
  export:
    | { file: string; method?: string; seed: number; selected_epoch: number; fold?: string; val_macro_f1?: number; rows?: number; note?: string }
    | { file: null; reason: string };
  /** Per-layer runs: the layers probed, and each layer's run directory (relative). */
  per_layer?: { layers: number[]; runs: string[] };
}

export interface SeedResult extends SplitMetrics {
  seed: number;
  /** Cross-validation: one entry per fold (these metrics are then combined over folds). */
  folds?: (SplitMetrics & { fold: string; selected_epoch: number })[];
  selected_epoch?: number;
  seconds: number;
}

export interface RunMetrics {
  labels: string[];
  head: HeadName;
  inputs: string[];
  protocol: string;
  selection: string;
  train: Metrics;
  val: Metrics;
  test: Metrics;
  train_std: ScalarStd;
  val_std: ScalarStd;
  test_std: ScalarStd;
  seeds: SeedResult[];
  /** weighted-layers runs: the softmax-normalised layer weights, mean and std over seeds x folds. */
  layer_weights?: { layers: number[]; mean: number[]; std: number[] };
  /**
   * Per-layer runs (`--per-layer`): one probe per layer, test scores mean and std over seeds; the top-level
   * train/val/test metrics are those of `best_layer` (chosen by validation macro-F1, never by test scores).
   */
  per_layer?: PerLayerEntry[];
  best_layer?: { layer: number; by: string; run: string };
  /** Gated fusion heads: mean beta per true class and split. */
  beta?: BetaSummary;
}

type Scores3 = { accuracy: number; unweighted_accuracy: number; macro_f1: number };

export interface PerLayerEntry {
  layer: number;
  test: Scores3;
  test_std: Scores3;
  /** Validation scores (the best layer is chosen on them); optional in CONTRACTS' shape. */
  val?: Scores3;
  /** The layer's own run directory, relative to the per-layer run. */
  run?: string;
}

export interface HeadLabels {
  labels: string[];
  head: HeadName;
  /** Head inputs in the model's order: ONNX input name = store name. */
  /**
   * `dim` = values per row the head takes. Inputs from layer stores list the hidden-state indices in `layers`:
   * the encoder must give those layers, and the head takes them as [N, layers.length * D] (row-major [N, L, D]).
   * Inputs from sequence stores (`sequence`) take [N, T, dim] plus a mask `NAME.mask` [N, T].
   */
  inputs: { name: string; dim: number; modality: string; model_id: string; layers?: number[]; sequence?: boolean }[];
  /** beta: gated heads' mean gate value [N]; attention: `attn.<module>` maps [N, Tq, Tk] of sequence heads. */
  outputs: { logits: "logits"; probs: "probs"; beta?: "beta"; attention?: string[] };
  seed: number;
  selected_epoch: number;
}

/**
 * Reads a file of run `dir`. With the run's config, a file whose sha256 config.json records must still have
 * it: a head or store meta edited after training would silently give other predictions.
 */
export async function readRunFile(dir: string, rel: string, what: string, config?: RunConfig): Promise<Buffer> {
  const file = path.join(dir, rel);
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch {
    throw new EmofeatError(`${file}: missing (${what})`);
  }
  const want = config?.files?.[rel];
  if (want !== undefined) {
    const got = createHash("sha256").update(bytes).digest("hex");
    if (got !== want)
      throw new EmofeatError(
        `${file} was changed after training (sha256 ${got.slice(0, 12)}..., config.json records ${want.slice(0, 12)}...); ` +
          `predictions would not be the trained run's. Restore the file or train the run again.`,
      );
  }
  return bytes;
}

async function readJson<T>(file: string, what: string, bytes?: Buffer): Promise<T> {
  let text: string;
  try {
    text = bytes ? bytes.toString("utf8") : await readFile(file, "utf8");
  } catch {
    throw new EmofeatError(`${file}: missing (${what})`);
  }
  try {
    return JSON.parse(text) as T;
  } catch (err) {
    throw new EmofeatError(`${file}: not valid JSON: ${(err as Error).message}`);
  }
}

/** A finished run (metrics.json is written last). */
export async function isRunDir(dir: string): Promise<boolean> {
  return exists(path.join(dir, RUN_FILES.metrics));
}

/** A folder emofeat train made, finished or not: its config.json says so. */
export async function isRunFolder(dir: string): Promise<boolean> {
  try {
    return (JSON.parse(await readFile(path.join(dir, RUN_FILES.config), "utf8")) as { format?: string }).format === RUN_FORMAT;
  } catch {
    return false;
  }
}

export async function readRunConfig(dir: string): Promise<RunConfig> {
  const c = await readJson<RunConfig>(path.join(dir, RUN_FILES.config), "not an emofeat run directory?");
  if (c.format !== RUN_FORMAT) throw new EmofeatError(`${dir}/config.json: format "${c.format}", expected "${RUN_FORMAT}"`);
  return c;
}

export async function readRunMetrics(dir: string): Promise<RunMetrics> {
  return readJson<RunMetrics>(path.join(dir, RUN_FILES.metrics), "not an emofeat run directory?");
}

/** labels.json; with `config`, checked against the sha256 it records. */
export async function readHeadLabels(dir: string, config?: RunConfig): Promise<HeadLabels> {
  const what = "the run has no exported head";
  return readJson<HeadLabels>(path.join(dir, RUN_FILES.labels), what, await readRunFile(dir, RUN_FILES.labels, what, config));
}

/** stores/NAME.meta.json; with `config`, checked against the sha256 it records. */
export async function readRunStoreMeta(dir: string, name: string, config?: RunConfig): Promise<StoreMeta> {
  const rel = `${RUN_FILES.stores}/${name}.meta.json`;
  const what = `the meta.json of store "${name}"`;
  return readJson<StoreMeta>(path.join(dir, rel), what, await readRunFile(dir, rel, what, config));
}

/** Columns of predictions.csv: one line per (seed, fold, test row); `fold` is empty without folds. */
export const PREDICTION_COLUMNS = ["utter_id", "split", "seed", "fold", "label", "pred"] as const;

export interface PredictionRow {
  utter_id: string;
  split: string;
  seed: number;
  fold: string;
  /** True class name (after --classes merging). */
  label: string;
  /** Predicted class name. */
  pred: string;
}

/** predictions.csv, or null for runs made before it existed. */
export async function readRunPredictions(dir: string): Promise<PredictionRow[] | null> {
  const file = path.join(dir, RUN_FILES.predictions);
  if (!(await exists(file))) return null;
  return (await readCsvRecords(file, PREDICTION_COLUMNS)).map((r, i) => ({
    utter_id: r.utter_id,
    split: r.split,
    seed: intField(file, i + 2, "seed", r.seed),
    fold: r.fold,
    label: r.label,
    pred: r.pred,
  }));
}

export interface EpochRow extends EpochRecord {
  seed: number;
  fold: string;
  /** This epoch's parameters were the ones tested. */
  tested: boolean;
}

/** epochs.csv (empty cells, e.g. a validation loss without validation rows, read as NaN). */
export async function readRunEpochs(dir: string): Promise<EpochRow[]> {
  const file = path.join(dir, RUN_FILES.epochs);
  if (!(await exists(file))) throw new EmofeatError(`${file}: missing (not an emofeat run directory?)`);
  return (await readCsvRecords(file, ["seed", "fold", "epoch", "train_loss", "tested"])).map((r, i) => {
    const num = (k: string) => numField(file, i + 2, k, r[k]);
    return {
      seed: intField(file, i + 2, "seed", r.seed),
      fold: r.fold,
      epoch: intField(file, i + 2, "epoch", r.epoch),
      train_loss: num("train_loss"),
      val_loss: num("val_loss"),
      val_accuracy: num("val_accuracy"),
      val_unweighted_accuracy: num("val_unweighted_accuracy"),
      val_macro_f1: num("val_macro_f1"),
      val_weighted_f1: num("val_weighted_f1"),
      seconds: num("seconds"),
      tested: r.tested === "1",
    };
  });
}

/** Columns of beta.csv (gated fusion runs): the gate value per (seed, fold, utterance) of the selected checkpoint. */
export const BETA_COLUMNS = ["utter_id", "split", "seed", "fold", "label", "beta"] as const;

export interface BetaRow {
  utter_id: string;
  split: string;
  seed: number;
  fold: string;
  label: string;
  beta: number;
}

/** beta.csv, or null when the run has none (heads without a gate). */
export async function readRunBeta(dir: string): Promise<BetaRow[] | null> {
  const file = path.join(dir, RUN_FILES.betaCsv);
  if (!(await exists(file))) return null;
  return (await readCsvRecords(file, BETA_COLUMNS)).map((r, i) => ({
    utter_id: r.utter_id,
    split: r.split,
    seed: intField(file, i + 2, "seed", r.seed),
    fold: r.fold,
    label: r.label,
    beta: numField(file, i + 2, "beta", r.beta),
  }));
}
