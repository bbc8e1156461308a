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
 *
 * With `layers` every kept hidden state is pooled alike (rows [layers, width]); with pooling `none` a clip gives
 * its frames: exact mode all of its own frames, reference mode the real frames of the padded batch (the
 * round(linspace) mask, a prefix). `compat: "seq-reference"` is the reference's sequence extractor: every clip
 * alone, zero-padded to max_seconds before the encoder, the same mask, real frames kept.
 */
import { loadIfConfigMissing, openEncoder, type EncoderModel, type HiddenStatesInfo, type InputTensor } from "../models/load.js";
import { hiddenStateOutput } from "../models/hidden-states.js";
import type { LayerSpec } from "../models/layer-spec.js";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { env } from "../env.js";
import { ort, resolveDevice, tensorToFloat32, type Device, type DeviceChoice } from "../backends/onnx.js";
import { EmofeatError, UsageError } from "../errors.js";
import { checkDtype, modelRecord, readModelConfig, resolveModel, type ModelDtype } from "../models/source.js";
import { framesOf, poolLayers, pooledWidth, POOLING_MODES, type PoolingMode } from "../pooling.js";
import type { ModelRecord } from "../store/meta.js";
import { sha256File } from "../util/fs.js";
import { loadClip, type LoadedClip } from "./clip.js";
import type { AudioStream } from "./decode.js";
import { AUDIO_COMPAT_MODES, AUDIO_DEFAULTS, AUDIO_POOLING_MODES, BATCHING_MODES, type AudioCompat, type BatchingMode } from "./defaults.js";
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

export { BATCHING_MODES, AUDIO_DEFAULTS, AUDIO_COMPAT_MODES, AUDIO_POOLING_MODES, type BatchingMode, type AudioCompat };

export interface AudioModelOptions {
  /** Hub id (e.g. Xenova/wavlm-base-plus) or a local folder in Hugging Face layout. */
  model: string;
  dtype?: ModelDtype;
  /** auto (default): CUDA when it works here, else the CPU. */
  device?: DeviceChoice;
  threads?: number;
  offline?: boolean;
  /** Rate the clips are resampled to (default 16000; must match the model's feature extractor). */
  targetSampleRate?: number;
  /** Keep at most this many seconds of each clip (default 10). */
  maxSeconds?: number;
  batching?: BatchingMode;
  /** mean (default), max, mean+std, or none (frame sequences). */
  pooling?: PoolingMode;
  /** Hidden states to keep: "last" (default), "all", "0,4-8,12", or indices (see models/layer-spec.ts). */
  layers?: LayerSpec;
  /** seq-reference: the reference's sequence extractor (implies reference batching, one clip per call). */
  compat?: AudioCompat;
}

