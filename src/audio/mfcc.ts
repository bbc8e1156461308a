/**
 * MFCCs as `torchaudio.transforms.MFCC(sample_rate=16000, n_mfcc=40, melkwargs={"n_fft": 400, "hop_length": 160,
 * "n_mels": 64})` computes them for ONE clip (torchaudio 0.13, every other argument at its default):
 *
 *   Spectrogram: reflect-pad 200 samples each side (center=True, pad_mode "reflect": the edge sample is not
 *   repeated, so the clip needs > 200 samples), frames of 400 every 160 -> 1 + floor(n / 160) frames, periodic
 *   Hann window, |STFT|^2 (power 2, not normalised, 201 one-sided bins)
 *   -> MelScale: HTK mel (2595 log10(1 + f/700)), 64 triangles from 0 Hz to 8 kHz, no area normalisation
 *   -> AmplitudeToDB("power", top_db=80): 10 log10(max(x, 1e-10)), then everything below (the clip's maximum - 80 dB)
 *      is raised to it (log_mels=False)
 *   -> DCT-II with norm "ortho", first 40 coefficients.
 *
 * The top_db floor depends on the whole clip, so frames are not independent: torchaudio applied to a batch
 * [B, n] even takes the maximum over the whole batch; per clip is what a batch of one gives. Computed in float64;
 * torchaudio works in float32.
 */
import type { FeatureFrames } from "./kaldi-fbank.js";
import { PowerSpectrum } from "./spectrum.js";

export const MFCC_SETTINGS = {
  sample_rate: 16000,
  n_mfcc: 40,
  dct_type: 2,
  norm: "ortho",
  log_mels: false,
  top_db: 80,
  n_fft: 400,
  win_length: 400,
  hop_length: 160,
  n_mels: 64,
  f_min: 0,
  f_max: 8000,
  window_fn: "hann_window (periodic)",
  power: 2,
  center: true,
  pad_mode: "reflect",
  mel_scale: "htk",
  mel_norm: null,
} as const;

const N_FFT = MFCC_SETTINGS.n_fft;
const HOP = MFCC_SETTINGS.hop_length;
const PAD = N_FFT / 2;
const AMIN = 1e-10;

/** Fewest samples torchaudio accepts: reflect padding of 200 needs more than 200. */
export const MFCC_MIN_SAMPLES = PAD + 1;

/** Frames of a clip of `n` samples (center=True): 1 + floor(n / 160). */
export function mfccFrameCount(n: number): number {
  return n < MFCC_MIN_SAMPLES ? 0 : 1 + Math.floor(n / HOP);
}

const hzToMel = (hz: number): number => 2595 * Math.log10(1 + hz / 700);
const melToHz = (mel: number): number => 700 * (Math.pow(10, mel / 2595) - 1);

/** torchaudio `melscale_fbanks(nFreqs, fMin, fMax, nMels, sampleRate, norm=None, mel_scale="htk")` as [nFreqs][nMels]. */
export function htkMelFilterbank(nFreqs: number, fMin: number, fMax: number, nMels: number, sampleRate: number): Float64Array[] {
  const allFreqs = Array.from({ length: nFreqs }, (_, i) => ((sampleRate / 2) * i) / (nFreqs - 1));
  const mMin = hzToMel(fMin);
  const mMax = hzToMel(fMax);
  const fPts = Array.from({ length: nMels + 2 }, (_, i) => melToHz(mMin + ((mMax - mMin) * i) / (nMels + 1)));
  const fb: Float64Array[] = [];
  for (let f = 0; f < nFreqs; f++) {
    const row = new Float64Array(nMels);
    for (let m = 0; m < nMels; m++) {
      const down = (allFreqs[f] - fPts[m]) / (fPts[m + 1] - fPts[m]);
      const up = (fPts[m + 2] - allFreqs[f]) / (fPts[m + 2] - fPts[m + 1]);
      row[m] = Math.max(0, Math.min(down, up));
    }
    fb.push(row);
  }
  return fb;
}

