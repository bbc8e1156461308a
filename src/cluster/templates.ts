/**
 * Job descriptions for cluster engines, as they are: a Slurm sbatch script with a job array (one task per
 * shard) that submits a dependent merge job, and a Kubernetes Indexed Job (completions = parallelism = shards)
 * with a merge Job that waits for the shards on the shared volume. Both run the same
 * `emofeat extract ... --shard auto` command; emofeat needs no coordinator of its own. docs/cluster.md lists
 * the assumptions (shared file system, the same emofeat everywhere, the model available offline).
 */
import YAML from "yaml";
import type { TaskResources, WorkEstimate } from "./estimate.js";

export interface ClusterJob {
  /** The extract command after `emofeat` (extract text|audio ...), paths as the tasks see them, without --shard/--shards. */
  extractArgs: string[];
  /** The store folder (--out) as the tasks see it. */
  out: string;
  shards: number;
  /** Job name (Slurm --job-name, Kubernetes metadata.name). */
  name: string;
  resources: TaskResources;
  estimate: WorkEstimate;
  /** Environment for every task (EMOFEAT_OFFLINE, EMOFEAT_CACHE_DIR). */
  env: Record<string, string>;
  /** How this description was made, for its header. */
  generated: { version: string; time: string };
}

/** A word for POSIX sh: unchanged when safe, else single-quoted. */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_\-+=/.,:@%]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** Slurm's time format: [D-]HH:MM:SS. */
export function slurmTime(totalSeconds: number): string {
  const s = Math.max(60, Math.ceil(totalSeconds));
  const d = Math.floor(s / 86400);
  const hms = [Math.floor((s % 86400) / 3600), Math.floor((s % 3600) / 60), s % 60].map((v) => String(v).padStart(2, "0")).join(":");
  return d > 0 ? `${d}-${hms}` : hms;
}

const fmt = (x: number, digits = 1) => (Math.abs(x) >= 100 ? x.toFixed(0) : x.toFixed(digits));

/** The estimate, as comment lines (without the comment marker). */
function estimateLines(job: ClusterJob): string[] {
  const e = job.estimate;
  const r = job.resources;
  const max = Math.max(0, ...e.shardCosts);
  const mean = e.shardCosts.length ? e.totalCost / e.shardCosts.length : 0;
  // rate: seconds per unit; for text shown per 1000 padded tokens.
  const rate = e.modality === "audio" ? `real-time factor ${e.rate.toPrecision(3)}` : `${(e.rate * 1e6).toPrecision(3)} ms per 1000 padded tokens`;
  const idle = e.shardRows.filter((rows) => rows === 0).length;
  return [
    `${e.modality} extraction of ${e.rows} rows (${e.batches} batch${e.batches === 1 ? "" : "es"}) in ${job.shards} shards; ${fmt(e.totalCost)} ${e.unit} in all`,
    ...(idle > 0 ? [`WARNING: ${idle} shard(s) get no batch (the plan has ${e.batches}): use fewer shards, or a smaller --batch-size`] : []),
    `largest shard: ${fmt(max)} ${e.unit} (mean ${fmt(mean)}), ${Math.max(0, ...e.shardRows)} rows`,
    `measured on ${e.host} (${e.threads} thread${e.threads === 1 ? "" : "s"}): ${rate} over ${e.sample.batches} sample batch${e.sample.batches === 1 ? "" : "es"} ` +
      `(${e.sample.rows} rows, ${fmt(e.sample.cost)} ${e.unit} in ${e.sample.seconds.toFixed(2)} s); model load ${e.loadSeconds.toFixed(1)} s; ` +
      `peak memory ${(e.peakRssBytes / 1024 ** 3).toFixed(2)} GiB`,
    `per task: ~${fmt(r.computeSeconds / 60)} min of compute -> time limit ${slurmTime(r.timeSeconds)} (x2, + 2 model loads + 5 min); ` +
      `memory ${r.memGiB} GiB (peak x1.5 + 0.5 GiB)`,
    `merge: ${r.mergeMemGiB} GiB, ${slurmTime(r.mergeTimeSeconds)}`,
  ];
}