interface EncoderInit {
  model: ModelRecord;
  dim: number;
  device: Device;
  batching: BatchingMode;
  compat: AudioCompat | null;
  pooling: PoolingMode;
  layers: number[] | null;
  hiddenStates: HiddenStatesInfo | null;
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
  /** Hidden size D (one layer's state). */
  readonly dim: number;
  readonly device: Device;
  readonly batching: BatchingMode;
  readonly compat: AudioCompat | null;
  readonly pooling: PoolingMode;
  /** hidden_states indices kept, or null for the plain last_hidden_state. */
  readonly layers: number[] | null;
  readonly hiddenStates: HiddenStatesInfo | null;
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
    this.compat = init.compat;
    this.pooling = init.pooling;
    this.layers = init.layers;
    this.hiddenStates = init.hiddenStates;
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
    const device = (await resolveDevice(o.device ?? AUDIO_DEFAULTS.device)).device;
    const compat = o.compat ?? null;
    if (compat !== null && !(AUDIO_COMPAT_MODES as readonly string[]).includes(compat))
      throw new EmofeatError(`unknown --compat "${compat}" for audio (expected: ${AUDIO_COMPAT_MODES.join(", ")})`);
    if (compat === "seq-reference" && o.batching === "exact")
      throw new UsageError("--compat seq-reference reproduces the reference's padded extractor; it cannot run with --batching exact");
    const batching = compat === "seq-reference" ? "reference" : (o.batching ?? AUDIO_DEFAULTS.batching);
    if (!(BATCHING_MODES as readonly string[]).includes(batching))
      throw new EmofeatError(`unknown batching "${batching}" (expected one of: ${BATCHING_MODES.join(", ")})`);
    const pooling = o.pooling ?? AUDIO_DEFAULTS.pooling;
    if (!(AUDIO_POOLING_MODES as readonly string[]).includes(pooling))
      throw new UsageError(
        pooling === "cls"
          ? "--pooling cls takes the first token of a text; speech frames have no such token (use mean, max, mean+std or none)"
          : `unknown pooling "${pooling}" (expected one of: ${AUDIO_POOLING_MODES.join(", ")})`,
      );
    const targetSampleRate = o.targetSampleRate ?? AUDIO_DEFAULTS.targetSampleRate;
    if (!Number.isInteger(targetSampleRate) || targetSampleRate <= 0)
      throw new UsageError(`--target-sr must be a positive integer (got ${targetSampleRate})`);
    const maxSeconds = o.maxSeconds ?? AUDIO_DEFAULTS.maxSeconds;
    if (!(maxSeconds > 0) || !Number.isFinite(maxSeconds)) throw new UsageError(`--max-seconds must be a number > 0 (got ${maxSeconds})`);
    const offline = o.offline ?? env.offline;
    const required = [
      { file: "config.json", why: "the model configuration (conv_kernel, conv_stride, hidden_size)" },
      { file: "preprocessor_config.json", why: "the feature extractor settings (do_normalize, padding_value, sampling_rate)" },
    ];
    const resolved = await resolveModel(o.model, dtype, required, offline);
    const settings = { device, threads: o.threads, offline };
    const first = await loadIfConfigMissing(resolved, settings, required);
    let session: EncoderModel | null = first;
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
      const recordP = modelRecord(resolved, config);
      recordP.catch(() => {}); // awaited below, after the session loaded
      session = null; // openEncoder takes over `first` (reuses or releases it)
      const opened = await openEncoder(resolved, settings, required, { config, sha256: async () => (await recordP).sha256, layers: o.layers, first });
      session = opened.session;
      const record = await recordP;
      const { layers, hiddenStates } = opened;
      const inputNames = session.sessions?.model?.inputNames ?? [];
      if (!inputNames.includes("input_values"))
        throw new EmofeatError(`${resolved.id}: the ONNX model has no input_values input (inputs: ${inputNames.join(", ") || "none"}); is it a speech encoder?`);
      return new AudioEncoder({
        model: record,
        dim,
        device,
        batching,
        compat,
        pooling,
        layers,
        hiddenStates,
        targetSampleRate,
        maxSeconds,
        featureExtractor,
        geometry,
        takesAttentionMask: inputNames.includes("attention_mask"),
        preprocessorSha256: await sha256File(preprocessorFile),
        session,
      });
    } catch (err) {
      await session?.dispose();
      throw err;
    }
  }

  /** Values per stored row: one pooled vector ([layers,] width), or one frame's states ([layers,] D) with pooling none. */
  get rowSize(): number {
    return (this.layers?.length ?? 1) * this.layerWidth;
  }

  /** Width of one layer's entry in a row: D, or 2D for mean+std (the store's `d`). */
  get layerWidth(): number {
    return this.pooling === "none" ? this.dim : pooledWidth(this.pooling, this.dim);
  }

  /** Samples every clip is padded to before the encoder (seq-reference: max_seconds), or 0 (the batch's longest). */
  get padTo(): number {
    return this.compat === "seq-reference" ? Math.floor(this.targetSampleRate * this.maxSeconds) : 0;
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

  /** One model call on clips padded to the longest (or padTo): the kept layers' states [B, T', D]. */
  private async forward(clips: Float32Array[]) {
    const fe = extractFeatures(clips, this.featureExtractor, this.padTo);
    const { Tensor } = ort();
    const feeds: Record<string, InputTensor> = { input_values: new Tensor("float32", fe.inputValues, [fe.batchSize, fe.length]) };
    if (this.takesAttentionMask) feeds.attention_mask = new Tensor("int64", fe.attentionMask, [fe.batchSize, fe.length]);
    const out = await this.session(feeds);
    const expectFrames = convOutputLength(fe.length, this.geometry);
    const names = this.layers === null ? ["last_hidden_state"] : this.layers.map(hiddenStateOutput);
    const states = names.map((name) => {
      const h = out[name];
      if (!h) throw new EmofeatError(`${this.model.id}: the model has no ${name} output (outputs: ${Object.keys(out).join(", ")})`);
      const [b, t, d] = h.dims as [number, number, number];
      if (b !== fe.batchSize || d !== this.dim || t !== expectFrames)
        throw new EmofeatError(
          `${this.model.id}: ${name} has dims ${h.dims.join("x")}, expected ${fe.batchSize}x${expectFrames}x${this.dim} ` +
            `(frames from conv_kernel/conv_stride in config.json)`,
        );
      return tensorToFloat32(h);
    });
    return { states, dims: [fe.batchSize, expectFrames, this.dim] as [number, number, number], paddedLength: fe.length };
  }

  /**
   * Runs clips the way the batching mode says and hands each model call's states to `take`:
   * exact: clips of equal length share calls of up to `groupSize`, every frame real (mask null);
   * reference: `clips` is ONE padded batch, with the round(linspace) frame mask; seq-reference: each clip alone,
   * padded to max_seconds, same mask.
   */
  private async runClips(
    clips: readonly Float32Array[],
    groupSize: number,
    take: (group: number[], states: Float32Array[], dims: [number, number, number], mask: Uint8Array | null) => void,
  ): Promise<void> {
    if (clips.length === 0) return;
    if (this.batching === "reference") {
      const batches = this.compat === "seq-reference" ? clips.map((_, i) => [i]) : [clips.map((_, i) => i)];
      for (const group of batches) {
        const longest = Math.max(this.padTo, ...group.map((i) => clips[i].length));
        if (longest < this.minSamples) throw new EmofeatError(`batch too short for the encoder: longest clip ${longest} samples < ${this.minSamples}`);
        const { states, dims, paddedLength } = await this.forward(group.map((i) => clips[i]));
        const T = dims[1];
        const mask = new Uint8Array(group.length * T);
        group.forEach((i, k) => mask.set(referenceFrameMask(clips[i].length, paddedLength, T), k * T));
        take(group, states, dims, mask);
      }
      return;
    }
    const byLength = new Map<number, number[]>();
    clips.forEach((c, i) => {
      if (c.length < this.minSamples) throw new EmofeatError(`clip ${i} too short for the encoder: ${c.length} samples < ${this.minSamples}`);
      byLength.set(c.length, [...(byLength.get(c.length) ?? []), i]);
    });
    for (const idx of byLength.values())
      for (let k = 0; k < idx.length; k += groupSize) {
        const group = idx.slice(k, k + groupSize);
        const { states, dims } = await this.forward(group.map((i) => clips[i]));
        take(group, states, dims, null);
      }
  }

  /**
   * Embeds prepared clips (target rate, normalised and cut), returns [clips.length, rowSize] in input order.
   * exact: clips of equal length share calls of up to `groupSize`; reference: `clips` is ONE padded batch.
   * Every clip must have at least `minSamples` samples in exact mode (reference: the batch's longest).
   */
  async embedClips(clips: readonly Float32Array[], groupSize: number = AUDIO_DEFAULTS.batchSize): Promise<Float32Array> {
    const pooling = this.pooling;
    if (pooling === "none") throw new EmofeatError("pooling none gives frame sequences: use sequenceClips");
    const w = this.rowSize;
    const out = new Float32Array(clips.length * w);
    await this.runClips(clips, groupSize, (group, states, dims, mask) => {
      const pooled = poolLayers(pooling, states, dims, mask);
      group.forEach((i, g) => out.set(pooled.subarray(g * w, (g + 1) * w), i * w));
    });
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

  /** One prepared clip's frame states ([T, rowSize], pooling none), computed alone like `embedClip`. */
  async sequenceClip(clip: LoadedClip): Promise<Float32Array> {
    if (clip.samples.length < this.minSamples) throw tooShort(clip.info.file, clip.samples.length, this.minSamples, this.targetSampleRate);
    return (await this.sequenceClips([clip.samples], 1))[0];
  }

  /**
   * Frame states of prepared clips, per clip [T_i, rowSize] in input order: exact mode all of the clip's frames,
   * reference modes the real frames of the padded batch (the frame mask is a prefix; T_i may be 0).
   */
  async sequenceClips(clips: readonly Float32Array[], groupSize: number = AUDIO_DEFAULTS.batchSize): Promise<Float32Array[]> {
    const out: Float32Array[] = new Array(clips.length);
    await this.runClips(clips, groupSize, (group, states, dims, mask) => {
      const T = dims[1];
      group.forEach((i, g) => {
        let real = T;
        if (mask) {
          real = 0;
          while (real < T && mask[g * T + real]) real++;
          for (let t = real; t < T; t++) if (mask[g * T + t]) throw new Error("internal: the reference frame mask is not a prefix");
        }
        out[i] = framesOf(states, dims, g, real);
      });
    });
    return out;
  }

  /**
   * Loads and embeds files. Returns one result per file: a vector ([rowSize]; with pooling none the clip's
   * frames, [frames_i, rowSize], frames_i in `lengths`), or the reason it failed (bad file, clip too short); one
   * bad file never affects another (in reference mode the others are batched without it).
   */
  async embedFiles(
    files: readonly string[],
    batchSize: number = AUDIO_DEFAULTS.batchSize,
    /** Where the i-th clip comes from (default: this.loadClip); extraction passes clips a worker prepared ahead. */
    load: (file: string, i: number) => Promise<LoadedClip> = (file) => this.loadClip(file),
  ): Promise<{ vectors: (Float32Array | null)[]; lengths: number[]; clips: (LoadedClip | null)[]; errors: (Error | null)[] }> {
    const vectors: (Float32Array | null)[] = files.map(() => null);
    const lengths: number[] = files.map(() => 0);
    const clips: (LoadedClip | null)[] = files.map(() => null);
    const errors: (Error | null)[] = files.map(() => null);
    for (let b0 = 0; b0 < files.length; b0 += batchSize) {
      const ok: number[] = [];
      for (let i = b0; i < Math.min(files.length, b0 + batchSize); i++) {
        try {
          const clip = await load(files[i], i);
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
      if (this.batching === "reference" && Math.max(this.padTo, ...ok.map((i) => clips[i]!.samples.length)) < this.minSamples) {
        for (const i of ok) errors[i] = tooShort(files[i], clips[i]!.samples.length, this.minSamples, this.targetSampleRate);
        continue;
      }
      const samples = ok.map((i) => clips[i]!.samples);
      if (this.pooling === "none") {
        const seqs = await this.sequenceClips(samples, batchSize);
        ok.forEach((i, k) => {
          if (seqs[k].length === 0) errors[i] = new AudioInputError(files[i], "too short for the encoder: no real frame in the padded batch (round(linspace) frame mask)");
          else {
            vectors[i] = seqs[k];
            lengths[i] = seqs[k].length / this.rowSize;
          }
        });
      } else {
        const w = this.rowSize;
        const emb = await this.embedClips(samples, batchSize);
        ok.forEach((i, k) => {
          vectors[i] = emb.slice(k * w, (k + 1) * w);
          lengths[i] = 1;
        });
      }
    }
    return { vectors, lengths, clips, errors };
  }

  async dispose(): Promise<void> {
    await this.session.dispose();
  }
}

function tooShort(file: string, samples: number, needed: number, sr: number): AudioInputError {
  return new AudioInputError(file, `too short for the encoder (${samples} samples at ${sr} Hz; one frame needs ${needed})`);
}
