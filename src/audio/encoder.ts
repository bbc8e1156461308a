/**
 * A frozen speech encoder (WavLM / HuBERT / wav2vec2 exported to ONNX, loaded by transformers.js) and the two
 * batching modes of the audio pipeline.
 *
 *  - exact (default): no clip is ever padded. Clips of identical length may share a model call (nothing is
 *    padded then); every other clip runs alone. Frames = the conv output-length formula, all real, plain mean.
 *    An utterance's embedding does not depend on what else is in its batch.
 *  - reference: the reference system's batches: clips padded to the batch's longest, attention mask from the
 *    feature extractor, frame mask = sample mask at round(linspace(0, L-1, T')), masked mean. WavLM's first
 *    conv layer normalises over time (GroupNorm), so padding changes every frame, and the embeddings depend
 *    on batch composition; use this only to reproduce published feature sets.
 *
 * `attention_mask` is passed if and only if the ONNX model declares that input (HF exports WavLM Base+
 * without it, as its feature extractor config says).
 */
import { Tensor } from "@huggingface/transformers";
import { loadEncoderModel, type EncoderModel } from "../models/load.js";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { env } from "../env.js";
import { checkDevice, tensorToFloat32, type Device } from "../backends/onnx.js";
import { EmofeatError } from "../errors.js";
import { checkDtype, modelRecord, readModelConfig, resolveModel, type ModelDtype } from "../models/source.js";
import { pool } from "../pooling.js";
import type { ModelRecord } from "../store/meta.js";
import { sha256File } from "../util/fs.js";
import { loadClip, type LoadedClip } from "./clip.js";
import type { AudioStream } from "./decode.js";
import { AudioInputError } from "./errors.js";
import {
  convGeometryFrom,
  convOutputLength,
  extractFeatures,
  featureExtractorConfigFrom,
  minSamplesForOneFrame,
  referenceFrameMask,
  type ConvGeometry,
  type FeatureExtractorConfig,
} from "./preprocess.js";

export const BATCHING_MODES = ["exact", "reference"] as const;
export type BatchingMode = (typeof BATCHING_MODES)[number];

export interface AudioModelOptions {
  /** Hub id (e.g. Xenova/wavlm-base-plus) or a local folder in Hugging Face layout. */
  model: string;
  dtype?: ModelDtype;
  device?: Device;
  threads?: number;
  offline?: boolean;
  /** Rate the clips are resampled to (default 16000; must match the model's feature extractor). */
  targetSampleRate?: number;
  /** Keep at most this many seconds of each clip (default 10). */
  maxSeconds?: number;
  batching?: BatchingMode;
}

export const AUDIO_DEFAULTS = {
  dtype: "fp32",
  device: "cpu",
  targetSampleRate: 16000,
  maxSeconds: 10,
  batching: "exact",
  batchSize: 16,
} as const;

interface EncoderInit {
  model: ModelRecord;
  dim: number;
  device: Device;
  batching: BatchingMode;
  targetSampleRate: number;
  maxSeconds: number;
  featureExtractor: FeatureExtractorConfig;
  geometry: ConvGeometry;
  takesAttentionMask: boolean;
  preprocessorSha256: string;
  session: EncoderModel;
}

export class AudioEncoder {
  readonly model: ModelRecord;
  readonly dim: number;
  readonly device: Device;
  readonly batching: BatchingMode;
  readonly targetSampleRate: number;
  readonly maxSeconds: number;
  readonly featureExtractor: FeatureExtractorConfig;
  readonly geometry: ConvGeometry;
  /** Whether the ONNX model declares an attention_mask input (and so gets one). */
  readonly takesAttentionMask: boolean;
  /** sha256 of preprocessor_config.json: normalisation and padding depend on it. */
  readonly preprocessorSha256: string;
  private readonly session: EncoderModel;

  private constructor(init: EncoderInit) {
    this.model = init.model;
    this.dim = init.dim;
    this.device = init.device;
    this.batching = init.batching;
    this.targetSampleRate = init.targetSampleRate;
    this.maxSeconds = init.maxSeconds;
    this.featureExtractor = init.featureExtractor;
    this.geometry = init.geometry;
    this.takesAttentionMask = init.takesAttentionMask;
    this.preprocessorSha256 = init.preprocessorSha256;
    this.session = init.session;
  }

