/** Options and parsers shared by several commands, so flags mean the same everywhere. */
import { Command, InvalidArgumentError, Option } from "commander";
import { defaultThreads, DEVICE_CHOICES, resolveDevice, type Device } from "../backends/onnx.js";
import { MODEL_DTYPES } from "../models/source.js";
import { checkLayerSpec, LAYERS_HELP } from "../models/layer-spec.js";
import { STORE_DTYPES } from "../store/npy.js";
import type { ProgressListener } from "../extract/progress.js";
import { parseShard, type ShardSpec } from "../shards/array-task.js";
import { recordShardFailure } from "../shards/record.js";
import { LockedError } from "../util/lock.js";
import os from "node:os";
import { EmofeatError, EXIT } from "../errors.js";
import { createReporter } from "./progress.js";

export function intArg(name: string, min = 1): (v: string) => number {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`${name} must be an integer >= ${min}`);
    return n;
  };
}

export function numberArg(name: string, min = 0): (v: string) => number {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n <= min) throw new InvalidArgumentError(`${name} must be a number > ${min}`);
    return n;
  };
}

/** The one wording of --threads everywhere. */
export const THREADS_HELP =
  `onnxruntime intra-op threads (default: one per physical core this process may use, here ${defaultThreads()}; ` +
  `more than the ${os.availableParallelism()} cores are capped to that)`;

/** --threads: a positive integer, capped to the cores with a warning (more threads than cores only slow down). */
export function threadsArg(v: string): number {
  const n = intArg("--threads")(v);
  const cores = os.availableParallelism();
  if (n > cores) {
    process.stderr.write(`emofeat: warning: --threads ${n}: this machine has ${cores} CPU core(s); using ${cores}\n`);
    return cores;
  }
  return n;
}

export const MAX_FAILURES_HELP =
  "exit with status 3 when more rows than this fail: a count (0 = any failure) or a percentage of the rows such as 5% (default: only when every row fails)";

export interface MaxFailures {
  count?: number;
  percent?: number;
  text: string;
}

/** --max-failures N | P% */
export function maxFailuresArg(v: string): MaxFailures {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(%?)\s*$/.exec(v);
  if (!m) throw new InvalidArgumentError("--max-failures takes a count (e.g. 10) or a percentage (e.g. 5%)");
  const x = Number(m[1]);
  if (m[2] === "%") {
    if (x > 100) throw new InvalidArgumentError("--max-failures: a percentage is at most 100%");
    return { percent: x, text: `${x}%` };
  }
  if (!Number.isInteger(x)) throw new InvalidArgumentError("--max-failures: a count is a whole number");
  return { count: x, text: String(x) };
}

/** Throws (exit 3) when `failed` of `total` rows exceed the limit; the work's output is already written. */
export function checkMaxFailures(limit: MaxFailures | undefined, failed: number, total: number, o: { allFailedFails?: boolean } = {}): void {
  // With no limit a run whose every row failed still fails: its output holds nothing usable, and a script
  // must not read exit 0 as success (--max-failures 100% accepts it). Not for one shard of a cluster job: a
  // small shard can hold only bad files, and a failed array task would hold back the merge.
  if (!limit) {
    if ((o.allFailedFails ?? true) && total > 0 && failed === total)
      throw new EmofeatError(`every row failed (${failed} of ${total}): nothing usable was produced (see the failed rows above; --max-failures 100% accepts this)`, {
        exitCode: EXIT.failures,
      });
    return;
  }
  const over = limit.percent !== undefined ? failed > (limit.percent / 100) * total : failed > limit.count!;
  if (over)
    throw new EmofeatError(`${failed} of ${total} rows failed, more than --max-failures ${limit.text} allows (the output is written; see the failed rows above)`, {
      exitCode: EXIT.failures,
    });
}

/** --device: auto, cpu or cuda (docs/gpu.md). */
export function deviceOption(what: string): Option {
  return new Option(
    "--device <device>",
    `${what}: auto = CUDA when onnxruntime-node's CUDA provider is installed and a GPU answers, else the CPU (says which); ` +
      "cuda needs the provider (docs/gpu.md)",
  )
    .choices([...DEVICE_CHOICES])
    .default("auto");
}

