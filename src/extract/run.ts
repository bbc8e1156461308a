/**
 * The extraction driver shared by every modality: runs a fixed plan of batches, keeps finished work in
 * resumable parts, reports progress, stops cleanly on abort, and finalizes the feature store.
 */
import { createHash } from "node:crypto";
import { EmofeatError, InterruptedError, UsageError } from "../errors.js";
import type { IndexManifest } from "../manifest/index-csv.js";
import { modelDataSha256, STORE_FORMAT, STORE_FORMAT_VERSION, type Modality, type ModelRecord, type StoreLayout, type StoreMeta } from "../store/meta.js";
import { STORE_DTYPES, type StoreDtype } from "../store/npy.js";
import { openStoreForWriting, type BatchResult, type FinalizeOptions, type StoreWriter } from "../store/write.js";
import type { ShardSpec } from "../shards/array-task.js";
import { runShard } from "../shards/extract.js";
import { acquireLock } from "../util/lock.js";
import { makeDir } from "../util/out.js";
import { canonicalJson } from "../util/json.js";
import { VERSION } from "../version.js";
import type { ProgressListener } from "./progress.js";

export interface RunExtractionOptions {
  index: IndexManifest;
  outDir: string;
  modality: Modality;
  /** Every setting that changes the numbers; hashed into the fingerprint. */
  fingerprintSettings: Record<string, unknown>;
  /** Positions into index.utterances, grouped as the model will see them. Must be a pure function of the inputs. */
  batches: number[][];
  dim: number;
  processBatch: (positions: number[]) => Promise<BatchResult>;
  /** Modality-specific meta fields. */
  meta: Pick<StoreMeta, "model" | "device" | "pooling" | "settings"> &
    Partial<Pick<StoreMeta, "max_len" | "sr" | "max_seconds" | "batching" | "layers" | "hidden_states" | "compat">>;
  /** Shape of one stored row: [d] (default [dim]) or [layers, d]. */
  rowShape?: number[];
  /** Sequence store (pooling none): batches return `lengths`; frames.npy + lengths.npy. */
  sequence?: boolean;
  /** Text sequence stores: the special tokens the batches flag (special.npy). */
  special?: { prefix: number[]; suffix: number[] };
  /** Array dtype on disk (default float32). */
  dtype?: StoreDtype;
  /** Extra totals for meta.json computed from per-row records at the end. */
  totals?: (records: Record<string, string | number | boolean>[]) => Record<string, number>;
  recordsCsv?: { file: string; columns: string[] };
  layout?: StoreLayout;
  overwrite?: boolean;
  /** Remove another writer's lock on the folder (see util/lock.ts). */
  forceUnlock?: boolean;
  /** Notes for the user (a stale lock taken over, ...). */
  log?: (line: string) => void;
  onProgress?: ProgressListener;
  signal?: AbortSignal;
  /** Flush finished batches to disk at least this often (rows / milliseconds / buffered values). */
  flushRows?: number;
  flushMs?: number;
  flushValues?: number;
  /** Extract only this shard of the plan, into `<outDir>/shards/K-of-N/` (shards/extract.ts); `emofeat merge` makes the store. */
  shard?: ShardSpec;
  /** Work per batch (in plan order) for balancing shards; default: rows. Called only when sharding. */
  batchCosts?: () => Promise<number[]>;
  /**
   * Keys of fingerprintSettings (recorded under the same names in meta.settings) that change how the work is
   * run but not the numbers: a finished store that differs from this command only in them is up to date.
   */
  sameNumbers?: readonly string[];
}

/** What every `extract*` function takes besides its model settings: where the index and the store are, and how to run. */
export interface StoreRunOptions {
  /** Index CSV. */
  csv: string;
  /** Feature store folder. */
  out: string;
  layout?: StoreLayout;
  overwrite?: boolean;
  /** Remove the lock another writer left on `out` (only when that writer is known to be gone). */
  forceUnlock?: boolean;
  /** Notes for the user (a stale lock taken over, ...). */
  log?: (line: string) => void;
  onProgress?: ProgressListener;
  signal?: AbortSignal;
  /** Save finished batches to disk at least every this many rows (default 512); smaller loses less on a crash. */
  flushRows?: number;
  /** Array dtype of the store (default float32; float16 halves the size, see docs/representations.md). */
  storeDtype?: StoreDtype;
  /** Extract one shard of the work into `<out>/shards/K-of-N/` (see `emofeat merge`). */
  shard?: ShardSpec;
}

