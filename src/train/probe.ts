/**
 * `trainProbe()`: feature stores + index -> a run directory (the library behind `emofeat train`).
 */
import { mkdir, readdir, rename, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { stringify } from "csv-stringify/sync";
import { EmofeatError } from "../errors.js";
import { exists, tmpNameFor } from "../util/fs.js";
import { canonicalJson } from "../util/json.js";
import { VERSION } from "../version.js";
import { combineSplits, scalarStd, type SplitMetrics } from "./aggregate.js";
import { describeJoin, loadProbeData, parseFeatureSpecs, type ProbeData } from "./data.js";
import { Evaluator, trainHead, type Dataset, type EpochRecord, type Params } from "./engine.js";
import { buildInferenceModel, checkArch, headSettings, type HeadArch, type HeadName, type TrainSettings } from "./heads.js";
import { headModule, type HeadPlot } from "./heads/registry.js";
import type { LayerChoice } from "./layer-select.js";
import { encodeModel } from "./onnx/proto.js";
import { confusionSvg, curvesSvg, renderPng, type CurveSeries } from "./plots.js";
import {
  RUN_FILES,
  RUN_FORMAT,
  RUN_FORMAT_VERSION,
  isRunDir,
  PREDICTION_COLUMNS,
  type HeadLabels,
  type PredictionRow,
  type RunConfig,
  type RunMetrics,
  type SeedResult,
} from "./run-dir.js";
import { planFolds, type Fold, type Protocol } from "./splits.js";
import { checkFold, decodeParams, encodeParams, FOLD_FILE, FOLD_FORMAT, FOLDS_DIR, foldDir, requestedFold, type FoldRecord, type FoldUnit, type FoldUnits } from "./folds.js";

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

export interface TrainProbeResult {
  runDir: string;
  config: RunConfig;
  metrics: RunMetrics;
  /** One line: the run's test scores. */
  summary: string;
}

function subset(data: ProbeData, idx: number[]): Dataset {
  const x = data.inputs.map((inp, k) => {
    const d = inp.dim;
    const out = new Float32Array(idx.length * d);
    idx.forEach((r, i) => out.set(data.x[k].subarray(r * d, r * d + d), i * d));
    return out;
  });
  return { x, y: Int32Array.from(idx, (r) => data.rows[r].cls), n: idx.length };
}

function checkSettings(s: TrainSettings): void {
  const posInt = (v: number, flag: string) => {
    if (!(Number.isInteger(v) && v >= 1)) throw new EmofeatError(`${flag} must be a positive integer, got ${v}`);
  };
  posInt(s.epochs, "--epochs");
  posInt(s.batchSize, "--batch-size");
  if (!(s.lr > 0 && Number.isFinite(s.lr))) throw new EmofeatError(`--lr must be a positive number, got ${s.lr}`);
  if (!(s.weightDecay >= 0 && Number.isFinite(s.weightDecay))) throw new EmofeatError(`--weight-decay must be >= 0, got ${s.weightDecay}`);
}

export async function prepareOut(out: string, overwrite: boolean, keep: string[] = []): Promise<void> {
  let entries: string[];
  try {
    entries = (await readdir(out)).filter((e) => !keep.includes(e));
  } catch {
    return;
  }
  if (entries.length === 0) return;
  if (!overwrite)
    throw new EmofeatError(
      (await isRunDir(out)) ? `${out} already holds a run; pass --overwrite to replace it, or choose another --out` : `${out} exists and is not empty; choose another --out`,
    );
  if (!(await isRunDir(out))) throw new EmofeatError(`${out} is not empty and not a run directory; refusing to overwrite it`);
}

const pct = (x: number) => (100 * x).toFixed(2);

export async function trainProbe(o: TrainProbeOptions): Promise<TrainProbeResult> {
  const log = o.log ?? (() => {});
  const settings: TrainSettings = headSettings(o.head, o.settings);
  checkSettings(settings);
  const nSeeds = o.seeds ?? 1;
  if (!(Number.isInteger(nSeeds) && nSeeds >= 1)) throw new EmofeatError(`--seeds must be a positive integer, got ${nSeeds}`);
  const seed0 = o.seed ?? 0;
  if (!Number.isInteger(seed0) || seed0 < 0) throw new EmofeatError(`--seed must be a non-negative integer, got ${seed0}`);
  const seeds = Array.from({ length: nSeeds }, (_, i) => seed0 + i);
  const protocol = o.protocol ?? { kind: "split" };
  const threads = o.threads ?? os.availableParallelism();
  if (o.fold !== undefined && protocol.kind !== "session-folds") throw new EmofeatError("--fold trains one cross-validation fold: it needs --folds session");
  const foldIndex = o.fold !== undefined ? requestedFold(o.fold) : null;
  // One fold goes to <out>/folds/K/; a run merged from folds keeps them beside it.
  const target = foldIndex !== null ? foldDir(o.out, foldIndex) : o.out;
  await prepareOut(target, o.overwrite ?? false, o.fromFolds ? [FOLDS_DIR] : []);

  const data = await loadProbeData({ csv: o.csv, features: o.features, classes: o.classes, layers: o.layers });
  for (const line of describeJoin(data.report)) log(`warning: ${line}`);
  const arch: HeadArch = {
    head: o.head,
    inputs: data.inputs,
    numClasses: data.classes.labels.length,
    hidden: settings.hidden,
    dropoutIn: settings.dropoutIn,
    dropoutHidden: settings.dropoutHidden,
    ...(settings.base !== undefined ? { base: settings.base, layerNorm: settings.layerNorm ?? false } : {}),
  };
  if (o.head === "linear" || o.head === "concat-linear") arch.hidden = 0;
  checkArch(arch);
  const folds = planFolds(data.rows, protocol);
  const labels = data.classes.labels;
  if (foldIndex !== null) checkFold(o.fold!, foldIndex, folds);
  const dataRecord: FoldRecord["data"] = {
    index_sha256: data.index.sha256,
    stores: data.stores.map((s) => ({ name: s.name, embeddings_sha256: s.meta.embeddings_sha256 })),
    folds: folds.map((f) => ({ name: f.name, train: f.train.length, val: f.val.length, test: f.test.length })),
  };
  if (o.fromFolds && canonicalJson(o.fromFolds.records[0].data) !== canonicalJson(dataRecord))
    throw new EmofeatError(`the index, the stores or the folds changed since the folds were trained (folds/*/${FOLD_FILE} records them); retrain the folds`);
  const active = foldIndex !== null ? [folds[foldIndex]] : folds;
  const units: FoldUnit[] = [];
  // Heads that report on their trained parameters (weighted-layers: the layer weights) need them from every fold.
  const keepParams = headModule(o.head)?.report !== undefined;

  const seedResults: SeedResult[] = [];
  const epochRows: (string | number)[][] = [];
  const predictionRows: PredictionRow[] = [];
  const curves: CurveSeries[] = [];
  let exported: { params: Params; seed: number; selectedEpoch: number } | undefined;
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
        units.push(keepParams && params ? { ...u, params: encodeParams(params) } : u);
        seconds += u.seconds;
        const m = u.metrics;
        predictionRows.push(...u.predictions);
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
      onEpoch: o.verbose
        ? (e: EpochRecord) =>
            log(`  ${where} epoch ${e.epoch}/${settings.epochs}: train loss ${e.train_loss.toFixed(4)}, val loss ${e.val_loss.toFixed(4)}, val macro-F1 ${pct(e.val_macro_f1)} (${e.seconds.toFixed(2)} s)`)
        : undefined,
    });
    const testEval = await evaluator.evaluate(res.params, test, labels);
    const m: SplitMetrics = {
      train: (await evaluator.evaluate(res.params, train, labels)).metrics,
      val: (await evaluator.evaluate(res.params, val, labels)).metrics,
      test: testEval.metrics,
    };
    // The test predictions, row by row, so two runs can be compared on the same utterances (report).
    const testPred = testEval.pred;
    const predictions = fold.test.map((r, i) => ({
      utter_id: data.rows[r].utterId,
      split: "test",
      seed,
      fold: folds.length > 1 ? fold.name : "",
      label: labels[data.rows[r].cls],
      pred: labels[testPred[i]],
    }));
    if (!exported && protocol.kind === "split") exported = { params: res.params, seed, selectedEpoch: res.selectedEpoch };
    const unit = { seed, fold: fold.name, metrics: m, selected_epoch: res.selectedEpoch, epochs: res.epochs, predictions, seconds: (performance.now() - t0) / 1000 };
    return { unit, params: res.params };
  }

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
      embeddings_sha256: s.meta.embeddings_sha256,
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
    ...(foldIndex !== null ? { fold: { index: foldIndex, name: folds[foldIndex].name } } : {}),
    ...(o.fromFolds ? { merged_folds: o.fromFolds.records.length } : {}),
    export: exported
      ? { file: RUN_FILES.head, seed: exported.seed, selected_epoch: exported.selectedEpoch }
      : { file: null, reason: "cross-validation runs train one head per fold; train on the split column to get a head for prediction" },
  };

  const runDir = path.resolve(target);
  const extraFiles: Record<string, string> = {};
  if (foldIndex !== null) {
    const record: FoldRecord = {
      format: FOLD_FORMAT,
      format_version: 1,
      fold: { index: foldIndex, name: folds[foldIndex].name, count: folds.length },
      options: {
        csv: path.resolve(o.csv),
        features: (typeof o.features === "string" ? parseFeatureSpecs(o.features) : o.features).map((f) => ({ name: f.name, dir: path.resolve(f.dir) })),
        head: o.head,
        classes: o.classes ?? null,
        layers: o.layers ?? null,
        protocol,
        seeds,
        settings: o.settings ?? {},
        threads: o.threads ?? null,
      },
      command: o.command ?? null,
      data: dataRecord,
      units,
      created: config.created,
    };
    extraFiles[FOLD_FILE] = JSON.stringify(record) + "\n";
  }
  await writeRun(runDir, { config, metrics, epochRows, predictionRows, curves, data, arch, exported, title, plots: extra?.plots ?? [], extraFiles });

  const std = nSeeds > 1 ? ` (+- ${pct(metrics.test_std.accuracy)} / ${pct(metrics.test_std.unweighted_accuracy)} / ${pct(metrics.test_std.macro_f1)} over ${nSeeds} seeds)` : "";
  const summary =
    `${path.basename(runDir)}: ${o.head} on ${data.inputs.map((i) => i.name).join("+")}, ${labels.length} classes, ` +
    `${protocol.kind === "split" ? "split" : foldIndex !== null ? `fold ${foldIndex} (${folds[foldIndex].name}) of ${folds.length}-fold session CV` : `${folds.length}-fold session CV${o.fromFolds ? ", merged from its folds" : ""}`}: ` +
    `test acc ${pct(metrics.test.accuracy)} UA ${pct(metrics.test.unweighted_accuracy)} macro-F1 ${pct(metrics.test.macro_f1)}${std} -> ${target}`;
  return { runDir, config, metrics, summary };
}

