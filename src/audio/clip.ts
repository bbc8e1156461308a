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
import { mixToMono, openAudio, type AudioCodec, type AudioStream } from "./decode.js";
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

/**
 * Turns mono blocks at the source rate into the model's clip, block by block: resample, track the peak of the
 * whole resampled signal, keep only the first `maxSeconds`, normalise at the end. Any split of the input
 * into blocks gives the same clip (the resampler streams), so a live stream that arrives in small frames ends
 * exactly as the whole recording would. `loadClip` drives it for files; serve's streams feed it frames.
 */
export class ClipBuilder {
  private readonly resampler: SincResampler;
  private readonly keep: number;
  private readonly uncutLimit: number;
  private kept: Float32Array;
  private keptLen = 0;
  private total = 0;
  private peak = 0;
  /** Input frames pushed so far (at the source rate). */
  inFrames = 0;

  constructor(
    readonly sourceRate: number,
    private readonly name: string,
    private readonly options: ClipOptions = {},
  ) {
    const targetSr = options.targetSampleRate ?? 16000;
    const maxSeconds = options.maxSeconds === undefined ? 10 : options.maxSeconds;
    if (maxSeconds !== null && !(maxSeconds > 0)) throw new RangeError(`maxSeconds must be > 0 or null, got ${maxSeconds}`);
    this.keep = maxSeconds === null ? Infinity : maxSamplesFor(targetSr, maxSeconds);
    this.uncutLimit = maxSeconds === null ? maxSamplesFor(targetSr, options.maxUncutSeconds ?? 3600) : Infinity;
    this.kept = new Float32Array(Number.isFinite(this.keep) ? this.keep : 1 << 16);
    this.resampler = new SincResampler(sourceRate, targetSr, options.resample);
  }

  get targetSampleRate(): number {
    return this.options.targetSampleRate ?? 16000;
  }

  /** One block of mono samples at the source rate. */
  push(mono: Float32Array): void {
    this.inFrames += mono.length;
    this.take(this.resampler.push(mono));
  }

  /** Flushes the resampler and returns the normalised, cut samples; the builder is spent afterwards. */
  finish(): { samples: Float32Array; resampledLength: number; truncated: boolean; peak: number } {
    this.take(this.resampler.finish());
    const samples = this.kept.length === this.keptLen ? this.kept : this.kept.slice(0, this.keptLen);
    const peak = this.peak;
    if (peak > 0) for (let i = 0; i < samples.length; i++) samples[i] = samples[i] / peak;
    return { samples, resampledLength: this.total, truncated: this.total > this.keptLen, peak };
  }

  /** `finish()` as a LoadedClip, describing the source it was fed from. */
  finishClip(source: { file: string; codec: AudioCodec; description: string; channels: number }): LoadedClip {
    const { samples, resampledLength, truncated, peak } = this.finish();
    return {
      samples,
      sampleRate: this.targetSampleRate,
      info: {
        ...source,
        sampleRate: this.sourceRate,
        originalFrames: this.inFrames,
        originalSeconds: this.inFrames / this.sourceRate,
        resampledLength,
        truncated,
        peak,
      },
    };
  }

  private take(y: Float32Array): void {
    for (let i = 0; i < y.length; i++) {
      const a = Math.abs(y[i]);
      if (a > this.peak) this.peak = a;
    }
    this.total += y.length;
    if (this.total > this.uncutLimit) {
      throw new AudioInputError(
        this.name,
        `too long to process uncut (over ${this.options.maxUncutSeconds ?? 3600} s; set a maximum duration or raise the limit)`,
      );
    }
    const room = Math.min(y.length, this.keep - this.keptLen);
    if (room <= 0) return;
    if (this.keptLen + room > this.kept.length) {
      const grown = new Float32Array(Math.max(this.keptLen + room, this.kept.length * 2));
      grown.set(this.kept.subarray(0, this.keptLen));
      this.kept = grown;
    }
    this.kept.set(y.subarray(0, room), this.keptLen);
    this.keptLen += room;
  }
}

/** A file path, or an audio stream opened from memory (`openAudioBytes`, `pcmStream`). */
export async function loadClip(input: string | AudioStream, options: ClipOptions = {}): Promise<LoadedClip> {
  const stream = typeof input === "string" ? await openAudio(input) : input;
  let builder: ClipBuilder;
  try {
    builder = new ClipBuilder(stream.sampleRate, stream.file, options);
    for await (const planes of stream.blocks()) builder.push(mixToMono(planes));
  } finally {
    await stream.close();
  }
  return builder.finishClip({ file: stream.file, codec: stream.codec, description: stream.description, channels: stream.channels });
}
