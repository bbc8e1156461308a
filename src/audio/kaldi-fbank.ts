/**
 * Kaldi-compatible log-mel filterbank features, as `torchaudio.compliance.kaldi.fbank(waveform, num_mel_bins=N)`
 * computes them with every other argument at its default (torchaudio 0.13, the version the references come
 * from). Per frame of 25 ms every 10 ms (snip_edges: only frames that fit entirely, so a clip shorter than
 * 400 samples has none and torchaudio refuses it):
 *
 *   no dither -> subtract the frame's mean (remove_dc_offset) -> pre-emphasis y[j] = x[j] - 0.97 x[j-1]
 *   (y[0] = x[0] - 0.97 x[0]) -> Povey window (symmetric Hann)^0.85 -> zero-pad to 512 -> |rfft|^2 (use_power)
 *   -> Kaldi's triangular mel banks (mel = 1127 ln(1 + f/700), 20 Hz to Nyquist, the Nyquist bin unused)
 *   -> log(max(energy, float32 epsilon)) (use_log_fbank; use_energy off, so the energy_floor plays no part).
 *
 * The waveform is taken as given: the pipeline's peak-normalised floats in [-1, 1], as s3prl's baseline feeds
 * it (Kaldi itself reads int16-scaled samples, which adds 2 ln 32768 to every value not at the floor).
 * Computed in float64; torchaudio works in float32.
 */
import { PowerSpectrum } from "./spectrum.js";

/** torchaudio's defaults, recorded in store metadata; only num_mel_bins is changed (80). */
export const KALDI_FBANK_DEFAULTS = {
  sample_frequency: 16000,
  frame_length_ms: 25,
  frame_shift_ms: 10,
  dither: 0,
  remove_dc_offset: true,
  preemphasis_coefficient: 0.97,
  window_type: "povey",
  round_to_power_of_two: true,
  snip_edges: true,
  low_freq: 20,
  high_freq: 0,
  use_power: true,
  use_log_fbank: true,
  use_energy: false,
  energy_floor: 1,
  raw_energy: true,
  subtract_mean: false,
  htk_compat: false,
  vtln_warp: 1,
} as const;

/** Row-major [frames, dim] float32 features. */
export interface FeatureFrames {
  data: Float32Array;
  frames: number;
  dim: number;
}

/** std::numeric_limits<float>::epsilon(), the floor under every log (torchaudio's EPSILON). */
const FLOAT32_EPSILON = 1.1920928955078125e-7;

const melScale = (hz: number): number => 1127 * Math.log(1 + hz / 700);

export interface MelBank {
  /** First FFT bin with a non-zero weight. */
  start: number;
  /** Weights for bins start, start + 1, ... */
  weights: Float64Array;
}

/**
 * Kaldi's mel banks as torchaudio's `get_mel_banks` computes them (no VTLN): `numBins` triangles over bins
 * 0..paddedWindow/2 - 1. torchaudio builds them in float32 (the Python scalars are rounded to float32 when
 * they meet the float32 tensors), and at the triangles' edges that rounding moves a weight by up to ~1e-3 of
 * itself, which is visible in low-energy bands; every step is rounded here the same way (Math.fround). Only
 * the float32 log may differ by an ulp from torch's vectorised one.
 */
export function kaldiMelBanks(numBins: number, paddedWindow: number, sampleFreq: number, lowFreq: number, highFreq: number): MelBank[] {
  if (numBins <= 3) throw new RangeError(`need at least 3 mel bins (got ${numBins})`);
  const nyquist = sampleFreq / 2;
  const high = highFreq <= 0 ? highFreq + nyquist : highFreq;
  if (!(lowFreq >= 0 && lowFreq < nyquist && high > 0 && high <= nyquist && lowFreq < high))
    throw new RangeError(`bad mel range ${lowFreq}..${high} Hz for Nyquist ${nyquist} Hz`);
  const f = Math.fround;
  const fftBins = paddedWindow / 2;
  const binWidth = f(sampleFreq / paddedWindow);
  const melLow = melScale(lowFreq); // Python floats (float64) ...
  const delta = (melScale(high) - melLow) / (numBins + 1);
  const [lo32, delta32] = [f(melLow), f(delta)]; // ... rounded to float32 when combined with a tensor
  // mel_scale(fft_bin_width * arange(n)) in float32: 1127 * log(1 + f / 700)
  const mel = Float64Array.from({ length: fftBins }, (_, i) => f(1127 * f(Math.log(f(1 + f(f(binWidth * i) / 700))))));
  const banks: MelBank[] = [];
  for (let b = 0; b < numBins; b++) {
    const left = f(lo32 + f(b * delta32));
    const center = f(lo32 + f((b + 1) * delta32));
    const right = f(lo32 + f((b + 2) * delta32));
    const w = new Float64Array(fftBins);
    let first = -1;
    let last = -1;
    for (let i = 0; i < fftBins; i++) {
      const v = Math.max(0, Math.min(f(f(mel[i] - left) / f(center - left)), f(f(right - mel[i]) / f(right - center))));
      w[i] = v;
      if (v > 0) {
        if (first < 0) first = i;
        last = i;
      }
    }
    banks.push(first < 0 ? { start: 0, weights: new Float64Array(0) } : { start: first, weights: w.slice(first, last + 1) });
  }
  return banks;
}

