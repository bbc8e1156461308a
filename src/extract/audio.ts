import { AudioEncoder, AUDIO_DEFAULTS, type AudioModelOptions } from "../audio/encoder.js";
import { BuiltinFrameExtractor, isBuiltinModel } from "../audio/builtin.js";
import { CLIP_PREPROCESSING, type ClipInfo, type LoadedClip } from "../audio/clip.js";
import { ClipLoader } from "../audio/clip-loader.js";
import { AudioInputError } from "../audio/errors.js";
import { EmofeatError, UsageError } from "../errors.js";
import { loadIndex, type Utterance } from "../manifest/index-csv.js";
import { STORE_FILES, type Failure } from "../store/meta.js";
import { audioTotals } from "../store/records.js";
import { checkPerUtteranceIds, checkStoreOut, type BatchResult } from "../store/write.js";
import { audioBatchCosts, clipSeconds } from "../shards/durations.js";
import { builtinStoreArgs } from "./builtin-audio.js";
import { checkStoreDtype, modelDataSetting, representationSettings, runExtraction, storeRunArgs, type ExtractionSummary, type StoreRunOptions } from "./run.js";

export interface ExtractAudioOptions extends AudioModelOptions, StoreRunOptions {
  /** Clips per batch (reference mode: the padded batch; exact mode: files loaded together). Default 16. */
  batchSize?: number;
  /** Stop at the first row that fails instead of recording it in failures.csv and going on. */
  failFast?: boolean;
  /** Called once per failed row with a message naming the row, file and reason. */
  onRowFailure?: (message: string, failure: Failure) => void;
}

/** Columns of clips.csv, the per-row audio record written beside the store. */
export const CLIPS_COLUMNS = ["utter_id", "row", "duration_s", "kept_s", "sample_rate", "channels", "truncated"] as const;

function rowMessage(u: Utterance, reason: string): string {
  return `row ${u.row} (${u.utterId}): ${u.audioPath}: ${reason}`;
}

function clipRecord(u: Utterance, info: ClipInfo, kept: number, sr: number): Record<string, string | number | boolean> {
  return {
    utter_id: u.utterId,
    row: u.row,
    duration_s: Number(info.originalSeconds.toFixed(6)),
    kept_s: Number((kept / sr).toFixed(6)),
    sample_rate: info.sampleRate,
    channels: info.channels,
    truncated: info.truncated ? "yes" : "no",
  };
}

/**
 * The batches of an audio extraction: index order in both batching modes. Reference mode needs it (batch
 * composition is part of its semantics); in exact mode the plan does not change any number, and index order
 * keeps resume simple and shards contiguous.
 */
export function audioPlan(rows: number, batchSize: number): number[][] {
  const batches: number[][] = [];
  for (let i = 0; i < rows; i += batchSize) batches.push(Array.from({ length: Math.min(batchSize, rows - i) }, (_, k) => i + k));
  return batches;
}

/**
 * Embeds the audio of every index row into a feature store (resumable; see store/write.ts). A row whose file
 * cannot be used is recorded in failures.csv (or stops the run with `failFast`); no other row is affected.
 */