/** The StoreRunOptions part of `o`, in the shape runExtraction takes. */
export function storeRunArgs(o: StoreRunOptions) {
  return {
    outDir: o.out,
    layout: o.layout,
    overwrite: o.overwrite,
    forceUnlock: o.forceUnlock,
    log: o.log,
    onProgress: o.onProgress,
    signal: o.signal,
    flushRows: o.flushRows,
    dtype: o.storeDtype,
    shard: o.shard,
  };
}

/** Checks a store dtype name (library callers pass strings too). */
export function checkStoreDtype(dtype: string | undefined): StoreDtype {
  const d = dtype ?? "float32";
  if (!(d in STORE_DTYPES)) throw new UsageError(`unknown --store-dtype "${d}" (expected one of: ${Object.keys(STORE_DTYPES).join(", ")})`);
  return d as StoreDtype;
}

/**
 * The fingerprint entry for a model's external data files, only when it has some, so that stores of models
 * with the weights inside the ONNX file keep their fingerprint.
 */
export function modelDataSetting(model: ModelRecord): { model_data_sha256?: string } {
  const sha = modelDataSha256(model);
  return sha === undefined ? {} : { model_data_sha256: sha };
}

/**
 * Fingerprint entries for the representation options, only when they differ from the defaults, so that a
 * store made before these options existed keeps its fingerprint (it resumes, and reruns say "up to date").
 */
export function representationSettings(r: { layers: number[] | null; pooling: string; defaultPooling: string; dtype: StoreDtype; compat?: string | null }) {
  return {
    ...(r.layers ? { layers: r.layers } : {}),
    ...(r.pooling !== r.defaultPooling ? { pooling: r.pooling } : {}),
    ...(r.dtype !== "float32" ? { store_dtype: r.dtype } : {}),
    ...(r.compat ? { compat: r.compat } : {}),
  };
}

const FLOAT16_MAX_ROUNDED = 65520; // the smallest magnitude float16 rounds to Infinity

/** A float16 store cannot hold values beyond +-65504: stop at the first batch that has one, naming its row. */
function checkFloat16Range(result: BatchResult, utterances: IndexManifest["utterances"]): void {
  const v = result.vectors;
  const bad = v.findIndex((x) => Math.abs(x) >= FLOAT16_MAX_ROUNDED && Number.isFinite(x));
  if (bad < 0) return;
  // Which position owns value `bad`: positions hold lengths[k] rows (1 each in pooled stores) of equal size.
  const rowsOf = (k: number) => result.lengths?.[k] ?? 1;
  const totalRows = result.positions.reduce((a, _, k) => a + rowsOf(k), 0);
  const row = Math.floor(bad / (v.length / totalRows));
  let k = 0;
  for (let seen = rowsOf(0); seen <= row; seen += rowsOf(++k));
  const u = utterances[result.positions[k]];
  throw new EmofeatError(`row ${u.row} (${u.utterId}): the value ${v[bad]} is beyond float16's range (+-65504); use --store-dtype float32`);
}

export interface ExtractionSummary {
  outDir: string;
  /** "created": computed now (resumed or not); "up-to-date": an identical store was already there. */
  status: "created" | "up-to-date";
  meta: StoreMeta;
  resumedRows: number;
  /** Sharded runs: the shard written (then `meta` previews the store: no sha256 or totals before the merge). */
  shard?: { dir: string; spec: ShardSpec; rows: number; planRows: number };
}

export { InterruptedError };

/** Stable hash of settings (keys sorted at every level). */
export function fingerprint(settings: Record<string, unknown>): string {
  return createHash("sha256")
    .update(canonicalJson({ format: STORE_FORMAT, format_version: STORE_FORMAT_VERSION, ...settings }))
    .digest("hex");
}

/**
 * Whether a finished store differs from the command `o` only in its `sameNumbers` settings: the fingerprint
 * `o` would have with the store's recorded values of those is the store's.
 */
export function sameNumbersCheck(o: Pick<RunExtractionOptions, "fingerprintSettings" | "sameNumbers">) {
  const keys = o.sameNumbers ?? [];
  return {
    keys,
    finished: (meta: StoreMeta): boolean => {
      const recorded = (meta.settings ?? {}) as Record<string, unknown>;
      if (keys.length === 0 || keys.some((k) => recorded[k] === undefined)) return false;
      return fingerprint({ ...o.fingerprintSettings, ...Object.fromEntries(keys.map((k) => [k, recorded[k]])) }) === meta.fingerprint;
    },
  };
}

/**
 * Runs the extraction holding the output folder's lock, so two writers never mix their parts; a shard
 * (`o.shard`) is run by shards/extract.ts, holding its own folder's lock.
 */