function header(job: ClusterJob, engine: string): string[] {
  return [
    `${engine} job for: emofeat ${job.extractArgs.join(" ")}`,
    `made by emofeat ${job.generated.version} at ${job.generated.time}`,
    ...estimateLines(job),
    `Assumptions (docs/cluster.md): ${job.out} is on a file system every node shares; every node runs emofeat ${job.generated.version};`,
    `the model is available offline on every node (EMOFEAT_OFFLINE=1 is set: nothing is downloaded).`,
  ];
}

/** The task's command line (argv), with the shard selection and thread count added. */
export function taskArgs(job: ClusterJob, threads: string): string[] {
  const hasThreads = job.extractArgs.includes("--threads");
  return [...job.extractArgs, "--shard", "auto", "--shards", String(job.shards), ...(hasThreads ? [] : ["--threads", threads])];
}

export interface SlurmOptions {
  /** Command that runs emofeat on the nodes (default: emofeat on PATH; overridable with $EMOFEAT at submission). */
  emofeat: string;
  partition?: string;
  account?: string;
  /** Folder for the job logs (default: the submission folder). */
  logDir?: string;
}

/** The sbatch script: an array of one task per shard; the first task submits the merge with --dependency=afterok. */
export function slurmScript(job: ClusterJob, o: SlurmOptions): string {
  const r = job.resources;
  const log = (file: string) => (o.logDir ? `${o.logDir.replace(/\/$/, "")}/${file}` : file);
  const extra = [o.partition ? `--partition=${o.partition}` : null, o.account ? `--account=${o.account}` : null].filter((x): x is string => x !== null);
  const q = shellQuote;
  const out = q(job.out);
  const lines = [
    "#!/bin/bash",
    ...header(job, "Slurm").map((l) => `# ${l}`),
    `# Submit: sbatch ${job.name}.sbatch    Watch: emofeat status ${q(job.out)}`,
    `#SBATCH --job-name=${job.name}`,
    `#SBATCH --array=0-${job.shards - 1}`,
    `#SBATCH --cpus-per-task=${r.cpus}`,
    `#SBATCH --mem=${r.memGiB}G`,
    `#SBATCH --time=${slurmTime(r.timeSeconds)}`,
    `#SBATCH --output=${log(`${job.name}-%A_%a.out`)}`,
    ...extra.map((x) => `#SBATCH ${x}`),
    "set -euo pipefail",
    ...Object.entries(job.env).map(([k, v]) => `export ${k}=${q(v)}`),
    "# Shard K = SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN. A part of the array submitted again, to rerun a shard",
    `# (it resumes where it stopped): sbatch --array=K ${job.name}.sbatch; then task ids are shard numbers.`,
    `[ "\${SLURM_ARRAY_TASK_COUNT:-${job.shards}}" = "${job.shards}" ] || export EMOFEAT_ARRAY_BASE=0`,
    `EMOFEAT=\${EMOFEAT:-${q(o.emofeat)}}`,
    "",
    "# The first task submits the merge job, once (mkdir is atomic): Slurm starts it when every array task has",
    "# succeeded (afterok) and cancels it if one fails for good; then fix that task, rerun it, and run emofeat merge.",
    `if [ "\${SLURM_ARRAY_TASK_ID}" = "\${SLURM_ARRAY_TASK_MIN:-0}" ] && mkdir -p ${out}/shards && mkdir ${out}/shards/.merge-submitted 2>/dev/null; then`,
    `  sbatch --dependency=afterok:"\${SLURM_ARRAY_JOB_ID}" --kill-on-invalid-dep=yes --job-name=${job.name}-merge \\`,
    `    --cpus-per-task=1 --mem=${r.mergeMemGiB}G --time=${slurmTime(r.mergeTimeSeconds)} --output=${log(`${job.name}-merge-%j.out`)}${extra.map((x) => ` ${x}`).join("")} \\`,
    `    --wrap="\${EMOFEAT} merge ${out}" \\`,
    `    || echo "emofeat: could not submit the merge job; when every task is done run: emofeat merge ${job.out}" >&2`,
    "fi",
    "",
    "# Each task extracts its shard into <out>/shards/K-of-N/; a task that is requeued or rerun resumes where it stopped.",
    `\${EMOFEAT} ${taskArgs(job, '"${SLURM_CPUS_PER_TASK}"').map((a) => (a === '"${SLURM_CPUS_PER_TASK}"' ? a : q(a))).join(" ")}`,
    "",
  ];
  return lines.join("\n");
}

