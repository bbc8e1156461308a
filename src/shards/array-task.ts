/**
 * Which piece of the work this process does, when a cluster engine starts one process per piece: a Slurm job
 * array task (SLURM_ARRAY_TASK_ID, _MIN, _STEP, _MAX, _COUNT) or a Kubernetes Indexed Job pod
 * (JOB_COMPLETION_INDEX; Kubernetes does not tell the pod how many completions there are, so the count comes
 * from the command line). Used by `extract --shard auto` and `train --fold auto`.
 */
import { EmofeatError, EXIT } from "../errors.js";

export interface ArrayTask {
  /** 0-based position of this task in the array. */
  index: number;
  /** Number of tasks, when the engine says it. */
  count: number | null;
  /** Where index and count came from, for messages. */
  source: string;
  /** With EMOFEAT_ARRAY_BASE: the number of tasks submitted (possibly a subset of the positions). */
  arrayCount?: number | null;
}

type Env = Record<string, string | undefined>;

function envInt(env: Env, name: string): number | null {
  const raw = env[name];
  if (raw === undefined || raw.trim() === "") return null;
  const v = Number(raw.trim());
  if (!Number.isInteger(v) || v < 0) throw new EmofeatError(`${name}="${raw}" is not a non-negative integer`, { exitCode: EXIT.usage });
  return v;
}

/** The array task this process runs as, or null outside Slurm job arrays and Kubernetes Indexed Jobs. */
export function arrayTaskFromEnv(env: Env = process.env): ArrayTask | null {
  const id = envInt(env, "SLURM_ARRAY_TASK_ID");
  // EMOFEAT_ARRAY_BASE (set by the scripts `emofeat cluster slurm` prints): the array id of task 0. Task ids are
  // then positions themselves, so the same script resubmitted for a few tasks (`sbatch --array=2,5 x.sbatch`,
  // where Slurm's MIN and COUNT describe the smaller array) still runs those shards; the count comes from
  // --shards, and an array larger than that is refused.
  const base = envInt(env, "EMOFEAT_ARRAY_BASE");
  if (id !== null && base !== null) {
    if (id < base) throw new EmofeatError(`SLURM_ARRAY_TASK_ID=${id} is below EMOFEAT_ARRAY_BASE=${base} (the array id of task 0)`, { exitCode: EXIT.usage });
    return { index: id - base, count: null, arrayCount: envInt(env, "SLURM_ARRAY_TASK_COUNT"), source: `Slurm array task ${id} (SLURM_ARRAY_TASK_ID${base ? ` - EMOFEAT_ARRAY_BASE ${base}` : ""})` };
  }
  if (id !== null) {
    const min = envInt(env, "SLURM_ARRAY_TASK_MIN") ?? 0;
    const step = envInt(env, "SLURM_ARRAY_TASK_STEP") ?? 1;
    const max = envInt(env, "SLURM_ARRAY_TASK_MAX");
    const count = envInt(env, "SLURM_ARRAY_TASK_COUNT");
    if (step < 1) throw new EmofeatError(`SLURM_ARRAY_TASK_STEP=${step}: expected 1 or more`, { exitCode: EXIT.usage });
    if (id < min || (id - min) % step !== 0)
      throw new EmofeatError(`SLURM_ARRAY_TASK_ID=${id} is not in the array ${min}-${max ?? "?"}:${step}`, { exitCode: EXIT.usage });
    // A list such as --array=0,3,7 has no step: its ids cannot be numbered 0..count-1 from the environment.
    if (max !== null && count !== null && (max - min) / step + 1 !== count)
      throw new EmofeatError(
        `the Slurm array ${min}-${max} has ${count} tasks: not a contiguous range (submit it as --array=0-${count - 1})`,
        { exitCode: EXIT.usage },
      );
    return { index: (id - min) / step, count, source: `Slurm array task ${id} (SLURM_ARRAY_TASK_ID${min ? ` - SLURM_ARRAY_TASK_MIN ${min}` : ""})` };
  }
  const k8s = envInt(env, "JOB_COMPLETION_INDEX");
  if (k8s !== null) return { index: k8s, count: null, source: `Kubernetes Indexed Job (JOB_COMPLETION_INDEX=${k8s})` };
  return null;
}

