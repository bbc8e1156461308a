/**
 * What one shard task of an extraction needs, measured on this machine: the plan is built as the extraction
 * builds it and cut into shards as the tasks will cut it (shards/partition.ts), so the largest shard's work is
 * known exactly (padded tokens for text, seconds of audio after the cut); a few of the plan's batches, the
 * costliest among them, are then run through the encoder with the task's thread count to measure seconds per
 * unit of work (for audio: the real-time factor) and the peak memory of a process holding the model and its
 * largest batch.
 */
import os from "node:os";
import { AudioEncoder, AUDIO_DEFAULTS, type AudioModelOptions } from "../audio/encoder.js";
import { BuiltinFrameExtractor, isBuiltinModel } from "../audio/builtin.js";
import { audioPlan } from "../extract/audio.js";
import { loadIndex } from "../manifest/index-csv.js";
import { audioBatchCosts, clipSeconds } from "../shards/durations.js";
import { paddedTokenCosts, partitionBatches } from "../shards/partition.js";
import { planByLength, TEXT_DEFAULTS, TextEncoder, type TextModelOptions } from "../text/encoder.js";

export interface WorkEstimate {
  modality: "text" | "audio";
  /** What one unit of work is. */
  unit: string;
  rows: number;
  batches: number;
  /** Store width (per row), for the merged store's size. */
  dim: number;
  totalCost: number;
  /** Work of each shard, in plan order. */
  shardCosts: number[];
  shardRows: number[];
  sample: { batches: number; rows: number; cost: number; seconds: number };
  /** Seconds of compute per unit of work (audio: the real-time factor). */
  rate: number;
  loadSeconds: number;
  peakRssBytes: number;
  threads: number;
  host: string;
  cores: number;
}

export interface EstimateOptions {
  csv: string;
  modality: "text" | "audio";
  /** The model options of the extract command (model, dtype, device, max-len / sr / max-seconds, ...). */
  model: TextModelOptions | AudioModelOptions;
  batchSize?: number;
  shards: number;
  /** Threads per task (the encoder is measured with min(threads, cores here)). */
  threads: number;
  /** Batches of the plan to time (default 3: the costliest and others spread over the plan). */
  sampleBatches?: number;
  log?: (line: string) => void;
}

/** The costliest batch, then batches spread evenly over the plan, `k` in all. */
export function sampleBatchIndices(costs: readonly number[], k: number): number[] {
  if (costs.length === 0) return [];
  let top = 0;
  costs.forEach((c, i) => (c > costs[top] ? (top = i) : 0));
  const picked = new Set([top]);
  for (let j = 0; picked.size < Math.min(k, costs.length) && j < 4 * k; j++)
    picked.add(Math.round((j * (costs.length - 1)) / Math.max(1, k - 1)));
  return [...picked];
}

const seconds = (t0: number) => (performance.now() - t0) / 1000;

export async function estimateExtraction(o: EstimateOptions): Promise<WorkEstimate> {
  const log = o.log ?? (() => {});
  const cores = os.availableParallelism();
  const threads = Math.min(o.threads, cores);
  if (threads < o.threads) log(`this machine has ${cores} core(s): the encoder is timed with ${threads} thread(s), not the task's ${o.threads}`);
  const index = await loadIndex(o.csv, { require: [o.modality] });
  const n = index.utterances.length;
  const k = o.sampleBatches ?? 3;
  let t0 = performance.now();

  if (o.modality === "text") {
    const batchSize = o.batchSize ?? TEXT_DEFAULTS.batchSize;
    const encoder = await TextEncoder.load({ ...(o.model as TextModelOptions), threads });
    const loadSeconds = seconds(t0);
    try {
      const tokenized = index.utterances.map((u) => encoder.tokenize(u.text));
      const batches = planByLength(tokenized.map((t) => t.length), batchSize);
      const costs = paddedTokenCosts(batches, tokenized.map((t) => t.length));
      const picks = sampleBatchIndices(costs, k);
      // Sequence stores (pooling none) keep every token's states; the encoder work is the same.
      const run = (batch: number[][]) => (encoder.pooling === "none" ? encoder.sequencesTokenized(batch) : encoder.embedTokenized(batch));
      await run([tokenized[batches[picks[0]][0]]]); // warm-up: the first run optimises the graph
      t0 = performance.now();
      for (const b of picks) await run(batches[b].map((p) => tokenized[p]));
      return finish(o, { unit: "padded tokens", rows: n, batches, costs, picks, sampleSeconds: seconds(t0), loadSeconds, threads, cores, dim: encoder.dim });
    } finally {
      await encoder.dispose();
    }
  }

  const a = o.model as AudioModelOptions;
  const batchSize = o.batchSize ?? AUDIO_DEFAULTS.batchSize;
  const encoder = isBuiltinModel(a.model) ? await BuiltinFrameExtractor.load(a) : await AudioEncoder.load({ ...a, threads });
  const loadSeconds = seconds(t0);
  try {
    const batches = audioPlan(n, batchSize);
    const costs = audioBatchCosts(batches, await clipSeconds(index.utterances), encoder.maxSeconds);
    const picks = sampleBatchIndices(costs, k);
    const files = (b: number) => batches[b].map((p) => index.utterances[p].audioFile);
    await encoder.embedFiles(files(picks[0]).slice(0, 1), batchSize); // warm-up
    t0 = performance.now();
    for (const b of picks) await encoder.embedFiles(files(b), batchSize);
    return finish(o, { unit: "seconds of audio", rows: n, batches, costs, picks, sampleSeconds: seconds(t0), loadSeconds, threads, cores, dim: encoder.dim });
  } finally {
    await encoder.dispose();
  }
}

