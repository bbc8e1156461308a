import path from "node:path";
import { Command, CommanderError } from "commander";
import { estimateExtraction, taskResources } from "../../cluster/estimate.js";
import type { ClusterJob } from "../../cluster/templates.js";
import { env } from "../../env.js";
import { EmofeatError, EXIT } from "../../errors.js";
import { looksLikeLocalPath } from "../../models/source.js";
import { VERSION } from "../../version.js";
import { intArg, numberArg } from "../options.js";

interface CapturedExtract {
  modality: "text" | "audio";
  opts: Record<string, unknown>;
}

/**
 * Parses `extract text|audio ...` with the real extract command's options (so defaults and checks are the
 * same), capturing them instead of running it.
 */
async function parseExtract(args: string[], buildProgram: () => Command): Promise<CapturedExtract> {
  if (args[0] !== "extract" || (args[1] !== "text" && args[1] !== "audio"))
    throw new EmofeatError(`after --, give the extraction to run: extract text ... or extract audio ... (got "${args.slice(0, 2).join(" ")}")`, {
      exitCode: EXIT.usage,
    });
  const program = buildProgram();
  let captured: CapturedExtract | null = null;
  const extract = program.commands.find((c) => c.name() === "extract")!;
  for (const sub of extract.commands)
    sub.action((opts: Record<string, unknown>) => {
      captured = { modality: sub.name() as "text" | "audio", opts };
    });
  const quiet = (c: Command) => {
    c.exitOverride().configureOutput({ writeErr: () => {}, writeOut: () => {} });
    c.commands.forEach(quiet);
  };
  quiet(program);
  try {
    await program.parseAsync(args, { from: "user" });
  } catch (err) {
    if (err instanceof CommanderError) throw new EmofeatError(`the extract command after --: ${err.message.replace(/^error: /, "")}`, { exitCode: EXIT.usage });
    throw err;
  }
  if (!captured) throw new EmofeatError("the command after -- did not parse as an extraction", { exitCode: EXIT.usage });
  const c = captured as CapturedExtract;
  if (c.opts.shard !== undefined || c.opts.shards !== undefined)
    throw new EmofeatError("leave --shard and --shards out of the extract command: the job adds them (--shards on emofeat cluster sets the count)", {
      exitCode: EXIT.usage,
    });
  return c;
}

/** Replaces the value of `--flag v` / `--flag=v` in args. */
function replaceOption(args: string[], flag: string, value: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === flag) {
      out.push(flag, value);
      i++;
    } else if (args[i].startsWith(`${flag}=`)) out.push(`${flag}=${value}`);
    else out.push(args[i]);
  }
  return out;
}

interface CommonOpts {
  csv?: string;
  shards: number;
  cpusPerTask: number;
  timeFactor: number;
  memFactor: number;
  sampleBatches: number;
  name?: string;
  quiet: boolean;
}

/** Measures the work and builds the job shared by both engines. */
async function buildJob(args: string[], o: CommonOpts, absolute: boolean, buildProgram: () => Command): Promise<ClusterJob> {
  let extractArgs = [...args];
  if (o.csv) {
    if (extractArgs.includes("--csv") || extractArgs.some((a) => a.startsWith("--csv="))) throw new EmofeatError("give --csv once: before -- or in the extract command", { exitCode: EXIT.usage });
    extractArgs.push("--csv", o.csv);
  }
  // The job asks for CPUs only, and the device is part of the store's fingerprint: with the default `auto`, a
  // node whose GPU is visible would write a shard the merge refuses (device cuda among cpu shards).
  if (!extractArgs.some((a) => a === "--device" || a.startsWith("--device="))) extractArgs.push("--device", "cpu");
  const { modality, opts } = await parseExtract(extractArgs, buildProgram);
  const csv = opts.csv as string;
  const out = opts.out as string;
  // Slurm tasks start in the submission folder, usually on the shared file system; absolute paths make the
  // script work from anywhere.
  if (absolute) {
    extractArgs = replaceOption(replaceOption(extractArgs, "--csv", path.resolve(csv)), "--out", path.resolve(out));
    const model = opts.model as string;
    if (!model.startsWith("builtin:") && (await looksLikeLocalPath(model))) extractArgs = replaceOption(extractArgs, "--model", path.resolve(model));
  }
  const log = (line: string) => {
    if (!o.quiet) process.stderr.write(`emofeat cluster: ${line}\n`);
  };
  log(`measuring ${opts.model} on this machine (${o.sampleBatches} sample batches, ${o.cpusPerTask} threads)...`);
  const estimate = await estimateExtraction({
    csv,
    modality,
    model: {
      model: opts.model as string,
      dtype: opts.dtype as "fp32",
      device: opts.device as "cpu",
      offline: opts.offline as boolean,
      // What the store keeps (--layers, --pooling) changes the encoder's outputs and so its time and memory.
      ...(opts.layers !== undefined ? { layers: opts.layers as string } : {}),
      ...(opts.pooling !== undefined ? { pooling: opts.pooling as "mean" } : {}),
      ...(modality === "text"
        ? { maxLen: opts.maxLen as number }
        : { targetSampleRate: opts.targetSr as number, maxSeconds: opts.maxSeconds as number, batching: opts.batching as "exact" }),
    },
    batchSize: opts.batchSize as number,
    shards: o.shards,
    threads: (opts.threads as number | undefined) ?? o.cpusPerTask,
    sampleBatches: o.sampleBatches,
    log,
  });
  const model = opts.model as string;
  const hub = !model.startsWith("builtin:") && !(await looksLikeLocalPath(model));
  return {
    extractArgs,
    out: absolute ? path.resolve(out) : out,
    shards: o.shards,
    name: o.name ?? `emofeat-${modality}`,
    resources: taskResources(estimate, { cpus: o.cpusPerTask, timeFactor: o.timeFactor, memFactor: o.memFactor }),
    estimate,
    env: { EMOFEAT_OFFLINE: "1", ...(hub && absolute ? { EMOFEAT_CACHE_DIR: path.resolve(env.cacheDir) } : {}) },
    generated: { version: VERSION, time: new Date().toISOString() },
  };
}

