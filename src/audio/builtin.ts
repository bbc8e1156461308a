/**
 * Weight-free baseline features, selected with `--model builtin:fbank` or `--model builtin:mfcc`: frames at 100 Hz
 * computed from the same clips the encoders see (decode -> mono -> torchaudio resample to 16 kHz -> divide by the
 * peak -> cut), then pooled by the shared pooling module like encoder frames. `builtin:fbank` is s3prl's FBANK
 * upstream without its deltas and per-utterance CMVN (see docs/representations.md), the SUPERB baseline.
 *
 * A `BuiltinFrameExtractor` offers what the extraction and prediction code uses of an `AudioEncoder`
 * (`dim`, `targetSampleRate`, `maxSeconds`, `loadClip`, `embedFiles`, `dispose`), plus `frames` for whole
 * sequences. No model file, no onnxruntime: the numbers depend only on the parameters recorded in the store.
 */
import { EmofeatError, UsageError } from "../errors.js";
import { pool, pooledWidth, POOLING_MODES, type PoolingMode } from "../pooling.js";
import type { BuiltinModelRecord } from "../store/meta.js";
import { loadClip, type LoadedClip } from "./clip.js";
import type { AudioStream } from "./decode.js";
import { AudioInputError } from "./errors.js";
import { KALDI_FBANK_DEFAULTS, KALDI_FBANK_MIN_SAMPLES, KaldiFbank, type FeatureFrames } from "./kaldi-fbank.js";
import { MFCC_MIN_SAMPLES, MFCC_SETTINGS, TorchaudioMfcc } from "./mfcc.js";

export const BUILTIN_PREFIX = "builtin:";

export interface BuiltinFeatureSpec {
  id: string;
  /** One line for --help and messages. */
  description: string;
  /** The reference computation (what the parity tests compare against). */
  reference: string;
  /** Width of one frame. */
  frameDim: number;
  sampleRate: number;
  /** Fewest samples that give a frame (the reference refuses shorter clips). */
  minSamples: number;
  /** Why a shorter clip has no frame. */
  minSamplesWhy: string;
  params: Record<string, unknown>;
  create(): { compute(wave: ArrayLike<number>): FeatureFrames };
}

const FBANK_BINS = 80;

export const BUILTIN_FEATURES: Record<string, BuiltinFeatureSpec> = {
  "builtin:fbank": {
    id: "builtin:fbank",
    description: "Kaldi log-mel filterbank, 80 bins, 25 ms windows every 10 ms (the s3prl FBANK baseline)",
    reference: "torchaudio.compliance.kaldi.fbank(waveform, num_mel_bins=80) (torchaudio 0.13 defaults)",
    frameDim: FBANK_BINS,
    sampleRate: KALDI_FBANK_DEFAULTS.sample_frequency,
    minSamples: KALDI_FBANK_MIN_SAMPLES,
    minSamplesWhy: "one 25 ms Kaldi frame",
    params: { ...KALDI_FBANK_DEFAULTS, num_mel_bins: FBANK_BINS, waveform_scale: "peak-normalised floats in [-1, 1]" },
    create: () => new KaldiFbank(FBANK_BINS),
  },
  "builtin:mfcc": {
    id: "builtin:mfcc",
    description: "40 MFCCs of a 64-band HTK mel spectrogram in dB (top_db 80), 25 ms windows every 10 ms",
    reference:
      'torchaudio.transforms.MFCC(sample_rate=16000, n_mfcc=40, melkwargs={"n_fft": 400, "hop_length": 160, "n_mels": 64}) ' +
      "on one clip (torchaudio 0.13 defaults)",
    frameDim: MFCC_SETTINGS.n_mfcc,
    sampleRate: MFCC_SETTINGS.sample_rate,
    minSamples: MFCC_MIN_SAMPLES,
    minSamplesWhy: "torchaudio's reflect padding of 200 samples",
    params: { ...MFCC_SETTINGS, waveform_scale: "peak-normalised floats in [-1, 1]" },
    create: () => new TorchaudioMfcc(),
  },
};