  static async load(o: AudioModelOptions): Promise<AudioEncoder> {
    const dtype = checkDtype(o.dtype ?? AUDIO_DEFAULTS.dtype);
    const device = checkDevice(o.device ?? AUDIO_DEFAULTS.device);
    const batching = o.batching ?? AUDIO_DEFAULTS.batching;
    if (!(BATCHING_MODES as readonly string[]).includes(batching))
      throw new EmofeatError(`unknown batching "${batching}" (expected one of: ${BATCHING_MODES.join(", ")})`);
    const targetSampleRate = o.targetSampleRate ?? AUDIO_DEFAULTS.targetSampleRate;
    if (!Number.isInteger(targetSampleRate) || targetSampleRate <= 0)
      throw new EmofeatError(`--target-sr must be a positive integer (got ${targetSampleRate})`);
    const maxSeconds = o.maxSeconds ?? AUDIO_DEFAULTS.maxSeconds;
    if (!(maxSeconds > 0) || !Number.isFinite(maxSeconds)) throw new EmofeatError(`--max-seconds must be a number > 0 (got ${maxSeconds})`);
    const offline = o.offline ?? env.offline;
    const required = [
      { file: "config.json", why: "the model configuration (conv_kernel, conv_stride, hidden_size)" },
      { file: "preprocessor_config.json", why: "the feature extractor settings (do_normalize, padding_value, sampling_rate)" },
    ];
    const resolved = await resolveModel(o.model, dtype, required, offline);
    const session = await loadEncoderModel(resolved, { device, threads: o.threads, offline }, required);
    try {
      const config = await readModelConfig(resolved);
      const preprocessorFile = path.join(resolved.dir, "preprocessor_config.json");
      const featureExtractor = featureExtractorConfigFrom(JSON.parse(await readFile(preprocessorFile, "utf8")) as Record<string, unknown>);
      if (featureExtractor.samplingRate !== targetSampleRate)
        throw new EmofeatError(
          `${resolved.id}: the model expects ${featureExtractor.samplingRate} Hz audio (preprocessor_config.json), but --target-sr is ${targetSampleRate}`,
        );
      if (featureExtractor.featureSize !== 1)
        throw new EmofeatError(`${resolved.id}: feature_size ${featureExtractor.featureSize}; only raw-waveform encoders (feature_size 1) are supported`);
      let geometry: ConvGeometry;
      try {
        geometry = convGeometryFrom(config);
      } catch (err) {
        throw new EmofeatError(`${resolved.id}: ${(err as Error).message}`);
      }
      const dim = Number(config.hidden_size);
      if (!Number.isInteger(dim) || dim <= 0) throw new EmofeatError(`${resolved.id}: config.json has no valid hidden_size`);
      const inputNames = session.sessions?.model?.inputNames ?? [];
      if (!inputNames.includes("input_values"))
        throw new EmofeatError(`${resolved.id}: the ONNX model has no input_values input (inputs: ${inputNames.join(", ") || "none"}); is it a speech encoder?`);
      return new AudioEncoder({
        model: await modelRecord(resolved, config),
        dim,
        device,
        batching,
        targetSampleRate,
        maxSeconds,
        featureExtractor,
        geometry,
        takesAttentionMask: inputNames.includes("attention_mask"),
        preprocessorSha256: await sha256File(preprocessorFile),
        session,
      });
    } catch (err) {
      await session.dispose();
      throw err;
    }
  }

  /** Fewest samples (at the target rate) that give the encoder one frame. */
  get minSamples(): number {
    return minSamplesForOneFrame(this.geometry);
  }

  /**
   * Decodes, resamples, peak-normalises and cuts one file (or an in-memory stream: `openAudioBytes`,
   * `pcmStream`) as the reference does (streams; bounded memory).
   */
  loadClip(input: string | AudioStream): Promise<LoadedClip> {
    return loadClip(input, { targetSampleRate: this.targetSampleRate, maxSeconds: this.maxSeconds });
  }

  /** One model call on clips padded to the longest; returns last_hidden_state and its dims. */
  private async forward(clips: Float32Array[]) {
    const fe = extractFeatures(clips, this.featureExtractor);
    const feeds: Record<string, Tensor> = { input_values: new Tensor("float32", fe.inputValues, [fe.batchSize, fe.length]) };
    if (this.takesAttentionMask) feeds.attention_mask = new Tensor("int64", fe.attentionMask, [fe.batchSize, fe.length]);
    const out = await this.session(feeds);
    const h = out.last_hidden_state;
    if (!h) throw new EmofeatError(`${this.model.id}: the model has no last_hidden_state output (outputs: ${Object.keys(out).join(", ")})`);
    const [b, t, d] = h.dims as [number, number, number];
    const expectFrames = convOutputLength(fe.length, this.geometry);
    if (b !== fe.batchSize || d !== this.dim || t !== expectFrames)
      throw new EmofeatError(
        `${this.model.id}: last_hidden_state has dims ${h.dims.join("x")}, expected ${fe.batchSize}x${expectFrames}x${this.dim} ` +
          `(frames from conv_kernel/conv_stride in config.json)`,
      );
    return { hidden: tensorToFloat32(h), dims: [b, t, d] as [number, number, number], paddedLength: fe.length };
  }