/** Resolves --device (auto probes CUDA once) and says which device runs, unless quiet. */
export async function chosenDevice(choice: string, quiet: boolean): Promise<Device> {
  const r = await resolveDevice(choice);
  if (!quiet && r.requested === "auto") process.stderr.write(`emofeat: running on ${r.device} (${r.reason})\n`);
  return r.device;
}

/** --model, --dtype, --device, --threads, --offline */
export function addModelOptions(cmd: Command, example: string): Command {
  return cmd
    .requiredOption("--model <id-or-folder>", `hub id (e.g. ${example}) or a local folder in Hugging Face layout (config.json, tokenizer/preprocessor files, onnx/model.onnx)`)
    .addOption(new Option("--dtype <variant>", "model file variant: fp32 = onnx/model.onnx, fp16 = onnx/model_fp16.onnx, q8 = onnx/model_quantized.onnx").choices([...MODEL_DTYPES]).default("fp32"))
    .addOption(deviceOption("where the encoder runs"))
    .option("--threads <n>", THREADS_HELP, threadsArg)
    .option("--offline", "never touch the network: hub ids must already be cached (also EMOFEAT_OFFLINE=1)", false);
}

function modelOverride(v: string, prev: Record<string, string> = {}): Record<string, string> {
  const eq = v.indexOf("=");
  if (eq <= 0 || eq === v.length - 1) throw new InvalidArgumentError("--model takes STORE=FOLDER_OR_HUB_ID, e.g. text=./models/bert-base-uncased");
  return { ...prev, [v.slice(0, eq)]: v.slice(eq + 1) };
}

/** A run's encoders (predict, serve): --model STORE=FOLDER (repeatable), --offline, --device, --threads */
export function addRunModelOptions(cmd: Command): Command {
  return cmd
    .option("--model <store=folder>", "use this model folder or hub id for a store (repeatable), when the recorded one is not available", modelOverride)
    .option("--offline", "never touch the network: hub models must already be cached", false)
    .addOption(deviceOption("where the encoders run"))
    .option("--threads <n>", THREADS_HELP, threadsArg);
}

/** --csv, --out, --overwrite, --layout, --quiet */
export function addStoreOptions(cmd: Command): Command {
  return cmd
    .requiredOption("--csv <index.csv>", "the index CSV (utter_id, session, audio_path, text, label, split)")
    .requiredOption("--out <dir>", "feature store folder to write (resumable: rerun the same command after an interruption)")
    .option("--overwrite", "replace a store (or unfinished run) made with other settings, or store files emofeat did not write (they are named first)", false)
    .option("--max-failures <n|p%>", MAX_FAILURES_HELP, maxFailuresArg)
    .option("--force-unlock", "remove the lock of another extraction into --out that is known to be gone (e.g. it ran on another machine)", false)
    .addOption(
      new Option("--layout <layout>", "matrix: the store's arrays only; per-utterance: also per_utterance/<utter_id>.npy (that row: (D,), (L, D), or (T_i, [L,] D) for sequences)")
        .choices(["matrix", "per-utterance"])
        .default("matrix"),
    )
    .option(
      "--shard <K/N|auto>",
      "extract only shard K of N (0-based) into <out>/shards/K-of-N/, for cluster array jobs; auto: K from SLURM_ARRAY_TASK_ID " +
        "(minus SLURM_ARRAY_TASK_MIN, N from SLURM_ARRAY_TASK_COUNT) or JOB_COMPLETION_INDEX (Kubernetes, with --shards); then emofeat merge <out>",
    )
    .option("--shards <n>", "number of shards, for --shard auto (required in a Kubernetes Indexed Job; checked against Slurm's count)", intArg("--shards"))
    .option("-q, --quiet", "no progress output", false);
}

const POOLING_HELP: Record<string, string> = {
  mean: "mask-weighted mean over real positions",
  cls: "the first token's state",
  max: "largest value over real positions, per dimension",
  "mean+std": "statistics pooling: [mean; sample std] over real positions (2D wide)",
  none: "no pooling: a sequence store (frames.npy + lengths.npy) with every real token/frame",
};

