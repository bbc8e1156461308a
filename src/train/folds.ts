/**
 * Cross-validation folds trained as separate processes (`emofeat train --folds session --fold K|auto`), one
 * array task per fold, and `emofeat runs merge OUT`, which assembles them into the run a single process
 * writes.
 *
 *   <out>/folds/K/     a complete run of fold K alone (every seed), plus fold.json: what each (seed, fold) unit
 *                      produced (metrics, tested epoch, epoch records, test predictions), the options of the
 *                      command, and the stores and folds it was trained on
 *
 * `runs merge` reloads the data, checks that every fold is there and was trained with the same options on the
 * same stores and folds, and hands the units to trainProbe, which assembles metrics.json, epochs.csv,
 * predictions.csv and the plots with the code a single process uses: the numbers are identical for identical
 * seeds (only timings and `created` differ).
 */
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { EmofeatError } from "../errors.js";
import { arrayTaskFromEnv, autoTask } from "../shards/array-task.js";
import { exists } from "../util/fs.js";
import { canonicalJson } from "../util/json.js";
import type { SplitMetrics } from "./aggregate.js";
import type { BetaRow } from "./beta.js";
import type { EpochRecord } from "./engine.js";
import type { PredictionRow } from "./run-dir.js";
import type { Fold } from "./splits.js";

export const FOLD_FORMAT = "emofeat.fold";
export const FOLDS_DIR = "folds";
export const FOLD_FILE = "fold.json";

/** What training one seed on one fold produced. */
export interface FoldUnit {
  seed: number;
  fold: string;
  metrics: SplitMetrics;
  selected_epoch: number;
  epochs: EpochRecord[];
  predictions: PredictionRow[];
  /** Gated heads: beta of every row of every split at the tested checkpoint (beta.csv). */
  beta?: BetaRow[];
  seconds: number;
  /** The selected parameters (name -> base64 of little-endian float32), for heads that report on them (weighted-layers). */
  params?: Record<string, string>;
}

/** The options of the train command that shape the numbers (the same for every fold of a run). */
export interface FoldOptions {
  csv: string;
  features: { name: string | null; dir: string }[];
  head: string;
  classes: string | null;
  /** --layers (layer stores). */
  layers: unknown;
  protocol: unknown;
  seeds: number[];
  settings: unknown;
  threads: number | null;
  /** --export-head: the merge exports it. */
  export_head: string;
}

export interface FoldRecord {
  format: typeof FOLD_FORMAT;
  format_version: 1;
  fold: { index: number; name: string; count: number };
  options: FoldOptions;
  command: string[] | null;
  /** The stores (embeddings sha256) and every fold's sizes, as this process saw them. */
  data: { index_sha256: string; stores: { name: string; embeddings_sha256: string }[]; folds: { name: string; train: number; val: number; test: number }[] };
  units: FoldUnit[];
  created: string;
}

/** Parameters as JSON-safe text: base64 of their float32 bytes (exact, and a third the size of decimal text). */
export function encodeParams(p: ReadonlyMap<string, Float32Array>): Record<string, string> {
  return Object.fromEntries([...p].map(([k, v]) => [k, Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("base64")]));
}

export function decodeParams(p: Record<string, string>): Map<string, Float32Array> {
  return new Map(
    Object.entries(p).map(([k, b64]) => {
      const bytes = Buffer.from(b64, "base64");
      const out = new Float32Array(bytes.length / 4);
      new Uint8Array(out.buffer).set(bytes);
      return [k, out];
    }),
  );
}

export function foldDir(out: string, index: number): string {
  return path.join(out, FOLDS_DIR, String(index));
}

/** The fold index `--fold K|auto` names before the data is loaded (auto: the array task's index). */
export function requestedFold(fold: number | "auto"): number {
  if (fold !== "auto") {
    if (!Number.isInteger(fold) || fold < 0) throw new EmofeatError(`--fold ${fold}: expected a fold number (0, 1, ...) or auto`);
    return fold;
  }
  const task = arrayTaskFromEnv();
  if (!task)
    throw new EmofeatError(
      "--fold auto: neither SLURM_ARRAY_TASK_ID (a Slurm job array task) nor JOB_COMPLETION_INDEX (a Kubernetes Indexed Job pod) is set; run it as an array task, or give the fold number",
    );
  return task.index;
}

