/**
 * Pure steps of the reference audio pipeline after decoding and resampling: peak normalisation, truncation,
 * the Wav2Vec2FeatureExtractor (normalisation, padding, attention mask), the conv feature encoder's output
 * length and the reference's sample-mask -> frame-mask mapping (pooling itself lives in src/pooling.ts).
 * Float32 steps are rounded with Math.fround in the order numpy/torch apply them.
 */

const f32 = Math.fround;

/** x / max|x| when the peak is > 0; an all-zero clip stays zero (never NaN). Returns a new array. */
export function peakNormalize(x: Float32Array): Float32Array {
  const peak = peakOf(x);
  const out = new Float32Array(x.length);
  if (peak > 0) for (let i = 0; i < x.length; i++) out[i] = x[i] / peak;
  return out;
}

export function peakOf(x: Float32Array): number {
  let peak = 0;
  for (let i = 0; i < x.length; i++) {
    const a = Math.abs(x[i]);
    if (a > peak) peak = a;
  }
  return peak;
}

/** Samples kept by a `maxSeconds` cut at `sampleRate`: floor(sr * seconds), as `int(sr * max_seconds)`. */
export function maxSamplesFor(sampleRate: number, maxSeconds: number): number {
  return Math.floor(sampleRate * maxSeconds);
}

/** The first floor(sr * maxSeconds) samples (a view, not a copy). */
export function truncate(x: Float32Array, sampleRate: number, maxSeconds: number): Float32Array {
  const n = maxSamplesFor(sampleRate, maxSeconds);
  return x.length > n ? x.subarray(0, n) : x;
}

/** The fields of a model's preprocessor_config.json that the audio pipeline uses. */
export interface FeatureExtractorConfig {
  doNormalize: boolean;
  paddingValue: number;
  samplingRate: number;
  returnAttentionMask: boolean;
  featureSize: number;
}

/** Reads a Wav2Vec2FeatureExtractor config, with HF's defaults for missing fields. */
export function featureExtractorConfigFrom(json: Record<string, unknown>): FeatureExtractorConfig {
  const num = (k: string, d: number) => (typeof json[k] === "number" ? (json[k] as number) : d);
  const bool = (k: string, d: boolean) => (typeof json[k] === "boolean" ? (json[k] as boolean) : d);
  return {
    doNormalize: bool("do_normalize", true),
    paddingValue: num("padding_value", 0),
    samplingRate: num("sampling_rate", 16000),
    returnAttentionMask: bool("return_attention_mask", false),
    featureSize: num("feature_size", 1),
  };
}

/**
 * HF `Wav2Vec2FeatureExtractor.zero_mean_unit_var_norm` for one clip's real samples:
 * (x - mean) / sqrt(var + 1e-7) with the population variance. numpy does this in float32 except
 * sqrt(var + 1e-7), which is a float64 scalar cast back to float32 for the division; we sum in float64
 * (numpy's pairwise float32 sum lands within an ulp of it) and round the same way.
 */
export function zeroMeanUnitVarNorm(x: Float32Array): Float32Array {
  const n = x.length;
  const out = new Float32Array(n);
  if (n === 0) return out;
  let s = 0;
  for (let i = 0; i < n; i++) s += x[i];
  const mean = f32(s / n);
  let ss = 0;
  for (let i = 0; i < n; i++) {
    const d = f32(x[i] - mean);
    ss += d * d;
  }
  const variance = f32(ss / n);
  const std = f32(Math.sqrt(variance + 1e-7));
  for (let i = 0; i < n; i++) out[i] = f32(x[i] - mean) / std;
  return out;
}

export interface PaddedBatch {
  batchSize: number;
  /** Padded length (the longest clip). */
  length: number;
  /** [batchSize * length], row-major. */
  inputValues: Float32Array;
  /** [batchSize * length], 1 on real samples, 0 on padding (int64 for ONNX). */
  attentionMask: BigInt64Array;
  /** Real samples per clip. */
  lengths: number[];
}

/**
 * The feature extractor on a list of clips with padding="longest": normalise each clip over its real samples
 * (when doNormalize), right-pad with paddingValue, attention mask 1 on real samples.
 */
export function extractFeatures(
  clips: Float32Array[],
  config: Pick<FeatureExtractorConfig, "doNormalize" | "paddingValue">,
  /** Pad to at least this many samples (padding="max_length"); default: the longest clip. */
  padTo = 0,
): PaddedBatch {
  const lengths = clips.map((c) => c.length);
  const L = Math.max(padTo, ...lengths);
  const B = clips.length;
  const inputValues = new Float32Array(B * L);
  const attentionMask = new BigInt64Array(B * L);
  for (let b = 0; b < B; b++) {
    const x = config.doNormalize ? zeroMeanUnitVarNorm(clips[b]) : clips[b];
    inputValues.set(x, b * L);
    if (x.length < L) inputValues.fill(config.paddingValue, b * L + x.length, (b + 1) * L);
    attentionMask.fill(1n, b * L, b * L + x.length);
  }
  return { batchSize: B, length: L, inputValues, attentionMask, lengths };
}

