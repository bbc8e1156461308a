/**
 * Extracting one shard (`emofeat extract ... --shard K/N`): the single-process plan is cut into N contiguous
 * runs of batches of about equal work (shards/partition.ts); this task runs run K with the store writer's
 * resumable parts in `<out>/shards/K-of-N/` (a task the scheduler reruns resumes where it stopped) and leaves
 * them for `emofeat merge`, which finalizes all shards together (shards/merge.ts).
 */
import { createHash } from "node:crypto";
import os from "node:os";
import path from "node:path";
import { EmofeatError } from "../errors.js";
import type { ExtractionSummary, RunExtractionOptions, runBatches as RunBatches } from "../extract/run.js";
import { STORE_FILES, type StoreMeta } from "../store/meta.js";
import { readStoreMeta } from "../store/read.js";
import { describeDifferences, openStoreForWriting, recordedSettings, type FinalizeOptions, type StoreWriter } from "../store/write.js";
import { exists } from "../util/fs.js";
import { acquireLock } from "../util/lock.js";
import { makeDir } from "../util/out.js";
import { canonicalJson } from "../util/json.js";
import { shardName, type ShardSpec } from "./array-task.js";
import { partitionBatches, planHash, type ShardRange } from "./partition.js";
import { clearShardFailure, readShardRecord, shardDir, toRuns, writeShardRecord, type ShardRecord, type StoreSpec } from "./record.js";

export interface ShardRunContext {
  /** The store's settings fingerprint. */
  fingerprint: string;
  /** What a single run would finalize (merge finalizes the same, over every shard's parts). */
  finalize: FinalizeOptions;
  runBatches: typeof RunBatches;
  /** Whether a finished store differs from this command only in settings that do not change its numbers. */
  sameNumbers: (meta: StoreMeta) => boolean;
}

/** The serializable part of a store's finalize options, for shard.json. */
export function storeSpec(f: FinalizeOptions): StoreSpec {
  const { utterances: _u, planned: _p, totals, ...rest } = f;
  if (totals && !f.recordsCsv) throw new Error("internal: store totals without a record file cannot be merged from shards");
  return { ...rest, totals: totals ? f.recordsCsv!.file : null };
}

function preview(f: FinalizeOptions, writer: StoreWriter, finished: string): StoreMeta {
  let n = 0;
  let failures = 0;
  for (const p of writer.loadedParts) {
    n += p.positions.length;
    failures += p.failures.length;
  }
  return { ...f.meta, dtype: f.dtype ?? "float32", n, d: f.dim, embeddings_sha256: "", failures, layout: f.layout, created: finished };
}

export async function runShard(o: RunExtractionOptions, x: ShardRunContext): Promise<ExtractionSummary> {
  const spec = o.shard!;
  const out = o.outDir;
  const name = shardName(spec);

  // A store already merged with these settings: a task rerun after the merge has nothing to do.
  if ((await exists(path.join(out, STORE_FILES.meta))) && !(await exists(path.join(out, STORE_FILES.partial)))) {
    const meta = await readStoreMeta(out);
    if (meta.fingerprint === x.fingerprint || x.sameNumbers(meta))
      return { outDir: out, status: "up-to-date", meta, resumedRows: meta.n + meta.failures };
    if (!o.overwrite)
      throw new EmofeatError(
        `${out} already holds a feature store made with other settings (model ${meta.model.id}, ${meta.modality}); ` +
          `pass --overwrite to every shard and to emofeat merge to replace it, or choose another --out`,
      );
  }

  const costs = o.batchCosts ? await o.batchCosts() : o.batches.map((b) => b.length);
  if (costs.length !== o.batches.length) throw new Error(`internal: ${costs.length} batch costs for ${o.batches.length} batches`);
  const ranges = partitionBatches(costs, spec.n);
  const mine = ranges[spec.k];
  const batches = o.batches.slice(mine.from, mine.to);
  const planned = batches.flat();
  const planSha = planHash(o.batches);
  const total = planned.length;
  const dir = shardDir(out, spec);
  // One writer per shard: a second task on the same shard is refused; a task the scheduler restarted takes
  // over the lock of its killed predecessor (util/lock.ts).
  await makeDir(dir);
  const lock = await acquireLock(dir, { forceUnlock: o.forceUnlock, log: o.log });
  try {
    return await shardLocked(o, x, { spec, name, dir, ranges, mine, batches, planned, planSha, total });
  } finally {
    await lock.release();
  }
}