export async function extractAudio(o: ExtractAudioOptions): Promise<ExtractionSummary> {
  const index = await loadIndex(o.csv, { require: ["audio"] });
  if (o.layout === "per-utterance") checkPerUtteranceIds(index.path, index.utterances);
  await checkStoreOut(o.out, o.overwrite); // before the model loads: a bad --out fails in a second, not after minutes
  const batchSize = o.batchSize ?? AUDIO_DEFAULTS.batchSize;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new UsageError(`--batch-size must be a positive integer (got ${batchSize})`);
  const dtype = checkStoreDtype(o.storeDtype);
  o.onProgress?.({ phase: "load", done: 0, total: index.utterances.length, failed: 0, resumed: 0, message: `loading ${o.model}` });
  // Weight-free baselines (builtin:fbank|mfcc) share everything below except their store settings.
  const encoder = isBuiltinModel(o.model) ? await BuiltinFrameExtractor.load(o) : await AudioEncoder.load(o);
  const loader = new ClipLoader({ targetSampleRate: encoder.targetSampleRate, maxSeconds: encoder.maxSeconds });
  try {
    const batches = audioPlan(index.utterances.length, batchSize);

    const sequence = encoder.pooling === "none";
    // Clips are decoded, resampled and cut in a worker thread, this batch's and the next one's, while the
    // encoder runs on the main thread (audio/clip-loader.ts); at most two batches of clips are held.
    const batchIndex = new Map(batches.map((b, i) => [b, i]));
    const queued = new Map<number, Promise<LoadedClip>>();
    const queue = (p: number) => {
      if (queued.has(p)) return;
      const q = loader.load(index.utterances[p].audioFile);
      q.catch(() => {}); // settled when its batch runs
      queued.set(p, q);
    };
    const take = (p: number) => {
      const q = queued.get(p)!;
      queued.delete(p);
      return q;
    };
    const processBatch = async (positions: number[]): Promise<BatchResult> => {
      const us = positions.map((p) => index.utterances[p]);
      positions.forEach(queue);
      (batches[(batchIndex.get(positions) ?? Infinity) + 1] ?? []).forEach(queue);
      const res = await encoder.embedFiles(
        us.map((u) => u.audioFile),
        batchSize,
        (_file, k) => take(positions[k]),
      );
      const ok: number[] = [];
      const vectors: Float32Array[] = [];
      const lengths: number[] = [];
      const failures: Failure[] = [];
      const records: Record<number, Record<string, string | number | boolean>> = {};
      positions.forEach((p, k) => {
        const u = us[k];
        const err = res.errors[k];
        if (err) {
          const reason = err instanceof AudioInputError ? err.failureReason : `audio: ${err.message}`;
          const failure = { utterId: u.utterId, row: u.row, reason };
          const message = rowMessage(u, reason);
          if (o.failFast) throw new EmofeatError(`${message}\n(stopped by --fail-fast; finished batches are kept, rerun to resume)`);
          o.onRowFailure?.(message, failure);
          failures.push(failure);
          return;
        }
        const clip = res.clips[k]!;
        ok.push(p);
        vectors.push(res.vectors[k]!);
        lengths.push(res.lengths[k]);
        records[p] = clipRecord(u, clip.info, clip.samples.length, encoder.targetSampleRate);
      });
      const flat = new Float32Array(vectors.reduce((a, v) => a + v.length, 0));
      let off = 0;
      for (const v of vectors) {
        flat.set(v, off);
        off += v.length;
      }
      return { positions: ok, vectors: flat, ...(sequence ? { lengths } : {}), failures, records };
    };

    // Shards are balanced by the seconds each batch's clips give the encoder (durations from the index or WAV headers).
    const batchCosts = async () => audioBatchCosts(batches, await clipSeconds(index.utterances), encoder.maxSeconds);
    if (encoder instanceof BuiltinFrameExtractor)
      return await runExtraction({
        index,
        modality: "audio",
        batches,
        batchCosts,
        processBatch,
        ...builtinStoreArgs(encoder, batchSize, index.sha256, dtype),
        sameNumbers: ["batch_size"], // every clip alone
        sequence,
        totals: audioTotals,
        recordsCsv: { file: STORE_FILES.clips, columns: [...CLIPS_COLUMNS] },
        ...storeRunArgs(o),
      });
    const fe = encoder.featureExtractor;
    return await runExtraction({
      index,
      modality: "audio",
      fingerprintSettings: {
        modality: "audio",
        model_sha256: encoder.model.sha256,
        ...modelDataSetting(encoder.model),
        preprocessor_sha256: encoder.preprocessorSha256,
        dtype: encoder.model.dtype,
        device: encoder.device,
        sr: encoder.targetSampleRate,
        max_seconds: encoder.maxSeconds,
        batching: encoder.batching,
        batch_size: batchSize,
        index_sha256: index.sha256,
        ...representationSettings({ layers: encoder.layers, pooling: encoder.pooling, defaultPooling: "mean", dtype, compat: encoder.compat }),
      },
      // Exact batching: no clip is padded, so the batch size only says how many clips are loaded together.
      sameNumbers: encoder.batching === "exact" ? ["batch_size"] : [],
      batches,
      batchCosts,
      dim: encoder.layerWidth,
      rowShape: encoder.layers ? [encoder.layers.length, encoder.layerWidth] : [encoder.layerWidth],
      sequence,
      processBatch,
      meta: {
        model: encoder.model,
        device: encoder.device,
        pooling: encoder.pooling,
        sr: encoder.targetSampleRate,
        max_seconds: encoder.maxSeconds,
        batching: encoder.batching,
        ...(encoder.compat ? { compat: encoder.compat } : {}),
        ...(encoder.layers ? { layers: encoder.layers, hidden_states: encoder.hiddenStates! } : {}),
        settings: {
          batch_size: batchSize,
          do_normalize: fe.doNormalize,
          padding_value: fe.paddingValue,
          attention_mask: encoder.takesAttentionMask ? "passed (the ONNX model declares it)" : "not passed (the ONNX model has no such input)",
          frames:
            encoder.compat === "seq-reference"
              ? `each clip alone, zero-padded to max_seconds (${encoder.padTo} samples); frame mask = sample mask at round(linspace(0, L-1, T')); real frames`
              : encoder.batching === "exact"
                ? "each clip alone (or with clips of identical length), no padding; every frame"
                : "batches in index order padded to their longest clip; frame mask = sample mask at round(linspace(0, L-1, T')); real frames",
          preprocessing: CLIP_PREPROCESSING,
          preprocessor_sha256: encoder.preprocessorSha256,
          conv_kernel: encoder.geometry.kernels,
          conv_stride: encoder.geometry.strides,
        },
      },
      totals: audioTotals,
      recordsCsv: { file: STORE_FILES.clips, columns: [...CLIPS_COLUMNS] },
      ...storeRunArgs(o),
    });
  } finally {
    await loader.close();
    await encoder.dispose();
  }
}