export interface K8sOptions {
  image: string;
  /** PersistentVolumeClaim of the shared volume. */
  pvc: string;
  /** Where the volume is mounted in the containers. */
  mountPath: string;
  /** Working directory of the containers (default: mountPath); relative paths in the command resolve here. */
  workdir?: string;
  namespace?: string;
  /** The merge Job waits this long for the shards. */
  waitSeconds: number;
  /** Retries over all pods before the Job fails. */
  backoffLimit?: number;
}

/** An Indexed Job (one pod per shard) and a merge Job that waits for the shards, as one YAML stream. */
export function k8sManifests(job: ClusterJob, o: K8sOptions): string {
  const r = job.resources;
  const env = Object.entries(job.env).map(([name, value]) => ({ name, value }));
  const meta = (name: string) => ({
    name,
    ...(o.namespace ? { namespace: o.namespace } : {}),
    labels: { "app.kubernetes.io/name": "emofeat", "app.kubernetes.io/component": name.endsWith("-merge") ? "merge" : "extract" },
  });
  const volume = { name: "data", persistentVolumeClaim: { claimName: o.pvc } };
  const mount = { name: "data", mountPath: o.mountPath };
  const extract = {
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: meta(job.name),
    spec: {
      completionMode: "Indexed",
      completions: job.shards,
      parallelism: job.shards,
      backoffLimit: o.backoffLimit ?? 2 * job.shards,
      // A failed pod's replacement starts only once it has stopped, so a shard never has two writers (Kubernetes >= 1.29).
      podReplacementPolicy: "Failed",
      template: {
        metadata: { labels: meta(job.name).labels },
        spec: {
          restartPolicy: "Never",
          containers: [
            {
              name: "extract",
              image: o.image,
              workingDir: o.workdir ?? o.mountPath,
              command: ["emofeat", ...taskArgs(job, String(r.cpus))],
              // The Job's uid, so a replacement pod (same Job, same index) takes over the lock its predecessor left.
              env: [...env, { name: "EMOFEAT_JOB_UID", valueFrom: { fieldRef: { fieldPath: "metadata.labels['batch.kubernetes.io/controller-uid']" } } }],
              resources: {
                requests: { cpu: String(r.cpus), memory: `${r.memGiB}Gi` },
                limits: { cpu: String(r.cpus), memory: `${r.memGiB}Gi` },
              },
              volumeMounts: [mount],
            },
          ],
          volumes: [volume],
        },
      },
    },
  };
  const merge = {
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: meta(`${job.name}-merge`),
    spec: {
      backoffLimit: 1,
      template: {
        metadata: { labels: meta(`${job.name}-merge`).labels },
        spec: {
          restartPolicy: "Never",
          containers: [
            {
              name: "merge",
              image: o.image,
              workingDir: o.workdir ?? o.mountPath,
              command: ["emofeat", "merge", job.out, "--wait", String(o.waitSeconds)],
              env,
              resources: { requests: { cpu: "1", memory: `${r.mergeMemGiB}Gi` }, limits: { memory: `${r.mergeMemGiB}Gi` } },
              volumeMounts: [mount],
            },
          ],
          volumes: [volume],
        },
      },
    },
  };
  const first = new YAML.Document(extract);
  first.commentBefore = [
    ...header(job, "Kubernetes").map((l) => ` ${l}`),
    ` Apply: kubectl apply -f job.yaml    Watch: emofeat status ${job.out} (on a machine that mounts the volume)`,
    ` Pod K runs shard K (JOB_COMPLETION_INDEX); a failed pod is retried and resumes its shard. Needs Kubernetes 1.29+ (podReplacementPolicy).`,
  ].join("\n");
  const second = new YAML.Document(merge);
  second.commentBefore = ` The merge Job waits (emofeat merge --wait) until every shard on the volume is finished, then writes the store.`;
  return `${first.toString({ lineWidth: 0 })}---\n${second.toString({ lineWidth: 0 })}`;
}