export interface TaskPick {
  index: number;
  count: number;
}

/**
 * Resolves `auto` from the environment: the index from the array task, the count from the engine and/or
 * `countFlag` (they must agree). `what` names the thing counted ("shards", "folds") for messages.
 */
export function autoTask(o: { env?: Env; count?: number; flag: string; countFlag: string; what: string; countSays?: string }): TaskPick {
  const task = arrayTaskFromEnv(o.env ?? process.env);
  if (!task)
    throw new EmofeatError(
      `${o.flag} auto: neither SLURM_ARRAY_TASK_ID (a Slurm job array task) nor JOB_COMPLETION_INDEX (a Kubernetes Indexed Job pod) ` +
        `is set; run it as an array task, or give the ${o.what.replace(/s$/, "")} explicitly`,
      { exitCode: EXIT.usage },
    );
  if (task.count !== null && o.count !== undefined && task.count !== o.count)
    throw new EmofeatError(
      `${o.flag} auto: the Slurm array has ${task.count} tasks (SLURM_ARRAY_TASK_COUNT) but ${o.countSays ?? `${o.countFlag} says ${o.count}`}; ` +
        `submit the array as --array=0-${o.count - 1}${o.countSays ? "" : `, or fix ${o.countFlag}`}`,
      { exitCode: EXIT.usage },
    );
  if (task.arrayCount != null && o.count !== undefined && task.arrayCount > o.count)
    throw new EmofeatError(
      `${o.flag} auto: the Slurm array has ${task.arrayCount} tasks (SLURM_ARRAY_TASK_COUNT) but ${o.countSays ?? `${o.countFlag} says ${o.count}`}; ` +
        `submit at most --array=0-${o.count - 1}`,
      { exitCode: EXIT.usage },
    );
  const count = task.count ?? o.count;
  if (count === undefined)
    throw new EmofeatError(
      `${o.flag} auto: ${task.source} does not say how many ${o.what} there are; pass ${o.countFlag} N (the Job's completions)`,
      { exitCode: EXIT.usage },
    );
  if (task.index >= count)
    throw new EmofeatError(`${o.flag} auto: ${task.source} is task ${task.index}, but there are only ${count} ${o.what} (0-${count - 1})`, {
      exitCode: EXIT.usage,
    });
  return { index: task.index, count };
}

export interface ShardSpec {
  /** 0-based shard number. */
  k: number;
  /** Number of shards. */
  n: number;
}

/** `--shard K/N` or `--shard auto` (with `--shards N`, required for Kubernetes). */
export function parseShard(value: string, o: { shards?: number; env?: Env } = {}): ShardSpec {
  const v = value.trim();
  if (v === "auto") {
    const t = autoTask({ env: o.env, count: o.shards, flag: "--shard", countFlag: "--shards", what: "shards" });
    return { k: t.index, n: t.count };
  }
  const m = /^(\d+)\s*(?:\/|-of-)\s*(\d+)$/.exec(v);
  if (!m) throw new EmofeatError(`--shard "${value}": expected K/N (0 <= K < N, e.g. 3/16) or auto`, { exitCode: EXIT.usage });
  const k = Number(m[1]);
  const n = Number(m[2]);
  if (n < 1 || k >= n) throw new EmofeatError(`--shard ${value}: K must be 0..${Math.max(0, n - 1)} (shards are numbered from 0)`, { exitCode: EXIT.usage });
  if (o.shards !== undefined && o.shards !== n)
    throw new EmofeatError(`--shard ${value} and --shards ${o.shards} disagree on the number of shards`, { exitCode: EXIT.usage });
  return { k, n };
}

/** The folder name of shard k of n under `<out>/shards/`. */
export function shardName(s: ShardSpec): string {
  return `${s.k}-of-${s.n}`;
}

/** Inverse of shardName; null for names that are not shard folders. */
export function parseShardName(name: string): ShardSpec | null {
  const m = /^(\d+)-of-(\d+)$/.exec(name);
  if (!m) return null;
  const s = { k: Number(m[1]), n: Number(m[2]) };
  return s.n >= 1 && s.k < s.n && shardName(s) === name ? s : null;
}