interface WriteRunInput {
  config: RunConfig;
  metrics: RunMetrics;
  epochRows: (string | number)[][];
  predictionRows: PredictionRow[];
  curves: CurveSeries[];
  data: ProbeData;
  arch: HeadArch;
  exported?: { params: Params; seed: number; selectedEpoch: number };
  /** More files for the run folder (name -> content), written before metrics.json. */
  extraFiles?: Record<string, string>;
  title: string;
  /** Head-specific plots (e.g. layer weights), written as NAME.svg and NAME.png. */
  plots: HeadPlot[];
}

/** Writes the run into a temporary sibling folder and renames it into place, so a run folder is always whole. */
async function writeRun(runDir: string, w: WriteRunInput): Promise<void> {
  const tmp = tmpNameFor(runDir);
  await mkdir(path.join(tmp, RUN_FILES.stores), { recursive: true });
  try {
    const json = (v: unknown) => JSON.stringify(v, null, 2) + "\n";
    await writeFile(path.join(tmp, RUN_FILES.config), json(w.config));
    await writeFile(
      path.join(tmp, RUN_FILES.epochs),
      stringify(w.epochRows, {
        header: true,
        columns: ["seed", "fold", "epoch", "train_loss", "val_loss", "val_accuracy", "val_unweighted_accuracy", "val_macro_f1", "val_weighted_f1", "seconds", "tested"],
        cast: { number: (v) => (Number.isNaN(v) ? "" : String(v)) },
      }),
    );
    await writeFile(path.join(tmp, RUN_FILES.predictions), stringify(w.predictionRows, { header: true, columns: [...PREDICTION_COLUMNS] }));
    for (const s of w.data.stores) await writeFile(path.join(tmp, RUN_FILES.stores, `${s.name}.meta.json`), json(s.meta));
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
        })),
        outputs: { logits: "logits", probs: "probs" },
        seed: w.exported.seed,
        selected_epoch: w.exported.selectedEpoch,
      };
      const { model } = buildInferenceModel(w.arch, w.exported.params, {
        docString: `emofeat ${w.arch.head} head; inputs ${w.arch.inputs.map((i) => `${i.name}[N,${i.dim}]`).join(", ")}; outputs logits, probs over ${w.metrics.labels.join(", ")}`,
        metadata: { labels: JSON.stringify(w.metrics.labels), inputs: JSON.stringify(labelsJson.inputs) },
        producerVersion: VERSION,
      });
      await writeFile(path.join(tmp, RUN_FILES.head), encodeModel(model));
      await writeFile(path.join(tmp, RUN_FILES.labels), json(labelsJson));
    }
    const cm = confusionSvg(w.metrics.test.confusion, w.metrics.labels, `${w.title}: test confusion${w.metrics.seeds.length > 1 ? " (mean over seeds)" : ""}`);
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
    // A run merged from its folds keeps them (they are moved, not copied: same file system).
    if (await exists(path.join(runDir, FOLDS_DIR))) await rename(path.join(runDir, FOLDS_DIR), path.join(tmp, FOLDS_DIR));
    await rm(runDir, { recursive: true, force: true });
    await mkdir(path.dirname(runDir), { recursive: true });
    await rename(tmp, runDir);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
}