function addCommon(cmd: Command): Command {
  return cmd
    .argument("<extract...>", "after --: the extraction, as you would run it on one machine (extract text|audio --csv ... --model ... --out ...)")
    .option("--csv <index.csv>", "the index CSV (added to the extract command)")
    .requiredOption("--shards <n>", "number of shards (array tasks / pods)", intArg("--shards"))
    .option("--cpus-per-task <n>", "cores per task; the encoder is timed with this many threads", intArg("--cpus-per-task"), 4)
    .option("--time-factor <x>", "time limit = the largest shard's measured compute x this, plus model loads and 5 min", numberArg("--time-factor"), 2)
    .option("--mem-factor <x>", "memory limit = measured peak x this, plus 0.5 GiB", numberArg("--mem-factor"), 1.5)
    .option("--sample-batches <n>", "batches of the plan timed on this machine (the costliest and others spread over the plan)", intArg("--sample-batches"), 3)
    .option("--name <name>", "job name (default emofeat-text / emofeat-audio)")
    .option("-q, --quiet", "no progress output", false);
}

export function registerCluster(program: Command, buildProgram: () => Command): void {
  const cluster = program
    .command("cluster")
    .summary("print a Slurm job array script or Kubernetes Indexed Job for a sharded extraction")
    .description(
      "Print a job description that runs an extraction as N shards on a cluster, sized from measurements on this machine: " +
        "the plan is cut into shards exactly as the tasks will cut it, a few batches are timed with --cpus-per-task threads " +
        "(the real-time factor for audio), and the peak memory is measured. Each task runs `emofeat extract ... --shard auto`; " +
        "a merge job assembles the store. See docs/cluster.md for the assumptions.",
    );
  addCommon(
    cluster
      .command("slurm")
      .summary("sbatch script: job array + dependent merge job")
      .description(
        "Print an sbatch script: --array=0-(N-1), --cpus-per-task, --mem and --time from the measurements, the extract command " +
          "with --shard auto, and a merge job the first task submits with --dependency=afterok on the array. Paths become absolute.",
      ),
  )
    .option("--partition <name>", "Slurm partition")
    .option("--account <name>", "Slurm account")
    .option("--log-dir <dir>", "folder for the job logs (must exist; default: the submission folder)")
    .option("--emofeat <command>", "how the nodes start emofeat (emofeat on PATH; $EMOFEAT in the job's environment overrides it)", "emofeat")
    .addHelpText(
      "after",
      "\nExample:\n  emofeat cluster slurm --csv data/index.csv --shards 16 -- extract audio --model ./models/wavlm --out features/audio > extract.sbatch\n  sbatch extract.sbatch",
    )
    .action(async (args: string[], o: CommonOpts & { partition?: string; account?: string; logDir?: string; emofeat: string }) => {
      const job = await buildJob(args, o, true, buildProgram);
      const { slurmScript } = await import("../../cluster/templates.js");
      process.stdout.write(slurmScript(job, { emofeat: o.emofeat, partition: o.partition, account: o.account, logDir: o.logDir && path.resolve(o.logDir) }));
    });
  addCommon(
    cluster
      .command("k8s")
      .summary("Kubernetes Indexed Job + merge Job (YAML)")
      .description(
        "Print a Kubernetes Indexed Job (completions = parallelism = shards, one pod per shard, the shared volume mounted, " +
          "cpu and memory from the measurements) and a merge Job that waits for the shards on the volume. Paths in the command " +
          "are used as given: relative ones resolve against --workdir (default: the mount path), so run this from the volume's " +
          "root as this machine mounts it.",
      ),
  )
    .requiredOption("--pvc <claim>", "PersistentVolumeClaim of the shared volume holding the index, audio, model and output")
    .option("--image <image>", "container image with emofeat", `emofeat:${VERSION}`)
    .option("--mount-path <dir>", "where the volume is mounted in the pods", "/data")
    .option("--workdir <dir>", "working directory of the pods (default: the mount path)")
    .option("--namespace <ns>", "Kubernetes namespace")
    .option("--cache-dir <dir>", "EMOFEAT_CACHE_DIR in the pods (where hub models are cached on the volume)")
    .addHelpText(
      "after",
      "\nExample:\n  emofeat cluster k8s --pvc corpora --csv data/index.csv --shards 16 -- extract audio --model models/wavlm --out features/audio > job.yaml\n  kubectl apply -f job.yaml",
    )
    .action(async (args: string[], o: CommonOpts & { pvc: string; image: string; mountPath: string; workdir?: string; namespace?: string; cacheDir?: string }) => {
      const job = await buildJob(args, o, false, buildProgram);
      if (o.cacheDir) job.env.EMOFEAT_CACHE_DIR = o.cacheDir;
      const { k8sManifests } = await import("../../cluster/templates.js");
      process.stdout.write(
        k8sManifests(job, {
          image: o.image,
          pvc: o.pvc,
          mountPath: o.mountPath,
          workdir: o.workdir,
          namespace: o.namespace,
          // The shards may queue before they run: wait for as long as they could take one after the other.
          waitSeconds: job.resources.timeSeconds * job.shards,
        }),
      );
    });
}