/** Checks the requested fold against the folds of the data (and, for auto, the array's size). */
export function checkFold(fold: number | "auto", index: number, folds: Fold[]): void {
  if (fold === "auto")
    autoTask({ count: folds.length, flag: "--fold", countFlag: "--folds", what: "folds", countSays: `the data has ${folds.length} folds (${folds.map((f) => f.name).join(", ")})` });
  if (index >= folds.length)
    throw new EmofeatError(`--fold ${index}: the data has ${folds.length} folds, numbered 0-${folds.length - 1} (${folds.map((f, i) => `${i}: ${f.name}`).join(", ")})`);
}

/** The record of the fold run in `dir`, or null (none, or unreadable). */
export async function readFoldRecord(dir: string): Promise<FoldRecord | null> {
  try {
    const r = JSON.parse(await readFile(path.join(dir, FOLD_FILE), "utf8")) as FoldRecord;
    return r.format === FOLD_FORMAT ? r : null;
  } catch {
    return null;
  }
}

/** The units of every fold of `out`, checked to make one run; throws naming missing, unfinished or foreign folds. */
export async function readFoldRecords(out: string): Promise<{ records: FoldRecord[]; options: FoldOptions; command: string[] | null }> {
  const root = path.join(out, FOLDS_DIR);
  if (!(await exists(root))) throw new EmofeatError(`${out}: no ${FOLDS_DIR}/ folder; train the folds first (emofeat train ... --folds session --fold K --out ${out})`);
  const names = (await readdir(root)).filter((n) => !n.startsWith(".")).sort((a, b) => Number(a) - Number(b));
  const records = new Map<number, FoldRecord>();
  const problems: string[] = [];
  for (const name of names) {
    const file = path.join(root, name, FOLD_FILE);
    let r: FoldRecord | null = null;
    try {
      r = JSON.parse(await readFile(file, "utf8")) as FoldRecord;
    } catch {
      r = null;
    }
    if (!/^\d+$/.test(name)) problems.push(`${FOLDS_DIR}/${name}: not a fold folder (fold folders are numbered 0, 1, ...)`);
    else if (!r || r.format !== FOLD_FORMAT) problems.push(`${FOLDS_DIR}/${name}: unfinished (no ${FOLD_FILE}: the fold is still training, or it failed; rerun it)`);
    else if (r.fold.index !== Number(name)) problems.push(`${FOLDS_DIR}/${name}: holds fold ${r.fold.index} (${r.fold.name}) (copied or renamed?)`);
    else records.set(r.fold.index, r);
  }
  const all = [...records.values()];
  if (all.length === 0) throw new EmofeatError(`cannot merge the folds of ${out}: no finished fold\n${problems.map((p) => `  - ${p}`).join("\n")}`);
  const ref = all[0];
  const key = (r: FoldRecord) => canonicalJson({ options: r.options, data: r.data });
  for (const r of all.slice(1))
    if (key(r) !== key(ref)) {
      const what = canonicalJson(r.options) !== canonicalJson(ref.options) ? "other options" : "other data (stores or folds changed)";
      problems.push(`${FOLDS_DIR}/${r.fold.index}: trained with ${what} than ${FOLDS_DIR}/${ref.fold.index}`);
    }
  for (let i = 0; i < ref.fold.count; i++)
    if (!records.has(i) && !names.includes(String(i)))
      problems.push(`${FOLDS_DIR}/${i}: missing (fold ${ref.data.folds[i]?.name ?? i} not trained yet)`);
  for (const r of all) {
    const seeds = new Set(r.units.map((u) => u.seed));
    const lacking = r.options.seeds.filter((s) => !seeds.has(s));
    if (lacking.length > 0) problems.push(`${FOLDS_DIR}/${r.fold.index}: lacks seed(s) ${lacking.join(", ")}`);
  }
  if (problems.length > 0)
    throw new EmofeatError(`cannot merge the folds of ${out}: ${problems.length} problem(s); nothing was written\n${problems.map((p) => `  - ${p}`).join("\n")}`);
  return { records: all.sort((a, b) => a.fold.index - b.fold.index), options: ref.options, command: ref.command };
}

/** Looks units up by (fold name, seed). */
export class FoldUnits {
  private readonly byKey = new Map<string, FoldUnit>();
  constructor(readonly records: FoldRecord[]) {
    for (const r of records) for (const u of r.units) this.byKey.set(`${u.fold}\u0000${u.seed}`, u);
  }
  get(fold: string, seed: number): FoldUnit | undefined {
    return this.byKey.get(`${fold}\u0000${seed}`);
  }
}
