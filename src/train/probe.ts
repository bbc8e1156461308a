/**
 * `trainProbe()`: feature stores + index -> a run directory (the library behind `emofeat train`).
 */
import { createHash } from "node:crypto";
import { mkdir, rename, rm, rmdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { stringify } from "csv-stringify/sync";
import { defaultThreads } from "../backends/onnx.js";
import { EmofeatError, InterruptedError, UsageError } from "../errors.js";
import { exists, tmpNameFor } from "../util/fs.js";
import { canonicalJson } from "../util/json.js";
import { acquireLock, LOCK_FILE } from "../util/lock.js";
import { inspectOutDir, makeDir } from "../util/out.js";
import { VERSION } from "../version.js";
import { combineSplits, scalarStd, type SplitMetrics } from "./aggregate.js";
import { betaCsv, summarizeBeta, type BetaRow } from "./beta.js";
import { describeJoin, loadProbeData, parseFeatureSpecs, type ProbeData } from "./data.js";
import { Evaluator, trainHead, type Dataset, type EpochRecord, type Params } from "./engine.js";
import { buildInferenceModel, checkArch, headSettings, type HeadArch, type HeadName, type TrainSettings } from "./heads.js";
import { isFusionHead, resolveFusionArch } from "./heads/fusion.js";
import { headModule, type HeadPlot } from "./heads/registry.js";
import type { LayerChoice } from "./layer-select.js";
import { encodeModel } from "./onnx/proto.js";
import { confusionSvg, curvesSvg, renderPng, type CurveSeries } from "./plots.js";
import { betaSvg } from "./plots-fusion.js";
import {
  RUN_FILES,
  readRunConfig,
  readRunMetrics,
  RUN_FORMAT,
  RUN_FORMAT_VERSION,
  isRunFolder,
  PREDICTION_COLUMNS,
  type HeadLabels,
  type PredictionRow,
  type RunConfig,
  type RunMetrics,
  type SeedResult,
} from "./run-dir.js";
import { PER_LAYER_FILES } from "./per-layer.js";
import type { SequenceStoreOpener } from "./sequence-stores.js";
import { planFolds, splitWarnings, type Fold, type Protocol } from "./splits.js";
import { checkFold, decodeParams, encodeParams, FOLD_FILE, FOLD_FORMAT, FOLDS_DIR, foldDir, requestedFold, readFoldRecord, type FoldOptions, type FoldRecord, type FoldUnit, type FoldUnits } from "./folds.js";

export interface TrainProbeOptions {
  csv: string;
  /** `audio=DIR,text=DIR` or parsed specs. */
  features: string | { name: string | null; dir: string }[];
  head: HeadName;
  out: string;
  classes?: string;
  /** Layers to use from layer stores (`--layers`: all, last, or a list such as 0,4-8,12; default all). */
  layers?: string | LayerChoice;
  protocol?: Protocol;
  /** Number of seeds (default 1), starting at `seed` (default 0). */
  seeds?: number;
  seed?: number;
  /** Overrides of the head's reference settings. */
  settings?: Partial<TrainSettings>;
  threads?: number;
  overwrite?: boolean;
  /**
   * Which head goes to head.onnx: "first-seed" (the first seed's; the default without folds), "refit" (trained
   * once more on every non-test row for the lower median of the tested epochs), "best-fold" (with folds: the first
   * seed's fold with the best validation macro-F1), "none" (the default with folds).
   */
  exportHead?: ExportHead;
  /** Remove the lock of another `train` into `out` that is known to be gone. */
  forceUnlock?: boolean;
  /** Opens sequence stores (pooling none); the store's reader by default (tests pass an in-memory one). */
  openSequenceStore?: SequenceStoreOpener;
  /** Stops training at the next epoch; nothing is written to `out`. */
  signal?: AbortSignal;
  /** Progress and warnings (the CLI sends them to stderr). */
  log?: (line: string) => void;
  /** Per-epoch progress. */
  verbose?: boolean;
  command?: string[];
  /**
   * Cross-validation: train only fold K (0-based, in the folds' order; "auto": the Slurm array task or
   * Kubernetes pod index) into `<out>/folds/K/`; `emofeat runs merge` assembles the run (train/folds.ts).
   */
  fold?: number | "auto";
  /** `runs merge`: every (seed, fold) from the fold records instead of training it (train/folds.ts). */
  fromFolds?: FoldUnits;
}

export const EXPORT_HEADS = ["first-seed", "refit", "best-fold", "none"] as const;
export type ExportHead = (typeof EXPORT_HEADS)[number];

interface Exported {
  params: Params;
  seed: number;
  selectedEpoch: number;
  method: ExportHead;
  fold?: string;
  valMacroF1?: number;
  rows?: number;
}

export interface TrainProbeResult {
  runDir: string;
  config: RunConfig;
  metrics: RunMetrics;
  /** One line: the run's test scores. */
  summary: string;
}

function subset(data: ProbeData, idx: number[]): Dataset {
  const x = data.inputs.map((inp, k) => {
    const seq = data.sequences[k];
    if (seq) return { source: seq.source, rows: Int32Array.from(idx, (r) => seq.rows[r]) };
    const d = inp.dim;
    const out = new Float32Array(idx.length * d);
    idx.forEach((r, i) => out.set(data.x[k].subarray(r * d, r * d + d), i * d));
    return out;
  });
  return { x, y: Int32Array.from(idx, (r) => data.rows[r].cls), n: idx.length };
}

function checkSettings(s: TrainSettings): void {
  const posInt = (v: number, flag: string) => {
    if (!(Number.isInteger(v) && v >= 1)) throw new UsageError(`${flag} must be a positive integer, got ${v}`);
  };
  posInt(s.epochs, "--epochs");
  posInt(s.batchSize, "--batch-size");
  if (!(s.lr > 0 && Number.isFinite(s.lr))) throw new UsageError(`--lr must be a positive number, got ${s.lr}`);
  if (!(s.weightDecay >= 0 && Number.isFinite(s.weightDecay))) throw new UsageError(`--weight-decay must be >= 0, got ${s.weightDecay}`);
}

const listEntries = (entries: string[]) => [...entries].sort().slice(0, 5).join(", ") + (entries.length > 5 ? `, ... (${entries.length} entries)` : "");

/**
 * Files and folders `emofeat train` (also --fold, --per-layer, runs merge) writes at the top of a run folder.
 * Built on first use: per-layer.ts imports this module.
 */
let runEntryNames: Set<string> | null = null;

function isRunEntry(name: string): boolean {
  runEntryNames ??= new Set<string>([
    ...Object.values(RUN_FILES),
    FOLDS_DIR,
    FOLD_FILE,
    PER_LAYER_FILES.dir,
    PER_LAYER_FILES.state,
    ...["layer_weights", PER_LAYER_FILES.plot].flatMap((p) => [`${p}.svg`, `${p}.png`]),
  ]);
  return runEntryNames.has(name);
}

/**
 * Checks --out (see util/out.ts): nothing there, an empty folder, or (with --overwrite) a folder emofeat
 * train made. Anything else is refused, --overwrite or not: emofeat never replaces what it did not create.
 */
export async function checkRunOut(out: string, overwrite: boolean, keep: readonly string[] = []): Promise<void> {
  const st = await inspectOutDir(out);
  if (!st.exists) return;
  // `keep`: entries a run may have beside it (folds/ of a run merged from its folds).
  const entries = st.entries.filter((e) => e !== LOCK_FILE && !keep.includes(e));
  if (entries.length === 0) return;
  if (await isRunFolder(out)) {
    if (!overwrite) throw new EmofeatError(`--out ${out} already holds a run; pass --overwrite to replace it, or choose another --out`);
    // Replacing the run removes the folder: files someone added to it (notes, their own plots) would go too.
    const foreign = entries.filter((e) => !isRunEntry(e));
    if (foreign.length > 0)
      throw new EmofeatError(
        `--out ${out} holds a run and also ${listEntries(foreign)}, which emofeat did not write; --overwrite replaces the whole ` +
          `folder, so it refuses: move ${foreign.length === 1 ? "it" : "them"} out of the folder, or choose another --out`,
      );
    return;
  }
  throw new EmofeatError(
    `--out ${out} is not empty and is not an emofeat run (no config.json of an emofeat run; it holds ${listEntries(entries)}). ` +
      `emofeat only replaces folders it made${overwrite ? ", --overwrite included" : ""}: choose another --out`,
  );
}

/** Older name of checkRunOut, for callers that only check. */
export const prepareOut = checkRunOut;

/**
 * Puts the finished run folder `tmp` at `runDir`, which was checked again just before (empty, or a run that
 * `overwrite` may replace): the old folder (with this process's lock) is moved aside, `tmp` renamed in, the old
 * one removed. A run folder is never half old, half new.
 */
export async function swapRunInto(tmp: string, runDir: string, overwrite: boolean): Promise<void> {
  await checkRunOut(runDir, overwrite, [FOLDS_DIR]);
  const st = await inspectOutDir(runDir);
  if (!st.exists) {
    await makeDir(path.dirname(runDir));
    await rename(tmp, runDir);
    return;
  }
  const old = `${tmp}-old`;
  await rename(runDir, old);
  try {
    await rename(tmp, runDir);
  } catch (err) {
    await rename(old, runDir).catch(() => {});
    throw err;
  }
  await rm(old, { recursive: true, force: true }); // the replaced run (or empty folder) and this process's lock
}

/** Runs `work` holding --out's lock, in a folder made for it (removed again, if still empty, when work fails). */
export async function withRunOut<T>(
  o: Pick<TrainProbeOptions, "out" | "overwrite" | "forceUnlock" | "log">,
  work: () => Promise<T>,
  keep: readonly string[] = [],
): Promise<T> {
  const log = o.log ?? (() => {});
  const overwrite = o.overwrite ?? false;
  await checkRunOut(o.out, overwrite, keep);
  const created = await makeDir(o.out);
  const lock = await acquireLock(o.out, { forceUnlock: o.forceUnlock, log: (line) => log(`warning: ${line}`) });
  try {
    await checkRunOut(o.out, overwrite, keep); // again, holding the lock: another writer may have finished meanwhile
    return await work();
  } finally {
    await lock.release();
    // A run that did not finish leaves no trace: remove the folders made for it (only if still empty).
    for (const d of created.reverse()) await rmdir(d).catch(() => {});
  }
}

const pct = (x: number) => (100 * x).toFixed(2);

export async function trainProbe(o: TrainProbeOptions): Promise<TrainProbeResult> {
  const log = o.log ?? (() => {});
  const settings: TrainSettings = headSettings(o.head, o.settings);
  checkSettings(settings);
  const nSeeds = o.seeds ?? 1;
  if (!(Number.isInteger(nSeeds) && nSeeds >= 1)) throw new UsageError(`--seeds must be a positive integer, got ${nSeeds}`);
  const seed0 = o.seed ?? 0;
  if (!Number.isInteger(seed0) || seed0 < 0) throw new UsageError(`--seed must be a non-negative integer, got ${seed0}`);
  const seeds = Array.from({ length: nSeeds }, (_, i) => seed0 + i);
  const protocol = o.protocol ?? { kind: "split" };
  const exportHead: ExportHead = o.exportHead ?? (protocol.kind === "split" ? "first-seed" : "none");
  if (!(EXPORT_HEADS as readonly string[]).includes(exportHead))
    throw new UsageError(`--export-head "${exportHead}": choose one of ${EXPORT_HEADS.join(", ")}`);
  if (exportHead === "best-fold" && protocol.kind === "split")
    throw new UsageError("--export-head best-fold needs cross-validation (--folds session); without folds use first-seed or refit");
  const threads = o.threads ?? defaultThreads();
  const overwrite = o.overwrite ?? false;
  if (o.fold !== undefined && protocol.kind !== "session-folds") throw new UsageError("--fold trains one cross-validation fold: it needs --folds session");
  const foldIndex = o.fold !== undefined ? requestedFold(o.fold) : null;
  // One fold goes to <out>/folds/K/ (locked on its own, so the folds run at once); a run merged from its
  // folds is written beside them.
  const target = foldIndex !== null ? foldDir(o.out, foldIndex) : o.out;
  const foldOptions: FoldOptions = {
    csv: path.resolve(o.csv),
    features: (typeof o.features === "string" ? parseFeatureSpecs(o.features) : o.features).map((f) => ({ name: f.name, dir: path.resolve(f.dir) })),
    head: o.head,
    classes: o.classes ?? null,
    layers: o.layers ?? null,
    protocol,
    seeds,
    settings: o.settings ?? {},
    threads: o.threads ?? null,
    export_head: exportHead,
  };
  if (foldIndex !== null && !overwrite) {
    // A task the scheduler reruns after it finished: the same fold with the same options is done already.
    const done = await readFoldRecord(target);
    if (done && canonicalJson(done.options) === canonicalJson(foldOptions)) {
      const [config, metrics] = await Promise.all([readRunConfig(target), readRunMetrics(target)]);
      return { runDir: path.resolve(target), config, metrics, summary: `${target}: fold ${foldIndex} (${done.fold.name}) is already trained with these options` };
    }
  }
  const r: Resolved = { settings, seeds, protocol, threads, overwrite, exportHead, target, foldIndex, foldOptions };
  return withRunOut({ ...o, out: target }, () => trainLocked(o, r), o.fromFolds ? [FOLDS_DIR] : []);
}

interface Resolved {
  settings: TrainSettings;
  seeds: number[];
  protocol: Protocol;
  threads: number;
  overwrite: boolean;
  exportHead: ExportHead;
  /** The folder written: --out, or <out>/folds/K/ with --fold. */
  target: string;
  foldIndex: number | null;
  foldOptions: FoldOptions;
}

async function trainLocked(o: TrainProbeOptions, r: Resolved): Promise<TrainProbeResult> {
  const data = await loadProbeData({ csv: o.csv, features: o.features, classes: o.classes, layers: o.layers, openSequenceStore: o.openSequenceStore });
  try {
    return await trainOn(o, r, data);
  } finally {
    // Sequence stores are read until the last evaluation (and a refit).
    await data.close();
  }
}

function headArch(head: HeadName, settings: TrainSettings, data: ProbeData): HeadArch {
  const arch: HeadArch = {
    head,
    inputs: data.inputs,
    numClasses: data.classes.labels.length,
    hidden: settings.hidden,
    dropoutIn: settings.dropoutIn,
    dropoutHidden: settings.dropoutHidden,
    ...(settings.base !== undefined ? { base: settings.base, layerNorm: settings.layerNorm ?? false } : {}),
  };
  if (head === "linear" || head === "concat-linear") arch.hidden = 0;
  const fusionFlags = Object.entries(settings.fusion ?? {}).filter(([, v]) => v !== undefined);
  if (!isFusionHead(head) && fusionFlags.length > 0)
    throw new UsageError(`${fusionFlags.map(([k]) => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`).join(", ")} appl${fusionFlags.length > 1 ? "y" : "ies"} to the fusion heads (beta-gate, fusion, fusion-decoder), not --head ${head}`);
  if (isFusionHead(head)) {
    if (settings.dropoutIn !== settings.dropoutHidden) throw new UsageError(`--head ${head} takes one dropout probability (--dropout p)`);
    arch.hidden = 0;
    const inputs = data.inputs.map((inp, k) => ({ ...inp, sequence: inp.sequence === true, modality: data.stores[k].meta.modality }));
    arch.fusion = resolveFusionArch(head, inputs, settings.fusion ?? {}, settings.dropoutIn);
  }
  checkArch(arch);
  return arch;
}


async function trainOn(o: TrainProbeOptions, r: Resolved, data: ProbeData): Promise<TrainProbeResult> {
  const { settings, seeds, protocol, threads, foldIndex } = r;
  const nSeeds = seeds.length;
  const log = o.log ?? (() => {});
  for (const line of describeJoin(data.report)) log(`warning: ${line}`);
  const arch = headArch(o.head, settings, data);
  const folds = planFolds(data.rows, protocol);
  const labels = data.classes.labels;
  const warnings = splitWarnings(folds, data.rows, labels);
  for (const w of warnings) log(`warning: ${w}`);
  if (foldIndex !== null) checkFold(o.fold!, foldIndex, folds);
  const dataRecord: FoldRecord["data"] = {
    index_sha256: data.index.sha256,
    stores: data.stores.map((s) => ({ name: s.name, embeddings_sha256: s.sha256 })),
    folds: folds.map((f) => ({ name: f.name, train: f.train.length, val: f.val.length, test: f.test.length })),
  };
  if (o.fromFolds && canonicalJson(o.fromFolds.records[0].data) !== canonicalJson(dataRecord))
    throw new EmofeatError(`the index, the stores or the folds changed since the folds were trained (folds/*/${FOLD_FILE} records them); retrain the folds`);
  const active = foldIndex !== null ? [folds[foldIndex]] : folds;
  const units: FoldUnit[] = [];
  // A fold run exports no head of its own; the merge exports what the options ask for, from the units'
  // parameters: every unit's for heads that report on them (weighted-layers), the first seed's for first-seed
  // and best-fold.
  const exportHead: ExportHead = foldIndex !== null ? "none" : r.exportHead;
  const keepParams = (seed: number) =>
    headModule(o.head)?.report !== undefined || (seed === seeds[0] && (r.exportHead === "first-seed" || r.exportHead === "best-fold"));

  const seedResults: SeedResult[] = [];
  const epochRows: (string | number)[][] = [];
  const predictionRows: PredictionRow[] = [];
  const betaRows: BetaRow[] = [];
  const curves: CurveSeries[] = [];
  let exported: Exported | undefined;
  let bestFold: Exported | undefined;
  const testedEpochs: number[] = [];
  const trained: Params[] = [];
  const evaluator = await Evaluator.create(arch, threads);
  try {
    for (const seed of seeds) {
      const t0 = performance.now();
      let seconds = 0;
      const perFold: (SplitMetrics & { fold: string; selected_epoch: number })[] = [];
      for (const fold of active) {
        const where = folds.length > 1 ? `seed ${seed}, fold ${fold.name}` : `seed ${seed}`;
        const done = o.fromFolds?.get(fold.name, seed);
        const { unit: u, params } = done ? { unit: done, params: done.params ? decodeParams(done.params) : null } : await trainUnit(fold, seed, where);
        units.push(params && keepParams(seed) ? { ...u, params: encodeParams(params) } : u);
        seconds += u.seconds;
        const m = u.metrics;
        predictionRows.push(...u.predictions);
        if (u.beta) betaRows.push(...u.beta);
        perFold.push({ ...m, fold: fold.name, selected_epoch: u.selected_epoch });
        if (params) trained.push(params);
        for (const e of u.epochs)
          epochRows.push([
            seed,
            fold.name,
            e.epoch,
            e.train_loss,
            e.val_loss,
            e.val_accuracy,
            e.val_unweighted_accuracy,
            e.val_macro_f1,
            e.val_weighted_f1,
            Number(e.seconds.toFixed(3)),
            e.epoch === u.selected_epoch ? 1 : 0,
          ]);
        curves.push({ name: where, epochs: u.epochs, selectedEpoch: u.selected_epoch });
        testedEpochs.push(u.selected_epoch);
        if (params && !exported && exportHead === "first-seed") exported = { params, seed, selectedEpoch: u.selected_epoch, method: "first-seed" };
        // best-fold: the first seed's fold whose tested checkpoint scores best on its validation rows (never on test).
        if (params && exportHead === "best-fold" && seed === seeds[0] && (!bestFold || m.val.macro_f1 > bestFold.valMacroF1!))
          bestFold = { params, seed, selectedEpoch: u.selected_epoch, method: "best-fold", fold: fold.name, valMacroF1: m.val.macro_f1 };
        if (!done)
          log(`${where}: epoch ${u.selected_epoch} tested; test acc ${pct(m.test.accuracy)} UA ${pct(m.test.unweighted_accuracy)} macro-F1 ${pct(m.test.macro_f1)}`);
      }
      const combined = combineSplits(perFold, "sum");
      seedResults.push({
        seed,
        ...combined,
        ...(folds.length > 1 ? { folds: perFold } : { selected_epoch: perFold[0].selected_epoch }),
        seconds: Number((o.fromFolds ? seconds : (performance.now() - t0) / 1000).toFixed(3)),
      });
    }
  } finally {
    await evaluator.release();
  }

  /** Trains one seed on one fold. */
  async function trainUnit(fold: Fold, seed: number, where: string): Promise<{ unit: FoldUnit; params: Params }> {
    const t0 = performance.now();
    const [train, val, test] = [fold.train, fold.val, fold.test].map((idx) => subset(data, idx));
    const res = await trainHead(arch, train, val, {
      ...settings,
      seed,
      labels,
      threads,
      onEpoch: (e: EpochRecord) => {
        if (o.verbose)
          log(`  ${where} epoch ${e.epoch}/${settings.epochs}: train loss ${e.train_loss.toFixed(4)}, val loss ${e.val_loss.toFixed(4)}, val macro-F1 ${pct(e.val_macro_f1)} (${e.seconds.toFixed(2)} s)`);
        if (o.signal?.aborted) throw new InterruptedError(`interrupted at ${where}, epoch ${e.epoch}; nothing was written to ${r.target}`);
      },
    });
    const evals = {
      train: await evaluator.evaluate(res.params, train, labels),
      val: await evaluator.evaluate(res.params, val, labels),
      test: await evaluator.evaluate(res.params, test, labels),
    };
    const testEval = evals.test;
    const m: SplitMetrics = { train: evals.train.metrics, val: evals.val.metrics, test: testEval.metrics };
    // Gated heads: the gate of every row of every split, from the tested checkpoint (kept in the unit, so runs
    // merged from folds have it too).
    const beta: BetaRow[] = [];
    for (const split of ["train", "val", "test"] as const)
      evals[split].beta?.forEach((b, i) => {
        const row = data.rows[fold[split][i]];
        beta.push({ utter_id: row.utterId, split, seed, fold: folds.length > 1 ? fold.name : "", label: labels[row.cls], beta: b });
      });
    // The test predictions, row by row, so two runs can be compared on the same utterances (report).
    const testPred = testEval.pred;
    const predictions = fold.test.map((row, i) => ({
      utter_id: data.rows[row].utterId,
      split: "test",
      seed,
      fold: folds.length > 1 ? fold.name : "",
      label: labels[data.rows[row].cls],
      pred: labels[testPred[i]],
    }));
    const unit: FoldUnit = {
      seed,
      fold: fold.name,
      metrics: m,
      selected_epoch: res.selectedEpoch,
      epochs: res.epochs,
      predictions,
      ...(beta.length > 0 ? { beta } : {}),
      seconds: (performance.now() - t0) / 1000,
    };
    return { unit, params: res.params };
  }
  if (exportHead === "best-fold") exported = bestFold;
  if (exportHead === "refit") exported = await refit(o, data, arch, folds, testedEpochs, r, log);

  const mean = combineSplits(seedResults, "mean");
  const metrics: RunMetrics = {
    labels,
    head: o.head,
    inputs: data.inputs.map((i) => i.name),
    protocol: protocol.kind === "split" ? "split" : `session-folds (validation: ${protocol.val})`,
    selection: settings.select,
    train: mean.train,
    val: mean.val,
    test: mean.test,
    train_std: scalarStd(seedResults.map((s) => s.train)),
    val_std: scalarStd(seedResults.map((s) => s.val)),
    test_std: scalarStd(seedResults.map((s) => s.test)),
    seeds: seedResults,
    ...(betaRows.length > 0 ? { beta: summarizeBeta(betaRows, labels) } : {}),
  };
  const title = `${o.head} on ${data.inputs.map((i) => i.name).join("+")}`;
  const extra = headModule(o.head)?.report?.(arch, trained, title);
  if (extra) Object.assign(metrics, extra.metrics);

  const config: RunConfig = {
    format: RUN_FORMAT,
    format_version: RUN_FORMAT_VERSION,
    tool: { name: "emofeat", version: VERSION },
    created: new Date().toISOString(),
    command: o.command ?? null,
    index: { path: data.index.path, sha256: data.index.sha256, rows: data.index.utterances.length },
    features: data.stores.map((s) => ({
      name: s.name,
      dir: s.dir,
      modality: s.meta.modality,
      model_id: s.meta.model?.id,
      model_sha256: s.meta.model?.sha256,
      pooling: s.meta.pooling,
      ...(s.meta.max_len !== undefined ? { max_len: s.meta.max_len } : {}),
      ...(s.meta.sr !== undefined ? { sr: s.meta.sr } : {}),
      ...(s.meta.max_seconds !== undefined ? { max_seconds: s.meta.max_seconds } : {}),
      d: s.d,
      ...(s.layers ? { layers: s.layers } : {}),
      n: s.meta.n,
      fingerprint: s.meta.fingerprint,
      embeddings_sha256: s.sha256, // hashed from the bytes trained on (and equal to meta.json's, or loading failed)
    })),
    head: o.head,
    arch,
    settings,
    classes: { spec: data.classes.spec, labels, map: Object.fromEntries(data.classes.map) },
    protocol: {
      kind: protocol.kind,
      ...(protocol.kind === "session-folds" ? { fold_val: protocol.val } : {}),
      folds: folds.map((f: Fold) => ({ name: f.name, train: f.train.length, val: f.val.length, test: f.test.length, val_source: f.valSource })),
    },
    seeds,
    threads,
    join: data.report,
    warnings,
    ...(foldIndex !== null ? { fold: { index: foldIndex, name: folds[foldIndex].name } } : {}),
    ...(o.fromFolds ? { merged_folds: o.fromFolds.records.length } : {}),
    export: exported
      ? {
          file: RUN_FILES.head,
          method: exported.method,
          seed: exported.seed,
          selected_epoch: exported.selectedEpoch,
          ...(exported.fold !== undefined ? { fold: exported.fold, val_macro_f1: exported.valMacroF1 } : {}),
          ...(exported.rows !== undefined
            ? { rows: exported.rows, note: `trained on all ${exported.rows} non-test rows for ${exported.selectedEpoch} epochs (the lower median of the tested epochs); metrics.json is the estimate from the runs above, the refit head has no held-out score` }
            : {}),
        }
      : { file: null, reason: "cross-validation runs train one head per fold and export none by default; pass --export-head refit or best-fold" },
  };

  const runDir = path.resolve(r.target);
  const extraFiles: Record<string, string> = {};
  if (foldIndex !== null) {
    const record: FoldRecord = {
      format: FOLD_FORMAT,
      format_version: 1,
      fold: { index: foldIndex, name: folds[foldIndex].name, count: folds.length },
      options: r.foldOptions,
      command: o.command ?? null,
      data: dataRecord,
      units,
      created: config.created,
    };
    extraFiles[FOLD_FILE] = JSON.stringify(record) + "\n";
  }
  const plots = [...(extra?.plots ?? []), ...(betaRows.length > 0 ? [{ name: "beta", svg: betaSvg(betaRows, labels, `${title}: beta per true class`) }] : [])];
  await writeRun(runDir, r.overwrite, { config, metrics, epochRows, predictionRows, curves, data, arch, exported, betaRows, title, plots, extraFiles });

  const std = nSeeds > 1 ? ` (+- ${pct(metrics.test_std.accuracy)} / ${pct(metrics.test_std.unweighted_accuracy)} / ${pct(metrics.test_std.macro_f1)} over ${nSeeds} seeds)` : "";
  const summary =
    `${path.basename(runDir)}: ${o.head} on ${data.inputs.map((i) => i.name).join("+")}, ${labels.length} classes, ` +
    `${protocol.kind === "split" ? "split" : foldIndex !== null ? `fold ${foldIndex} (${folds[foldIndex].name}) of ${folds.length}-fold session CV` : `${folds.length}-fold session CV${o.fromFolds ? ", merged from its folds" : ""}`}: ` +
    `test acc ${pct(metrics.test.accuracy)} UA ${pct(metrics.test.unweighted_accuracy)} macro-F1 ${pct(metrics.test.macro_f1)}${std} -> ${r.target}`;
  return { runDir, config, metrics, summary };
}

/**
 * --export-head refit: one more head, the first seed, trained on every row no split tests (cross-validation:
 * every row; the split column: train + val) for the lower median of the tested epoch counts, no checkpoint choice.
 */
async function refit(o: TrainProbeOptions, data: ProbeData, arch: HeadArch, folds: Fold[], testedEpochs: number[], r: Resolved, log: (l: string) => void): Promise<Exported> {
  const tested = new Set(folds.length > 1 ? [] : folds[0].test);
  const rows = data.rows.map((_, i) => i).filter((i) => !tested.has(i));
  const sorted = testedEpochs.slice().sort((a, b) => a - b);
  const epochs = Math.max(1, sorted[Math.floor((sorted.length - 1) / 2)]);
  log(`refit: training the exported head on all ${rows.length} non-test rows for ${epochs} epochs (seed ${r.seeds[0]})`);
  const res = await trainHead(arch, subset(data, rows), undefined, {
    ...r.settings,
    epochs,
    select: "last",
    seed: r.seeds[0],
    labels: data.classes.labels,
    threads: r.threads,
    onEpoch: (e) => {
      if (o.signal?.aborted) throw new InterruptedError(`interrupted while refitting the head (epoch ${e.epoch}); nothing was written to ${o.out}`);
    },
  });
  return { params: res.params, seed: r.seeds[0], selectedEpoch: epochs, method: "refit", rows: rows.length };
}

interface WriteRunInput {
  config: RunConfig;
  metrics: RunMetrics;
  epochRows: (string | number)[][];
  predictionRows: PredictionRow[];
  /** Gated heads: beta per utterance, split, seed and fold (beta.csv). */
  betaRows: BetaRow[];
  curves: CurveSeries[];
  data: ProbeData;
  arch: HeadArch;
  exported?: Exported;
  title: string;
  /** Head-specific plots (e.g. layer weights), written as NAME.svg and NAME.png. */
  plots: HeadPlot[];
  /** More files for the run folder (name -> content), written before metrics.json. */
  extraFiles?: Record<string, string>;
}

/**
 * Writes the run into a temporary sibling folder and swaps it into place, so a run folder is always whole.
 * `runDir` (holding this process's lock) is checked again just before: empty, or a run it may replace.
 */
async function writeRun(runDir: string, overwrite: boolean, w: WriteRunInput): Promise<void> {
  const tmp = tmpNameFor(runDir);
  await mkdir(path.join(tmp, RUN_FILES.stores), { recursive: true });
  let movedFolds = false;
  try {
    const json = (v: unknown) => JSON.stringify(v, null, 2) + "\n";
    // Files predict reads are recorded with their sha256 in config.json, so it can refuse edited ones.
    const files: Record<string, string> = {};
    const put = async (rel: string, data: string | Uint8Array) => {
      await writeFile(path.join(tmp, rel), data);
      files[rel] = createHash("sha256").update(data).digest("hex");
    };
    await writeFile(
      path.join(tmp, RUN_FILES.epochs),
      stringify(w.epochRows, {
        header: true,
        columns: ["seed", "fold", "epoch", "train_loss", "val_loss", "val_accuracy", "val_unweighted_accuracy", "val_macro_f1", "val_weighted_f1", "seconds", "tested"],
        cast: { number: (v) => (Number.isNaN(v) ? "" : String(v)) },
      }),
    );
    await writeFile(path.join(tmp, RUN_FILES.predictions), stringify(w.predictionRows, { header: true, columns: [...PREDICTION_COLUMNS] }));
    for (const s of w.data.stores) await put(`${RUN_FILES.stores}/${s.name}.meta.json`, json(s.meta));
    if (w.exported) {
      const labelsJson: HeadLabels = {
        labels: w.metrics.labels,
        head: w.arch.head,
        inputs: w.data.stores.map((s, k) => ({
          name: s.name,
          dim: w.data.inputs[k].dim,
          modality: s.meta.modality,
          model_id: s.meta.model?.id,
          ...(s.layers ? { layers: s.layers } : {}),
          ...(w.arch.inputs[k].sequence ? { sequence: true } : {}),
        })),
        outputs: { logits: "logits", probs: "probs" },
        seed: w.exported.seed,
        selected_epoch: w.exported.selectedEpoch,
      };
      // Sequence heads also output their attention maps (averaged over heads) for predict --explain.
      const { model, attention } = buildInferenceModel(
        w.arch,
        w.exported.params,
        {
          docString: `emofeat ${w.arch.head} head; inputs ${w.arch.inputs.map((i) => (i.sequence ? `${i.name}[N,T,${i.dim}] + ${i.name}.mask[N,T]` : `${i.name}[N,${i.dim}]`)).join(", ")}; outputs logits, probs over ${w.metrics.labels.join(", ")}`,
          metadata: { labels: JSON.stringify(w.metrics.labels), inputs: JSON.stringify(labelsJson.inputs) },
          producerVersion: VERSION,
        },
        { attention: w.arch.inputs.some((i) => i.sequence) },
      );
      if (model.outputs.some((out) => out.name === "beta")) labelsJson.outputs.beta = "beta";
      if (attention.length > 0) labelsJson.outputs.attention = attention;
      await put(RUN_FILES.head, encodeModel(model));
      await put(RUN_FILES.labels, json(labelsJson));
    }
    if (w.betaRows.length > 0) await writeFile(path.join(tmp, RUN_FILES.betaCsv), betaCsv(w.betaRows));
    w.config.files = files;
    await writeFile(path.join(tmp, RUN_FILES.config), json(w.config));
    const nSeeds = w.metrics.seeds.length;
    const nFolds = w.config.protocol.folds.length;
    const note = [
      nFolds > 1 ? `summed over ${nFolds} folds (each row tested once); the metrics are means over folds` : null,
      nSeeds > 1 ? `cells and metrics: means over ${nSeeds} seeds` : null,
    ].filter(Boolean).join("; ");
    const cm = confusionSvg(w.metrics.test.confusion, w.metrics.labels, `${w.title}: test confusion`, {
      n: w.metrics.test.confusion.flat().reduce((a, b) => a + b, 0),
      metrics: w.metrics.test,
      ...(note ? { note } : {}),
    });
    const curves = curvesSvg(w.curves, `${w.title}: training curves`);
    await writeFile(path.join(tmp, RUN_FILES.confusionSvg), cm);
    await writeFile(path.join(tmp, RUN_FILES.curvesSvg), curves);
    const [cmPng, curvesPng] = await Promise.all([renderPng(cm), renderPng(curves)]);
    if (cmPng) await writeFile(path.join(tmp, RUN_FILES.confusionPng), cmPng);
    if (curvesPng) await writeFile(path.join(tmp, RUN_FILES.curvesPng), curvesPng);
    for (const p of w.plots) {
      await writeFile(path.join(tmp, `${p.name}.svg`), p.svg);
      const png = await renderPng(p.svg);
      if (png) await writeFile(path.join(tmp, `${p.name}.png`), png);
    }
    for (const [name, content] of Object.entries(w.extraFiles ?? {})) await writeFile(path.join(tmp, name), content);
    // metrics.json marks a finished run; written last.
    await writeFile(path.join(tmp, RUN_FILES.metrics), json(w.metrics));
    // A run merged from its folds keeps them: moved into the new folder (same file system), moved back on failure.
    if (await exists(path.join(runDir, FOLDS_DIR))) {
      await rename(path.join(runDir, FOLDS_DIR), path.join(tmp, FOLDS_DIR));
      movedFolds = true;
    }
    await swapRunInto(tmp, runDir, overwrite);
  } catch (err) {
    if (movedFolds) await rename(path.join(tmp, FOLDS_DIR), path.join(runDir, FOLDS_DIR)).catch(() => {});
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
}