export async function runExtraction(o: RunExtractionOptions): Promise<ExtractionSummary> {
  const utterances = o.index.utterances;
  const fp = fingerprint(o.fingerprintSettings);
  const finalize: FinalizeOptions = {
    utterances,
    planned: o.batches.flat(),
    dim: o.dim,
    rowShape: o.rowShape,
    sequence: o.sequence,
    special: o.special,
    dtype: o.dtype,
    layout: o.layout ?? "matrix",
    recordsCsv: o.recordsCsv,
    totals: o.totals,
    meta: {
      format: STORE_FORMAT,
      format_version: STORE_FORMAT_VERSION,
      modality: o.modality,
      ...o.meta,
      index: { path: o.index.path, sha256: o.index.sha256, rows: utterances.length },
      fingerprint: fp,
      tool: { name: "emofeat", version: VERSION },
    },
  };
  if (o.shard) return runShard(o, { fingerprint: fp, finalize, runBatches, sameNumbers: sameNumbersCheck(o).finished });
  await makeDir(o.outDir);
  const lock = await acquireLock(o.outDir, { forceUnlock: o.forceUnlock, log: o.log });
  try {
    return await runLocked(o, fp, finalize);
  } finally {
    await lock.release();
  }
}

async function runLocked(o: RunExtractionOptions, fp: string, finalize: FinalizeOptions): Promise<ExtractionSummary> {
  const total = o.batches.reduce((a, b) => a + b.length, 0);
  const opened = await openStoreForWriting({
    outDir: o.outDir,
    fingerprint: fp,
    settings: o.fingerprintSettings,
    totalBatches: o.batches.length,
    overwrite: o.overwrite,
    sameNumbers: sameNumbersCheck(o),
  });
  if (opened.status === "complete") {
    if (opened.note) o.log?.(opened.note);
    o.onProgress?.({ phase: "done", done: total, total, failed: opened.meta.failures, resumed: total, message: "up to date" });
    return { outDir: o.outDir, status: "up-to-date", meta: opened.meta, resumedRows: total };
  }
  const { resumedRows, failed } = await runBatches(o, opened.writer, o.batches, opened.doneBatches, o.outDir);
  o.onProgress?.({ phase: "finalize", done: total, total, failed, resumed: resumedRows });
  const meta = await opened.writer.finalize(finalize);
  o.onProgress?.({ phase: "done", done: total, total, failed: meta.failures, resumed: resumedRows });
  return { outDir: o.outDir, status: "created", meta, resumedRows };
}

/**
 * Runs every batch of `batches` not in `doneBatches` (indices into `batches`), adding the results to `writer`
 * and flushing them to disk as they accumulate; reports progress and stops cleanly on abort. The parts are
 * flushed before it returns.
 */
export async function runBatches(
  o: Pick<RunExtractionOptions, "index" | "processBatch" | "onProgress" | "signal" | "flushRows" | "flushMs" | "flushValues" | "dtype">,
  writer: StoreWriter,
  batches: number[][],
  doneBatches: Set<number>,
  outDir: string,
): Promise<{ resumedRows: number; failed: number }> {
  const total = batches.reduce((a, b) => a + b.length, 0);
  let done = 0;
  let failed = 0;
  batches.forEach((b, i) => {
    if (doneBatches.has(i)) done += b.length;
  });
  for (const part of writer.loadedParts) failed += part.failures.length;
  const resumedRows = done;
  const report = () => o.onProgress?.({ phase: "extract", done, total, failed, resumed: resumedRows });
  report();

  const flushRows = o.flushRows ?? 512;
  const flushMs = o.flushMs ?? 15_000;
  // Sequence stores hold many values per row: bound the memory held between flushes too (64 MB of float32).
  const flushValues = o.flushValues ?? 16 << 20;
  let lastFlush = Date.now();
  for (let i = 0; i < batches.length; i++) {
    if (doneBatches.has(i)) continue;
    if (o.signal?.aborted) {
      await writer.flush();
      throw new InterruptedError(
        `interrupted after ${done} of ${total} rows; finished work is kept in ${outDir}/.partial — run the same command again to resume`,
      );
    }
    let result: BatchResult;
    try {
      result = await o.processBatch(batches[i]);
    } catch (err) {
      await writer.flush(); // keep what finished before the error, so a rerun resumes
      throw err;
    }
    if (o.dtype === "float16") checkFloat16Range(result, o.index.utterances);
    writer.add(i, result);
    done += batches[i].length;
    failed += result.failures.length;
    if (writer.bufferedRows >= flushRows || writer.bufferedValues >= flushValues || Date.now() - lastFlush >= flushMs) {
      await writer.flush();
      lastFlush = Date.now();
    }
    report();
  }
  await writer.flush();
  return { resumedRows, failed };
}