/** torchaudio `create_dct(nMfcc, nMels, "ortho")`: [nMels][nMfcc]. */
export function orthoDct(nMfcc: number, nMels: number): Float64Array[] {
  const dct: Float64Array[] = [];
  for (let n = 0; n < nMels; n++) {
    const row = new Float64Array(nMfcc);
    for (let k = 0; k < nMfcc; k++)
      row[k] = Math.cos((Math.PI / nMels) * (n + 0.5) * k) * Math.sqrt(2 / nMels) * (k === 0 ? Math.SQRT1_2 : 1);
    dct.push(row);
  }
  return dct;
}

function hannPeriodic(n: number): Float64Array {
  const w = new Float64Array(n);
  for (let j = 0; j < n; j++) w[j] = 0.5 - 0.5 * Math.cos((2 * Math.PI * j) / n);
  return w;
}

/** Reusable state (window, filterbank, DCT, FFT tables). */
export class TorchaudioMfcc {
  readonly dim = MFCC_SETTINGS.n_mfcc;
  private readonly window = hannPeriodic(N_FFT);
  private readonly spectrum = new PowerSpectrum(N_FFT);
  /** Per mel band: first bin and weights (the triangles are sparse). */
  private readonly bands: { start: number; weights: Float64Array }[];
  private readonly dct = orthoDct(MFCC_SETTINGS.n_mfcc, MFCC_SETTINGS.n_mels);

  constructor() {
    const s = MFCC_SETTINGS;
    const fb = htkMelFilterbank(N_FFT / 2 + 1, s.f_min, s.f_max, s.n_mels, s.sample_rate);
    this.bands = Array.from({ length: s.n_mels }, (_, m) => {
      let first = -1;
      let last = -1;
      fb.forEach((row, f) => {
        if (row[m] > 0) {
          if (first < 0) first = f;
          last = f;
        }
      });
      return first < 0 ? { start: 0, weights: new Float64Array(0) } : { start: first, weights: Float64Array.from(fb.slice(first, last + 1), (r) => r[m]) };
    });
  }

  /** [frames, 40] MFCCs of a 16 kHz waveform; throws RangeError at 200 samples or fewer, as torchaudio does. */
  compute(wave: ArrayLike<number>): FeatureFrames {
    const n = wave.length;
    const T = mfccFrameCount(n);
    if (T === 0) throw new RangeError(`torchaudio's MFCC needs more than ${PAD} samples (reflect padding of ${PAD}); the clip has ${n}`);
    const M = MFCC_SETTINGS.n_mels;
    const D = this.dim;
    // reflect: index -k -> k, index n - 1 + k -> n - 1 - k
    const at = (i: number) => wave[i < 0 ? -i : i >= n ? 2 * (n - 1) - i : i];
    const db = new Float64Array(T * M);
    const frame = new Float64Array(N_FFT);
    const power = new Float64Array(N_FFT / 2 + 1);
    let maxDb = -Infinity;
    for (let t = 0; t < T; t++) {
      const s = t * HOP - PAD;
      for (let j = 0; j < N_FFT; j++) frame[j] = at(s + j) * this.window[j];
      this.spectrum.compute(frame, power);
      for (let m = 0; m < M; m++) {
        const { start, weights } = this.bands[m];
        let e = 0;
        for (let i = 0; i < weights.length; i++) e += weights[i] * power[start + i];
        const v = 10 * Math.log10(Math.max(e, AMIN));
        db[t * M + m] = v;
        if (v > maxDb) maxDb = v;
      }
    }
    const floor = maxDb - MFCC_SETTINGS.top_db;
    const out = new Float32Array(T * D);
    for (let t = 0; t < T; t++) {
      for (let k = 0; k < D; k++) {
        let c = 0;
        for (let m = 0; m < M; m++) c += Math.max(db[t * M + m], floor) * this.dct[m][k];
        out[t * D + k] = c;
      }
    }
    return { data: out, frames: T, dim: D };
  }
}

/** One-shot MFCC of one clip (see the module comment). */
export function torchaudioMfcc(wave: ArrayLike<number>): FeatureFrames {
  return new TorchaudioMfcc().compute(wave);
}
