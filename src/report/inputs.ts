/**
 * Everything the report reads: run directories (through train/run-dir.ts), feature stores (store/read.ts,
 * store/records.ts, store/validate.ts) and the index (manifest). Nothing here computes or formats; a part that
 * cannot be read is recorded with its reason and the report goes on.
 */
import path from "node:path";
import { EmofeatError } from "../errors.js";
import { loadIndex, type IndexManifest } from "../manifest/index-csv.js";
import type { Failure, StoreMeta } from "../store/meta.js";
import { readFailures, readStoreMeta } from "../store/read.js";
import { readClipRecords, readTextRecords, type ClipRecord, type TextRecord } from "../store/records.js";
import { validateStores, type Check, type StoreReport } from "../store/validate.js";
import {
  isRunDir,
  readRunBeta,
  readRunConfig,
  readRunEpochs,
  readRunMetrics,
  readRunPredictions,
  readRunStoreMeta,
  type BetaRow,
  type EpochRow,
  type PredictionRow,
  type RunConfig,
  type RunMetrics,
} from "../train/run-dir.js";
import { exists } from "../util/fs.js";

export interface RunInput {
  dir: string;
  /** Short unique name (the folder's name, or more of its path when two share a name). */
  name: string;
  config: RunConfig;
  metrics: RunMetrics;
  epochs: EpochRow[] | null;
  predictions: PredictionRow[] | null;
  beta: BetaRow[] | null;
  /** The stores' meta.json as the run recorded them, by input name (null when absent). */
  storeMeta: Record<string, StoreMeta | null>;
  /** Parts that could not be read (the run is still shown). */
  problems: string[];
}

export interface StoreInput {
  dir: string;
  meta: StoreMeta | null;
  /** Why the store could not be read at all. */
  error?: string;
  validation: StoreReport | null;
  clips: ClipRecord[] | null;
  texts: TextRecord[] | null;
  failures: Failure[];
}

export interface ReportInputs {
  runs: RunInput[];
  skipped: { dir: string; reason: string }[];
  stores: StoreInput[];
  /** Cross-store validation checks (same ids). */
  storeCross: Check[];
  index: IndexManifest | null;
  /** Where the index came from, or why there is none. */
  indexNote: string;
  notes: string[];
}

export interface InputOptions {
  runs: string[];
  /** Store folders; default: the stores the runs were trained on (those that still exist). */
  features?: string[];
  /** Index CSV; default: the index the runs (or stores) were made from, when they agree and it exists. */
  csv?: string;
  log?: (line: string) => void;
}

function message(err: unknown): string {
  return err instanceof EmofeatError ? err.message : (err as Error)?.message ?? String(err);
}

function runNames(dirs: string[]): string[] {
  const parts = dirs.map((d) => path.resolve(d).split(path.sep).filter(Boolean));
  return parts.map((p, i) => {
    for (let k = 1; k <= p.length; k++) {
      const name = p.slice(-k).join("/");
      if (parts.every((q, j) => j === i || q.slice(-k).join("/") !== name)) return name;
    }
    return dirs[i];
  });
}

async function loadRun(dir: string, name: string): Promise<RunInput> {
  const [config, metrics] = await Promise.all([readRunConfig(dir), readRunMetrics(dir)]);
  const problems: string[] = [];
  const tryRead = async <T>(what: string, f: () => Promise<T>): Promise<T | null> => {
    try {
      return await f();
    } catch (err) {
      problems.push(`${what}: ${message(err)}`);
      return null;
    }
  };
  const epochs = await tryRead("epochs.csv", () => readRunEpochs(dir));
  let predictions = await tryRead("predictions.csv", () => readRunPredictions(dir));
  // A --per-layer run reports its best layer's scores (metrics.best_layer); that layer's run holds the rows, so
  // the parent is compared row by row with what its table line shows.
  const best = metrics.best_layer?.run;
  if (predictions === null && best && !problems.some((p) => p.startsWith("predictions.csv")))
    predictions = await tryRead(`${best}/predictions.csv`, () => readRunPredictions(path.join(dir, best)));
  const beta = await tryRead("beta.csv", () => readRunBeta(dir));
  const storeMeta: Record<string, StoreMeta | null> = {};
  for (const f of config.features ?? []) storeMeta[f.name] = await tryRead(`stores/${f.name}.meta.json`, () => readRunStoreMeta(dir, f.name));
  return { dir, name, config, metrics, epochs, predictions, beta, storeMeta, problems };
}