/** Whether `--model` names a builtin feature rather than a model folder or hub id. */
export function isBuiltinModel(model: string): boolean {
  return model.startsWith(BUILTIN_PREFIX);
}

export function builtinFeature(id: string): BuiltinFeatureSpec {
  const spec = Object.hasOwn(BUILTIN_FEATURES, id) ? BUILTIN_FEATURES[id] : undefined;
  if (!spec)
    throw new UsageError(
      `unknown builtin feature "${id}" (available: ${Object.values(BUILTIN_FEATURES)
        .map((s) => `${s.id}: ${s.description}`)
        .join("; ")})`,
    );
  return spec;
}

export interface BuiltinOptions {
  /** `builtin:fbank` or `builtin:mfcc`. */
  model: string;
  /** Must be the feature's rate (16000) when given. */
  targetSampleRate?: number;
  /** Keep at most this many seconds of each clip (default 10, as for the encoders). */
  maxSeconds?: number;
  /** How frames become one vector (default mean; `cls` is for text). */
  pooling?: string;
  /** Encoder settings that mean nothing here: refused unless at their defaults, so no flag is silently ignored. */
  dtype?: string;
  device?: string;
  batching?: string;
  /** Encoder layers and the sequence-reference mode: a builtin has no layers, so only the default passes. */
  layers?: unknown;
  compat?: string | null;
}

export const BUILTIN_DEFAULTS = { maxSeconds: 10, pooling: "mean" } as const;

/** Pooling modes for frames (`cls` is for text); `none` keeps the frames (a sequence store). */
export type BuiltinPooling = Exclude<PoolingMode, "cls">;
const UNUSABLE_POOLING = ["cls"];

export class BuiltinFrameExtractor {
  readonly spec: BuiltinFeatureSpec;
  readonly model: BuiltinModelRecord;
  readonly targetSampleRate: number;
  readonly maxSeconds: number;
  readonly pooling: BuiltinPooling;
  /** Width of one pooled vector, or of one frame with pooling none (the store's d). */
  readonly dim: number;
  /** No encoder layers: always the plain features (what `layers` is for an encoder). */
  readonly layers = null;
  readonly device = "cpu";
  private readonly computer: { compute(wave: ArrayLike<number>): FeatureFrames };

  private constructor(spec: BuiltinFeatureSpec, targetSampleRate: number, maxSeconds: number, pooling: BuiltinPooling) {
    this.spec = spec;
    this.targetSampleRate = targetSampleRate;
    this.maxSeconds = maxSeconds;
    this.pooling = pooling;
    this.computer = spec.create();
    this.model = { id: spec.id, source: "builtin", reference: spec.reference, hidden_size: spec.frameDim, params: spec.params };
    // The pooled width, whatever the mode (mean+std doubles it).
    this.dim = pooledWidth(pooling, spec.frameDim);
  }

  static async load(o: BuiltinOptions): Promise<BuiltinFrameExtractor> {
    const spec = builtinFeature(o.model);
    const sr = o.targetSampleRate ?? spec.sampleRate;
    if (sr !== spec.sampleRate)
      throw new UsageError(`${spec.id} is defined on ${spec.sampleRate} Hz audio; --target-sr ${sr} cannot be used with it`);
    const maxSeconds = o.maxSeconds ?? BUILTIN_DEFAULTS.maxSeconds;
    if (!(maxSeconds > 0) || !Number.isFinite(maxSeconds)) throw new UsageError(`--max-seconds must be a number > 0 (got ${maxSeconds})`);
    const ignored = [
      o.dtype !== undefined && o.dtype !== "fp32" ? `--dtype ${o.dtype} (there is no model file)` : "",
      o.device !== undefined && o.device !== "cpu" ? `--device ${o.device} (it runs on the CPU)` : "",
      o.batching !== undefined && o.batching !== "exact" ? `--batching ${o.batching} (clips are never padded)` : "",
      o.layers !== undefined && o.layers !== "last" ? `--layers ${String(o.layers)} (there are no encoder layers)` : "",
      o.compat ? `--compat ${o.compat} (there is no encoder to pad for)` : "",
    ].filter(Boolean);
    if (ignored.length > 0) throw new UsageError(`${spec.id} is a weight-free feature; these settings do not apply: ${ignored.join(", ")}`);
    const pooling = o.pooling ?? BUILTIN_DEFAULTS.pooling;
    if (!(POOLING_MODES as readonly string[]).includes(pooling) || UNUSABLE_POOLING.includes(pooling))
      throw new UsageError(
        `pooling "${pooling}" cannot pool ${spec.id} frames (expected one of: ${POOLING_MODES.filter((m) => !UNUSABLE_POOLING.includes(m)).join(", ")})`,
      );
    return new BuiltinFrameExtractor(spec, sr, maxSeconds, pooling as BuiltinPooling);
  }