interface ShardPlan {
  spec: ShardSpec;
  name: string;
  dir: string;
  ranges: ShardRange[];
  mine: ShardRange;
  batches: number[][];
  planned: number[];
  planSha: string;
  total: number;
}

async function shardLocked(o: RunExtractionOptions, x: ShardRunContext, p: ShardPlan): Promise<ExtractionSummary> {
  const { spec, name, dir, ranges, mine, batches, planned, planSha, total } = p;
  const out = o.outDir;
  const modelSha = (o.meta.model as { sha256?: string }).sha256 ?? null;
  const existing = await readShardRecord(dir);
  if (existing && !o.overwrite && (existing.fingerprint !== x.fingerprint || existing.plan.sha256 !== planSha))
    throw new EmofeatError(
      `${dir} holds a shard extracted with other settings, another index or another model (${describeDifferences(recordedSettings(existing.store.meta), recordedSettings(x.finalize.meta))}; ` +
        `fingerprint ${existing.fingerprint.slice(0, 12)}..., this command's ${x.fingerprint.slice(0, 12)}...); pass --overwrite to replace it, or choose another --out`,
    );
  if (existing?.finished && !o.overwrite) {
    o.onProgress?.({ phase: "done", done: total, total, failed: existing.failures, resumed: total, message: "up to date" });
    return {
      outDir: out,
      status: "up-to-date",
      meta: { ...x.finalize.meta, dtype: x.finalize.dtype ?? "float32", n: existing.rows - existing.failures, d: x.finalize.dim, embeddings_sha256: "", failures: existing.failures, layout: x.finalize.layout, created: existing.finished },
      resumedRows: total,
      shard: { dir, spec, rows: total, planRows: o.batches.reduce((a, b) => a + b.length, 0) },
    };
  }

  // The shard's parts may only be resumed by the same shard of the same plan of the same store.
  const shardFp = createHash("sha256")
    .update(canonicalJson({ store: x.fingerprint, shard: name, plan: planSha, batches: [mine.from, mine.to] }))
    .digest("hex");
  const opened = await openStoreForWriting({
    outDir: dir,
    fingerprint: shardFp,
    settings: { ...o.fingerprintSettings, shard: name },
    totalBatches: batches.length,
    overwrite: o.overwrite,
  });
  if (opened.status !== "ready") throw new Error(`internal: ${dir} holds a finalized store`);

  const started = new Date().toISOString();
  const record: ShardRecord = {
    format: "emofeat.shard",
    format_version: 1,
    shard: { ...spec, name },
    modality: o.modality,
    fingerprint: x.fingerprint,
    index: { path: o.index.path, sha256: o.index.sha256, rows: o.index.utterances.length },
    model: { id: o.meta.model.id, sha256: modelSha },
    plan: {
      batches: o.batches.length,
      rows: o.batches.reduce((a, b) => a + b.length, 0),
      sha256: planSha,
      shards: ranges.map((r) => ({ ...r, rows: o.batches.slice(r.from, r.to).reduce((a, b) => a + b.length, 0) })),
    },
    planned: toRuns(planned),
    store: storeSpec(x.finalize),
    attempt: { started, host: os.hostname(), pid: process.pid, command: ["emofeat", ...process.argv.slice(2)].join(" ") },
    first_started: existing && opened.resumed ? existing.first_started : started,
    finished: null,
    rows: 0,
    failures: 0,
    computed_rows: 0,
    seconds: null,
  };
  await clearShardFailure(dir);
  await writeShardRecord(dir, record);

  const t0 = performance.now();
  const { resumedRows } = await x.runBatches(o, opened.writer, batches, opened.doneBatches, dir);
  const finished = new Date().toISOString();
  const meta = preview(x.finalize, opened.writer, finished);
  Object.assign(record, {
    finished,
    rows: meta.n + meta.failures,
    failures: meta.failures,
    computed_rows: total - resumedRows,
    seconds: Number(((performance.now() - t0) / 1000).toFixed(3)),
  });
  await writeShardRecord(dir, record);
  o.onProgress?.({ phase: "done", done: total, total, failed: meta.failures, resumed: resumedRows });
  return { outDir: out, status: "created", meta, resumedRows, shard: { dir, spec, rows: total, planRows: record.plan.rows } };
}