/** Kernel sizes and strides of the conv feature encoder, from the model's config.json. */
export interface ConvGeometry {
  kernels: number[];
  strides: number[];
}

/** WavLM/HuBERT/wav2vec2 defaults (the Base models' feature encoder) when config.json leaves them out. */
export const DEFAULT_CONV_GEOMETRY: ConvGeometry = { kernels: [10, 3, 3, 3, 3, 2, 2], strides: [5, 2, 2, 2, 2, 2, 2] };

export function convGeometryFrom(config: Record<string, unknown>): ConvGeometry {
  const arr = (k: string): number[] | null =>
    Array.isArray(config[k]) && (config[k] as unknown[]).every((v) => Number.isInteger(v)) ? (config[k] as number[]) : null;
  const kernels = arr("conv_kernel") ?? DEFAULT_CONV_GEOMETRY.kernels;
  const strides = arr("conv_stride") ?? DEFAULT_CONV_GEOMETRY.strides;
  if (kernels.length !== strides.length) {
    throw new RangeError(`config.json: conv_kernel has ${kernels.length} layers but conv_stride has ${strides.length}`);
  }
  return { kernels, strides };
}

/**
 * Frames the conv encoder produces from `length` samples: L -> floor((L - k) / s) + 1 per layer
 * (HF `_get_feat_extract_output_lengths`). Returns 0 when a layer would have no output.
 */
export function convOutputLength(length: number, g: ConvGeometry): number {
  let L = length;
  for (let i = 0; i < g.kernels.length; i++) {
    if (L < g.kernels[i]) return 0;
    L = Math.floor((L - g.kernels[i]) / g.strides[i]) + 1;
  }
  return L;
}

/** The fewest samples that give one frame (400 for the Base feature encoder: 25 ms at 16 kHz). */
export function minSamplesForOneFrame(g: ConvGeometry): number {
  let L = 1;
  for (let i = g.kernels.length - 1; i >= 0; i--) L = (L - 1) * g.strides[i] + g.kernels[i];
  return L;
}

/** Round half to even, as torch.round does. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** float32 a + b * c with one rounding (a fused multiply-add): exact in float64 for the ranges used here. */
function fmaf(a: number, b: number, c: number): number {
  return f32(a + b * c);
}

/**
 * torch.linspace(start, end, steps) in float32 as torch 1.13's CPU kernel computes it
 * (aten/src/ATen/native/cpu/RangeFactoriesKernel.cpp, AVX2 build): step = (end - start) / (steps - 1);
 * the first half counts up from start, the second half down from end; blocks of 2 x 8 values go through
 * Vectorized<float>::arange(base, step) (value = base + i*step), the tail through the scalar lambda; the
 * compiler fuses `start + step*idx` into an FMA. Checked against torch on 4,341 (length, frames) pairs,
 * where the unfused formula gives different values in 64% of the cases and different rounded indices in 9%.
 * Products b*c are of two float32 values (exact in float64) and, for linspace(0, L-1, T) with L < 2^24,
 * a + b*c is exact in float64 too, so one Math.fround gives the single rounding of an FMA.
 */
export function torchLinspaceF32(start: number, end: number, steps: number): Float32Array {
  const out = new Float32Array(Math.max(0, steps));
  if (steps <= 0) return out;
  const s = f32(start);
  const e = f32(end);
  if (steps === 1) {
    out[0] = s;
    return out;
  }
  const stepF = f32(f32(e - s) / (steps - 1));
  const halfway = Math.floor(steps / 2);
  const V = 8;
  const at = (idx: number): number => (idx < halfway ? fmaf(s, stepF, idx) : fmaf(e, -stepF, steps - idx - 1));
  let i = 0;
  let idx = 0;
  for (; i <= steps - 2 * V; i += 2 * V) {
    for (let v = 0; v < 2; v++) {
      const base = at(idx);
      for (let j = 0; j < V; j++) out[idx + j] = f32(base + f32(j * stepF));
      idx += V;
    }
  }
  for (; i < steps; i++, idx++) out[idx] = at(idx);
  return out;
}

/**
 * The reference's frame mask for a clip of `realLength` samples in a batch padded to `paddedLength`, whose
 * encoder output has `frames` frames: frame t is real when sample round(linspace(0, L-1, T'))[t] is.
 */
export function referenceFrameMask(realLength: number, paddedLength: number, frames: number): Uint8Array {
  const pos = torchLinspaceF32(0, paddedLength - 1, frames);
  const mask = new Uint8Array(frames);
  for (let t = 0; t < frames; t++) mask[t] = roundHalfEven(pos[t]) < realLength ? 1 : 0;
  return mask;
}

/** Frame mask from the conv formula: the first convOutputLength(realLength) frames are real. */
export function convFrameMask(realLength: number, frames: number, g: ConvGeometry): Uint8Array {
  const mask = new Uint8Array(frames);
  mask.fill(1, 0, Math.min(frames, convOutputLength(realLength, g)));
  return mask;
}