function finish(
  o: EstimateOptions,
  m: { unit: string; rows: number; batches: number[][]; costs: number[]; picks: number[]; sampleSeconds: number; loadSeconds: number; threads: number; cores: number; dim: number },
): WorkEstimate {
  const ranges = partitionBatches(m.costs, o.shards);
  const sampleCost = m.picks.reduce((s, b) => s + m.costs[b], 0);
  return {
    modality: o.modality,
    unit: m.unit,
    rows: m.rows,
    batches: m.batches.length,
    dim: m.dim,
    totalCost: m.costs.reduce((s, c) => s + c, 0),
    shardCosts: ranges.map((r) => r.cost),
    shardRows: ranges.map((r) => m.batches.slice(r.from, r.to).reduce((s, b) => s + b.length, 0)),
    sample: { batches: m.picks.length, rows: m.picks.reduce((s, b) => s + m.batches[b].length, 0), cost: sampleCost, seconds: m.sampleSeconds },
    rate: sampleCost > 0 ? m.sampleSeconds / sampleCost : 0,
    loadSeconds: m.loadSeconds,
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
    threads: m.threads,
    host: os.hostname(),
    cores: m.cores,
  };
}

export interface TaskResources {
  cpus: number;
  /** Memory limit per task, GiB. */
  memGiB: number;
  /** Time limit per task, seconds (whole minutes). */
  timeSeconds: number;
  /** Compute the largest shard needs at the measured rate, before margins. */
  computeSeconds: number;
  mergeMemGiB: number;
  mergeTimeSeconds: number;
}

const GiB = 1024 ** 3;
const ceilMinutes = (s: number) => Math.ceil(s / 60) * 60;

/**
 * Limits for one task: time = the largest shard's work x the measured rate x `timeFactor` (other nodes may be
 * slower, and the sample is small), plus twice the model load and five minutes; memory = the measured peak x
 * `memFactor`, plus 0.5 GiB, in whole GiB. The merge reads one part at a time but keeps every row's record,
 * and writes the store once: 1.5 GiB plus 1 KiB per row, in whole GiB, and a time for copying the store twice at 50 MB/s.
 */
export function taskResources(e: WorkEstimate, o: { cpus: number; timeFactor?: number; memFactor?: number }): TaskResources {
  const maxCost = Math.max(0, ...e.shardCosts);
  const computeSeconds = maxCost * e.rate;
  const storeBytes = e.rows * e.dim * 4;
  return {
    cpus: o.cpus,
    memGiB: Math.max(1, Math.ceil((e.peakRssBytes * (o.memFactor ?? 1.5)) / GiB + 0.5)),
    timeSeconds: ceilMinutes(computeSeconds * (o.timeFactor ?? 2) + 2 * e.loadSeconds + 300),
    computeSeconds,
    mergeMemGiB: Math.ceil(1.5 + (e.rows * 1024) / GiB),
    mergeTimeSeconds: ceilMinutes(600 + (2 * storeBytes) / 50e6),
  };
}
