/**
 * One utterance's audio as the model sees it, following the reference pipeline: decode -> mean over
 * channels -> torchaudio resample to the target rate -> divide by the peak of the WHOLE resampled clip ->
 * keep the first floor(sr * maxSeconds) samples.
 *
 * Everything streams: blocks are mixed and resampled as they are read, the peak is tracked over all output
 * samples, and only the samples that survive the cut are kept. Memory is bounded by the cut (10 s at 16 kHz =
 * 640 kB) plus one read block, whatever the file's length; the peak still covers the whole clip, so the result
 * equals normalise-then-truncate on the full signal. Without a cut (maxSeconds = null) the whole clip must be
 * kept, so `maxUncutSeconds` refuses anything longer instead of growing without bound.
 */
import { AudioInputError } from "./errors.js";
import { mixToMono, openAudio, type AudioCodec } from "./decode.js";
import { SincResampler, type ResampleOptions } from "./resample.js";
import { maxSamplesFor } from "./preprocess.js";

/** What loadClip does, in the words recorded in every audio store's meta.json. */
export const CLIP_PREPROCESSING =
  "decode to float32 (int PCM / 2^(bits-1)), mean over channels, torchaudio sinc resampling (Hann, width 6, rolloff 0.99), " +
  "divide by the whole clip's peak, then keep the first floor(sr * max_seconds) samples";

export interface ClipOptions {
  /** Rate the model expects (default 16000). */
  targetSampleRate?: number;
  /** Keep at most this many seconds after resampling (default 10); null = no cut. */
  maxSeconds?: number | null;
  /** With no cut, refuse clips longer than this (default 3600 s), so memory stays bounded. */
  maxUncutSeconds?: number;
  resample?: ResampleOptions;
}

export interface ClipInfo {
  file: string;
  codec: AudioCodec;
  description: string;
  /** The file's own rate and channel count. */
  sampleRate: number;
  channels: number;
  /** Frames in the file and their duration, before any resampling or cut. */
  originalFrames: number;
  originalSeconds: number;
  /** Samples after resampling, before the cut. */
  resampledLength: number;
  /** Whether the cut removed anything. */
  truncated: boolean;
  /** max |x| of the whole resampled clip (0 for silence). */
  peak: number;
}

export interface LoadedClip {
  /** Samples at the target rate, peak-normalised and cut. */
  samples: Float32Array;
  sampleRate: number;
  info: ClipInfo;
}

export async function loadClip(file: string, options: ClipOptions = {}): Promise<LoadedClip> {
  const targetSr = options.targetSampleRate ?? 16000;
  const maxSeconds = options.maxSeconds === undefined ? 10 : options.maxSeconds;
  const maxUncut = options.maxUncutSeconds ?? 3600;
  if (maxSeconds !== null && !(maxSeconds > 0)) throw new RangeError(`maxSeconds must be > 0 or null, got ${maxSeconds}`);
  const keep = maxSeconds === null ? Infinity : maxSamplesFor(targetSr, maxSeconds);
  const uncutLimit = maxSeconds === null ? maxSamplesFor(targetSr, maxUncut) : Infinity;

  const stream = await openAudio(file);
  const resampler = new SincResampler(stream.sampleRate, targetSr, options.resample);
  let kept = new Float32Array(Number.isFinite(keep) ? keep : 1 << 16);
  let keptLen = 0;
  let total = 0;
  let peak = 0;
  let inFrames = 0;

  const take = (y: Float32Array): void => {
    for (let i = 0; i < y.length; i++) {
      const a = Math.abs(y[i]);
      if (a > peak) peak = a;
    }
    total += y.length;
    if (total > uncutLimit) {
      throw new AudioInputError(
        file,
        `too long to process uncut (over ${maxUncut} s; set a maximum duration or raise the limit)`,
      );
    }
    const room = Math.min(y.length, keep - keptLen);
    if (room <= 0) return;
    if (keptLen + room > kept.length) {
      const grown = new Float32Array(Math.max(keptLen + room, kept.length * 2));
      grown.set(kept.subarray(0, keptLen));
      kept = grown;
    }
    kept.set(y.subarray(0, room), keptLen);
    keptLen += room;
  };

  try {
    for await (const planes of stream.blocks()) {
      inFrames += planes[0].length;
      take(resampler.push(mixToMono(planes)));
    }
  } finally {
    await stream.close();
  }
  take(resampler.finish());

  const samples = kept.length === keptLen ? kept : kept.slice(0, keptLen);
  if (peak > 0) for (let i = 0; i < samples.length; i++) samples[i] = samples[i] / peak;

  return {
    samples,
    sampleRate: targetSr,
    info: {
      file,
      codec: stream.codec,
      description: stream.description,
      sampleRate: stream.sampleRate,
      channels: stream.channels,
      originalFrames: inFrames,
      originalSeconds: inFrames / stream.sampleRate,
      resampledLength: total,
      truncated: total > keptLen,
      peak,
    },
  };
}