async function loadStore(dir: string): Promise<StoreInput> {
  const empty: StoreInput = { dir, meta: null, validation: null, clips: null, texts: null, failures: [] };
  let meta: StoreMeta;
  try {
    meta = await readStoreMeta(dir);
  } catch (err) {
    return { ...empty, error: message(err) };
  }
  const out: StoreInput = { ...empty, meta };
  try {
    out.failures = await readFailures(dir);
    out.clips = await readClipRecords(dir);
    out.texts = await readTextRecords(dir);
  } catch (err) {
    out.error = message(err);
  }
  return out;
}

/** The single index the runs (or stores) name, when they agree and it still exists. */
async function impliedIndex(paths: string[]): Promise<{ csv?: string; note: string }> {
  const distinct = [...new Set(paths.filter(Boolean))];
  if (distinct.length === 0) return { note: "no index given (--csv) and none recorded by the runs or stores" };
  if (distinct.length > 1) return { note: `no index given (--csv); the inputs name ${distinct.length} different ones (${distinct.join(", ")})` };
  if (!(await exists(distinct[0]))) return { note: `no index given (--csv); the one the inputs were made from, ${distinct[0]}, no longer exists` };
  return { csv: distinct[0], note: `index ${distinct[0]} (recorded by the inputs; --csv overrides)` };
}

export async function loadInputs(o: InputOptions): Promise<ReportInputs> {
  const log = o.log ?? (() => {});
  const notes: string[] = [];
  const skipped: { dir: string; reason: string }[] = [];
  const runDirs: string[] = [];
  for (const dir of o.runs) {
    if (await isRunDir(dir)) runDirs.push(dir);
    else skipped.push({ dir, reason: (await exists(dir)) ? "not a finished run (no metrics.json)" : "no such folder" });
  }
  const names = runNames(runDirs);
  const runs: RunInput[] = [];
  for (let i = 0; i < runDirs.length; i++) {
    try {
      runs.push(await loadRun(runDirs[i], names[i]));
      log(`read run ${names[i]}`);
    } catch (err) {
      skipped.push({ dir: runDirs[i], reason: message(err) });
    }
  }

  let storeDirs = o.features;
  if (!storeDirs) {
    const recorded = [...new Set(runs.flatMap((r) => (r.config.features ?? []).map((f) => f.dir)))];
    storeDirs = [];
    for (const d of recorded) if (await exists(path.join(d, "meta.json"))) storeDirs.push(d);
    if (recorded.length > 0) notes.push(`stores: the ${storeDirs.length} of ${recorded.length} store(s) the runs were trained on that still exist (--features picks others)`);
  }
  const stores: StoreInput[] = [];
  for (const d of storeDirs) stores.push(await loadStore(d));

  let index: IndexManifest | null = null;
  let indexNote: string;
  let csv = o.csv;
  if (csv) indexNote = `index ${csv}`;
  else {
    const implied = await impliedIndex([...runs.map((r) => r.config.index?.path), ...stores.map((s) => s.meta?.index?.path ?? "")]);
    csv = implied.csv;
    indexNote = implied.note;
  }
  if (csv) {
    try {
      index = await loadIndex(csv);
    } catch (err) {
      if (o.csv) throw err;
      indexNote = `the index ${csv} could not be read: ${message(err)}`;
      csv = undefined;
    }
  }

  let storeCross: Check[] = [];
  const readable = stores.filter((s) => s.meta);
  if (csv && readable.length > 0) {
    log(`validating ${readable.length} store(s) against ${csv}`);
    const report = await validateStores(
      readable.map((s) => s.dir),
      csv,
    );
    readable.forEach((s, i) => (s.validation = report.stores[i]));
    storeCross = report.cross;
  }
  return { runs, skipped, stores, storeCross, index, indexNote, notes };
}