export interface EmbedAudioResult {
  /** Row-major [files.length, dim] (with layers: [files.length, layers, width]). */
  embeddings: Float32Array;
  dim: number;
  /** Per file: duration, rate, channels, whether the cut removed anything. */
  clips: ClipInfo[];
  encoder: Pick<AudioEncoder, "model" | "batching" | "targetSampleRate" | "maxSeconds" | "device" | "takesAttentionMask" | "layers" | "pooling">;
}

/**
 * One-shot API: embeds audio files (in order) with a freshly loaded encoder, then releases it. Throws the
 * first file's error (an AudioInputError with `reason`) if any file cannot be used.
 */
export async function embedAudio(files: readonly string[], o: AudioModelOptions & { batchSize?: number }): Promise<EmbedAudioResult> {
  if (o.pooling === "none") throw new EmofeatError("embedAudio pools each clip; for frame sequences use AudioEncoder.embedFiles with pooling none");
  const encoder = await AudioEncoder.load(o);
  try {
    const res = await encoder.embedFiles(files, o.batchSize ?? AUDIO_DEFAULTS.batchSize);
    const bad = res.errors.findIndex((e) => e !== null);
    if (bad >= 0) throw res.errors[bad]!;
    const w = encoder.rowSize;
    const embeddings = new Float32Array(files.length * w);
    res.vectors.forEach((v, i) => embeddings.set(v!, i * w));
    return {
      embeddings,
      dim: encoder.layerWidth,
      clips: res.clips.map((c) => c!.info),
      encoder: {
        model: encoder.model,
        batching: encoder.batching,
        targetSampleRate: encoder.targetSampleRate,
        maxSeconds: encoder.maxSeconds,
        device: encoder.device,
        takesAttentionMask: encoder.takesAttentionMask,
        layers: encoder.layers,
        pooling: encoder.pooling,
      },
    };
  } finally {
    await encoder.dispose();
  }
}