  /** Decodes, resamples, peak-normalises and cuts one file (or in-memory stream) exactly as for the encoders. */
  loadClip(input: string | AudioStream): Promise<LoadedClip> {
    return loadClip(input, { targetSampleRate: this.targetSampleRate, maxSeconds: this.maxSeconds });
  }

  /** One prepared clip's vector (serve); an AudioInputError when it is too short for one frame. */
  async embedClip(clip: LoadedClip): Promise<Float32Array> {
    if (clip.samples.length < this.spec.minSamples) throw this.tooShort(clip.info.file, clip.samples.length);
    return this.embed(clip.samples);
  }

  /** One prepared clip's frames, [frames, frameDim] (a pooling-none store's rows for the clip). */
  async sequenceClip(clip: LoadedClip): Promise<Float32Array> {
    if (clip.samples.length < this.spec.minSamples) throw this.tooShort(clip.info.file, clip.samples.length);
    return this.frames(clip.samples).data;
  }

  private tooShort(file: string, samples: number): AudioInputError {
    return new AudioInputError(
      file,
      `too short for ${this.spec.id} (${samples} samples at ${this.targetSampleRate} Hz; ${this.spec.minSamplesWhy} needs ${this.spec.minSamples})`,
    );
  }

  /** [frames, frameDim] features of a prepared clip; RangeError below `spec.minSamples`. */
  frames(samples: ArrayLike<number>): FeatureFrames {
    return this.computer.compute(samples);
  }

  /** Values per stored row: a pooled vector, or one frame with pooling none (the encoders' name for it). */
  get rowSize(): number {
    return this.dim;
  }

  /** One pooled vector of a prepared clip (with pooling none: its frames, [frames, frameDim]). */
  embed(samples: ArrayLike<number>): Float32Array {
    const f = this.frames(samples);
    if (this.pooling === "none") return f.data;
    return pool(this.pooling, f.data, [1, f.frames, f.dim], null);
  }

  /**
   * Loads and embeds files, one result per file: a vector, or why it failed (bad file, too short for one
   * frame). Clips are independent, so `batchSize` changes nothing here; it is accepted for the encoders' API.
   */
  async embedFiles(
    files: readonly string[],
    _batchSize?: number,
    load: (file: string, i: number) => Promise<LoadedClip> = (file) => this.loadClip(file),
  ): Promise<{ vectors: (Float32Array | null)[]; lengths: number[]; clips: (LoadedClip | null)[]; errors: (Error | null)[] }> {
    const vectors: (Float32Array | null)[] = files.map(() => null);
    const lengths: number[] = files.map(() => 0);
    const clips: (LoadedClip | null)[] = files.map(() => null);
    const errors: (Error | null)[] = files.map(() => null);
    for (let i = 0; i < files.length; i++) {
      try {
        const clip = await load(files[i], i);
        clips[i] = clip;
        if (clip.samples.length < this.spec.minSamples) {
          errors[i] = this.tooShort(files[i], clip.samples.length);
          continue;
        }
        vectors[i] = this.embed(clip.samples);
        lengths[i] = vectors[i]!.length / this.dim;
      } catch (err) {
        if (!(err instanceof EmofeatError)) throw err;
        errors[i] = err;
      }
    }
    return { vectors, lengths, clips, errors };
  }

  /** Nothing to release; here so callers treat every audio encoder alike. */
  async dispose(): Promise<void> {}
}