const WINDOW = Math.round((KALDI_FBANK_DEFAULTS.sample_frequency * KALDI_FBANK_DEFAULTS.frame_length_ms) / 1000); // 400
const SHIFT = Math.round((KALDI_FBANK_DEFAULTS.sample_frequency * KALDI_FBANK_DEFAULTS.frame_shift_ms) / 1000); // 160
const PADDED = 512; // next power of two >= WINDOW (round_to_power_of_two)

/** Fewest samples that give one frame (snip_edges). */
export const KALDI_FBANK_MIN_SAMPLES = WINDOW;

/** Frames of a clip of `n` samples: 1 + floor((n - 400) / 160), none below 400 samples. */
export function kaldiFrameCount(n: number): number {
  return n < WINDOW ? 0 : 1 + Math.floor((n - WINDOW) / SHIFT);
}

/** The Povey window: torch.hann_window(400, periodic=False) ** 0.85. */
function poveyWindow(n: number): Float64Array {
  const w = new Float64Array(n);
  for (let j = 0; j < n; j++) w[j] = Math.pow(0.5 - 0.5 * Math.cos((2 * Math.PI * j) / (n - 1)), 0.85);
  return w;
}

/** Reusable state (window, mel banks, FFT tables) for one mel-bin count. */
export class KaldiFbank {
  readonly numMelBins: number;
  private readonly window = poveyWindow(WINDOW);
  private readonly banks: MelBank[];
  private readonly spectrum = new PowerSpectrum(PADDED);

  constructor(numMelBins = 80) {
    this.numMelBins = numMelBins;
    const d = KALDI_FBANK_DEFAULTS;
    this.banks = kaldiMelBanks(numMelBins, PADDED, d.sample_frequency, d.low_freq, d.high_freq);
  }

  /** [frames, numMelBins] log-mel energies of a 16 kHz waveform; throws RangeError below 400 samples, as torchaudio does. */
  compute(wave: ArrayLike<number>): FeatureFrames {
    const T = kaldiFrameCount(wave.length);
    if (T === 0) throw new RangeError(`a Kaldi fbank frame needs ${WINDOW} samples (25 ms at 16 kHz); the clip has ${wave.length}`);
    const D = this.numMelBins;
    const out = new Float32Array(T * D);
    const frame = new Float64Array(PADDED); // samples WINDOW.. stay zero (the padding)
    const power = new Float64Array(PADDED / 2 + 1);
    const { preemphasis_coefficient: pre } = KALDI_FBANK_DEFAULTS;
    for (let t = 0; t < T; t++) {
      const s = t * SHIFT;
      let mean = 0;
      for (let j = 0; j < WINDOW; j++) mean += wave[s + j];
      mean /= WINDOW;
      // Pre-emphasis from the last sample down, so each step still sees the unmodified previous sample.
      for (let j = 0; j < WINDOW; j++) frame[j] = wave[s + j] - mean;
      for (let j = WINDOW - 1; j > 0; j--) frame[j] -= pre * frame[j - 1];
      frame[0] -= pre * frame[0];
      for (let j = 0; j < WINDOW; j++) frame[j] *= this.window[j];
      this.spectrum.compute(frame, power);
      for (let b = 0; b < D; b++) {
        const { start, weights } = this.banks[b];
        let e = 0;
        for (let i = 0; i < weights.length; i++) e += weights[i] * power[start + i];
        out[t * D + b] = Math.log(Math.max(e, FLOAT32_EPSILON));
      }
    }
    return { data: out, frames: T, dim: D };
  }
}

/** One-shot `torchaudio.compliance.kaldi.fbank(wave[None], num_mel_bins=numMelBins)`. */
export function kaldiFbank(wave: ArrayLike<number>, numMelBins = 80): FeatureFrames {
  return new KaldiFbank(numMelBins).compute(wave);
}