/** --layers, --pooling, --store-dtype: what an extraction keeps of the encoder (docs/representations.md). */
export function addRepresentationOptions(cmd: Command, poolings: readonly string[]): Command {
  return cmd
    .option("--layers <spec>", LAYERS_HELP, (v: string) => {
      try {
        checkLayerSpec(v);
      } catch (err) {
        throw new InvalidArgumentError((err as Error).message);
      }
      return v;
    }, "last")
    .addOption(new Option("--pooling <mode>", poolings.map((m) => `${m}: ${POOLING_HELP[m]}`).join("; ")).choices([...poolings]).default("mean"))
    .addOption(
      new Option("--store-dtype <dtype>", "array dtype on disk: float32, or float16 (half the size; adds a relative rounding error of at most 2^-11, see docs/representations.md)")
        .choices(Object.keys(STORE_DTYPES))
        .default("float32"),
    );
}

/** `--shard` / `--shards` as the library takes them (undefined: the whole plan). */
export function shardArg(o: Record<string, unknown>): ShardSpec | undefined {
  if (o.shard === undefined) {
    if (o.shards !== undefined) throw new EmofeatError("--shards is used with --shard auto (or K/N)", { exitCode: EXIT.usage });
    return undefined;
  }
  return parseShard(String(o.shard), { shards: o.shards as number | undefined });
}

/**
 * Runs a shard's work; when it fails, notes why in the shard's folder (emofeat status shows it) before the
 * error goes on to the user.
 */
export async function noteShardFailure<T>(out: string, shard: ShardSpec | undefined, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    // Not for a second task refused by the running one's lock: that shard has not failed.
    if (shard && !(err instanceof LockedError)) await recordShardFailure(out, shard, err).catch(() => {});
    throw err;
  }
}

/**
 * Aborts on the first Ctrl-C or SIGTERM (the work stops at the next safe point and keeps what is finished);
 * a second signal exits at once (locks are still released by their exit hook).
 */
export function interruptSignal(what = "after the current batch"): { signal: AbortSignal; dispose(): void } {
  const ctrl = new AbortController();
  const onSig = (sig: NodeJS.Signals) => {
    if (ctrl.signal.aborted) process.exit(EXIT.interrupted);
    process.stderr.write(`\nemofeat: ${sig}: stopping ${what} (a second Ctrl-C or SIGTERM quits at once)...\n`);
    ctrl.abort();
  };
  process.on("SIGINT", onSig);
  process.on("SIGTERM", onSig);
  return {
    signal: ctrl.signal,
    dispose() {
      process.off("SIGINT", onSig);
      process.off("SIGTERM", onSig);
    },
  };
}

/** The options every `extract` subcommand shares, as the library takes them (the device resolved). */
export async function storeAndModelArgs(o: Record<string, unknown>) {
  return {
    csv: o.csv as string,
    out: o.out as string,
    model: o.model as string,
    dtype: o.dtype as "fp32" | "fp16" | "q8",
    // Weight-free builtin:* features run no model: auto means the CPU, silently (an explicit cuda is refused by them).
    device: String(o.model).startsWith("builtin:")
      ? ((o.device === "auto" ? "cpu" : o.device) as Device)
      : await chosenDevice(o.device as string, o.quiet as boolean),
    threads: o.threads as number | undefined,
    offline: o.offline as boolean,
    layout: o.layout as "matrix" | "per-utterance",
    overwrite: o.overwrite as boolean,
    forceUnlock: o.forceUnlock as boolean,
    log: (line: string) => process.stderr.write(`emofeat: ${line}\n`),
    layers: o.layers as string | undefined,
    pooling: o.pooling as "mean" | "cls" | "max" | "mean+std" | "none",
    storeDtype: o.storeDtype as "float32" | "float16",
    shard: shardArg(o),
  };
}

/** Runs long work with a progress reporter and Ctrl-C handling, and always tears both down. */
export async function withProgress<T>(
  label: string,
  quiet: boolean,
  work: (io: { onProgress: ProgressListener; signal: AbortSignal }) => Promise<T>,
): Promise<T> {
  const reporter = createReporter({ quiet, label });
  const interrupt = interruptSignal();
  try {
    return await work({ onProgress: reporter.listener, signal: interrupt.signal });
  } finally {
    reporter.stop();
    interrupt.dispose();
  }
}
