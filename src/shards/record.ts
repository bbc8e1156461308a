/**
 * A shard on disk: `<out>/shards/K-of-N/`, the part of a store one cluster task extracts.
 *
 *   .partial/     the store writer's resumable parts for this shard's batches (store/write.ts), exactly as an
 *                 unfinished single-process extraction keeps them; `emofeat merge` finalizes every shard's
 *                 parts together with the same writer, so the store is byte-identical to a single run
 *   shard.json    ShardRecord below: written when the shard starts and again, with `finished`, when its last
 *                 batch is on disk (a shard is done exactly when `finished` is set)
 *   failed.json   why the last attempt failed (removed when a new attempt starts)
 *   .emofeat.lock the running task's lock (host, pid, start, command)
 */
import { mkdir, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { STORE_FILES } from "../store/meta.js";
import type { FinalizeOptions } from "../store/write.js";
import { exists, writeFileAtomic } from "../util/fs.js";
import { shardName, type ShardSpec } from "./array-task.js";
import type { ShardRange } from "./partition.js";

export const SHARD_FORMAT = "emofeat.shard";
export const SHARD_FORMAT_VERSION = 1;
export const SHARDS_DIR = "shards";
export const SHARD_FILES = { record: "shard.json", failed: "failed.json" } as const;

/** What merge needs to finalize the store, as the single-process run would: its finalize options without rows and functions. */
export type StoreSpec = Omit<FinalizeOptions, "utterances" | "planned" | "totals"> & {
  /** The record file whose totals go into meta.json (store/records.ts), or null. */
  totals: string | null;
};

export interface ShardRecord {
  format: typeof SHARD_FORMAT;
  format_version: number;
  shard: ShardSpec & { name: string };
  modality: string;
  /** The store's settings fingerprint (the same in every shard of one store). */
  fingerprint: string;
  index: { path: string; sha256: string; rows: number };
  /** The encoder: its id and the sha256 of its file (null for weight-free builtin features). */
  model: { id: string; sha256: string | null };
  /** The single-process plan and how it was cut (the same in every shard). */
  plan: { batches: number; rows: number; sha256: string; shards: (ShardRange & { rows: number })[] };
  /** This shard's index positions (0-based), sorted, as [start, end) runs. */
  planned: [number, number][];
  store: StoreSpec;
  /** The latest attempt. */
  attempt: { started: string; host: string; pid: number; command: string };
  first_started: string;
  /** Set when every batch of the shard is on disk. */
  finished: string | null;
  /** Rows of this shard with a vector or a failure, and failures among them (at `finished`). */
  rows: number;
  failures: number;
  /** Rows the latest attempt computed, and its seconds (for rates and ETAs). */
  computed_rows: number;
  seconds: number | null;
}

export interface ShardFailure {
  time: string;
  host: string;
  pid: number;
  message: string;
  exit_code: number | null;
}

export function shardsRoot(out: string): string {
  return path.join(out, SHARDS_DIR);
}

export function shardDir(out: string, s: ShardSpec): string {
  return path.join(shardsRoot(out), shardName(s));
}

export function shardPartialDir(dir: string): string {
  return path.join(dir, STORE_FILES.partial);
}

/** Sorted positions as [start, end) runs (text plans scatter rows; audio plans keep them contiguous). */
export function toRuns(positions: readonly number[]): [number, number][] {
  const sorted = [...positions].sort((a, b) => a - b);
  const runs: [number, number][] = [];
  for (const p of sorted) {
    const last = runs[runs.length - 1];
    if (last && last[1] === p) last[1] = p + 1;
    else runs.push([p, p + 1]);
  }
  return runs;
}

export function fromRuns(runs: readonly [number, number][]): number[] {
  const out: number[] = [];
  for (const [a, b] of runs) for (let p = a; p < b; p++) out.push(p);
  return out;
}

/** 1-based index rows of 0-based positions, as "3-7, 12, 15-20" (at most `max` runs, then "and N more rows"). */
export function describeRows(positions: readonly number[], max = 8): string {
  const runs = toRuns(positions);
  const shown = runs.slice(0, max).map(([a, b]) => (b - a === 1 ? `${a + 1}` : `${a + 1}-${b}`));
  const rest = runs.slice(max).reduce((n, [a, b]) => n + b - a, 0);
  return `row${positions.length === 1 ? "" : "s"} ${shown.join(", ")}${rest > 0 ? ` and ${rest} more` : ""}`;
}

async function readJsonOrNull<T>(file: string): Promise<T | null> {
  try {
    return JSON.parse(await readFile(file, "utf8")) as T;
  } catch {
    return null;
  }
}

/** The shard's record, or null when there is none (never started) or it is not a shard record. */
export async function readShardRecord(dir: string): Promise<ShardRecord | null> {
  const r = await readJsonOrNull<ShardRecord>(path.join(dir, SHARD_FILES.record));
  return r && r.format === SHARD_FORMAT ? r : null;
}

export async function writeShardRecord(dir: string, r: ShardRecord): Promise<void> {
  await writeFileAtomic(path.join(dir, SHARD_FILES.record), JSON.stringify(r, null, 2) + "\n");
}

export async function readShardFailure(dir: string): Promise<ShardFailure | null> {
  return readJsonOrNull<ShardFailure>(path.join(dir, SHARD_FILES.failed));
}

export async function clearShardFailure(dir: string): Promise<void> {
  await rm(path.join(dir, SHARD_FILES.failed), { force: true });
}

/**
 * Records why a shard's task failed (`emofeat status` shows it); only when `out` exists, so a typo in --out
 * creates nothing.
 */
export async function recordShardFailure(out: string, s: ShardSpec, err: unknown): Promise<void> {
  if (!(await exists(out))) return;
  const dir = shardDir(out, s);
  await mkdir(dir, { recursive: true });
  const e = err as { message?: string; exitCode?: number };
  const failure: ShardFailure = {
    time: new Date().toISOString(),
    host: os.hostname(),
    pid: process.pid,
    message: String(e?.message ?? err).split("\n")[0],
    exit_code: typeof e?.exitCode === "number" ? e.exitCode : null,
  };
  await writeFileAtomic(path.join(dir, SHARD_FILES.failed), JSON.stringify(failure, null, 2) + "\n");
}