  /**
   * Embeds prepared clips (target rate, normalised and cut), returns [clips.length, dim] in input order.
   * exact: clips of equal length share calls of up to `groupSize`; reference: `clips` is ONE padded batch.
   * Every clip must have at least `minSamples` samples in exact mode (reference: the batch's longest).
   */
  async embedClips(clips: readonly Float32Array[], groupSize: number = AUDIO_DEFAULTS.batchSize): Promise<Float32Array> {
    const out = new Float32Array(clips.length * this.dim);
    if (clips.length === 0) return out;
    if (this.batching === "reference") {
      const longest = Math.max(...clips.map((c) => c.length));
      if (longest < this.minSamples) throw new EmofeatError(`batch too short for the encoder: longest clip ${longest} samples < ${this.minSamples}`);
      const { hidden, dims, paddedLength } = await this.forward([...clips]);
      const [B, T] = dims;
      const mask = new Uint8Array(B * T);
      clips.forEach((c, i) => mask.set(referenceFrameMask(c.length, paddedLength, T), i * T));
      out.set(pool("mean", hidden, dims, mask));
      return out;
    }
    const byLength = new Map<number, number[]>();
    clips.forEach((c, i) => {
      if (c.length < this.minSamples) throw new EmofeatError(`clip ${i} too short for the encoder: ${c.length} samples < ${this.minSamples}`);
      byLength.set(c.length, [...(byLength.get(c.length) ?? []), i]);
    });
    for (const idx of byLength.values()) {
      for (let k = 0; k < idx.length; k += groupSize) {
        const group = idx.slice(k, k + groupSize);
        const { hidden, dims } = await this.forward(group.map((i) => clips[i]));
        const pooled = pool("mean", hidden, dims, null);
        group.forEach((i, g) => out.set(pooled.subarray(g * this.dim, (g + 1) * this.dim), i * this.dim));
      }
    }
    return out;
  }

  /**
   * Embeds one prepared clip on its own (as exact mode computes every clip), so its vector never depends on
   * other work; an AudioInputError when the clip is too short for one frame.
   */
  async embedClip(clip: LoadedClip): Promise<Float32Array> {
    if (clip.samples.length < this.minSamples) throw tooShort(clip.info.file, clip.samples.length, this.minSamples, this.targetSampleRate);
    return this.embedClips([clip.samples], 1);
  }

  /**
   * Loads and embeds files. Returns one result per file: a vector, or the reason it failed (bad file, clip too
   * short); one bad file never affects another (in reference mode the others are batched without it).
   */
  async embedFiles(
    files: readonly string[],
    batchSize: number = AUDIO_DEFAULTS.batchSize,
  ): Promise<{ vectors: (Float32Array | null)[]; clips: (LoadedClip | null)[]; errors: (Error | null)[] }> {
    const vectors: (Float32Array | null)[] = files.map(() => null);
    const clips: (LoadedClip | null)[] = files.map(() => null);
    const errors: (Error | null)[] = files.map(() => null);
    for (let b0 = 0; b0 < files.length; b0 += batchSize) {
      const ok: number[] = [];
      for (let i = b0; i < Math.min(files.length, b0 + batchSize); i++) {
        try {
          const clip = await this.loadClip(files[i]);
          clips[i] = clip;
          if (this.batching === "exact" && clip.samples.length < this.minSamples) {
            errors[i] = tooShort(files[i], clip.samples.length, this.minSamples, this.targetSampleRate);
            continue;
          }
          ok.push(i);
        } catch (err) {
          if (!(err instanceof EmofeatError)) throw err;
          errors[i] = err;
        }
      }
      if (ok.length === 0) continue;
      if (this.batching === "reference" && Math.max(...ok.map((i) => clips[i]!.samples.length)) < this.minSamples) {
        for (const i of ok) errors[i] = tooShort(files[i], clips[i]!.samples.length, this.minSamples, this.targetSampleRate);
        continue;
      }
      const emb = await this.embedClips(ok.map((i) => clips[i]!.samples), batchSize);
      ok.forEach((i, k) => (vectors[i] = emb.slice(k * this.dim, (k + 1) * this.dim)));
    }
    return { vectors, clips, errors };
  }

  async dispose(): Promise<void> {
    await this.session.dispose();
  }
}

function tooShort(file: string, samples: number, needed: number, sr: number): AudioInputError {
  return new AudioInputError(file, `too short for the encoder (${samples} samples at ${sr} Hz; one frame needs ${needed})`);
}
