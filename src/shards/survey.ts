/**
 * What is in `<out>/shards/`: every shard folder, its record, its failure note, the rows its finished parts
 * hold. `emofeat merge` checks this before writing anything; `emofeat status` prints it.
 */
import { readdir } from "node:fs/promises";
import path from "node:path";
import { StoreWriter } from "../store/write.js";
import { exists, isDirectory } from "../util/fs.js";
import { parseShardName, shardName, type ShardSpec } from "./array-task.js";
import {
  readShardFailure,
  readShardRecord,
  shardPartialDir,
  shardsRoot,
  type ShardFailure,
  type ShardRecord,
} from "./record.js";

export interface ShardSurvey {
  name: string;
  spec: ShardSpec;
  dir: string;
  record: ShardRecord | null;
  failure: ShardFailure | null;
  /** Index positions with a vector or a failure in the shard's finished parts (in part order). */
  positions: number[];
  failures: number;
  /** Finished batches (shard-local numbers). */
  batchesDone: number;
}

export interface ShardsSurvey {
  root: string;
  /** Shard folders, by name. */
  shards: ShardSurvey[];
  /** Entries of shards/ that are not shard folders (K-of-N). */
  strays: string[];
}

/** Reads one shard folder (which may be unfinished or empty). */
export async function surveyShard(dir: string, spec: ShardSpec): Promise<ShardSurvey> {
  const [record, failure] = await Promise.all([readShardRecord(dir), readShardFailure(dir)]);
  const positions: number[] = [];
  let failures = 0;
  let batchesDone = 0;
  const partial = shardPartialDir(dir);
  if (await isDirectory(partial)) {
    const reader = new StoreWriter(dir);
    batchesDone = (await reader.loadParts(partial)).size;
    for (const part of reader.loadedParts) {
      positions.push(...part.positions);
      // Failures carry their 1-based index row; parseIndex numbers rows 1..N in order, so position = row - 1.
      for (const f of part.failures) positions.push(f.row - 1);
      failures += part.failures.length;
    }
  }
  return { name: shardName(spec), spec, dir, record, failure, positions, failures, batchesDone };
}

/** Every shard folder under `<out>/shards/` (null when there is no such folder). */
export async function surveyShards(out: string): Promise<ShardsSurvey | null> {
  const root = shardsRoot(out);
  if (!(await exists(root))) return null;
  const shards: ShardSurvey[] = [];
  const strays: string[] = [];
  for (const name of (await readdir(root)).sort()) {
    if (name.startsWith(".")) continue;
    const spec = parseShardName(name);
    const dir = path.join(root, name);
    if (!spec || !(await isDirectory(dir))) {
      strays.push(name);
      continue;
    }
    shards.push(await surveyShard(dir, spec));
  }
  shards.sort((a, b) => a.spec.n - b.spec.n || a.spec.k - b.spec.k);
  return { root, shards, strays };
}
