/**
 * The weight-free baselines' DSP against torchaudio (fixtures/reference/baselines, written by
 * scripts/gen/baseline_fixtures.py): full matrices on synthetic clips whose samples both languages build bit for
 * bit, and frame statistics on real files from ../shared/data through the whole pipeline (decode, resample,
 * peak-normalise, cut). Tolerance: 1e-4 relative, where "relative" is |ours - torchaudio| divided by the
 * largest |value| of the clip's matrix (log-domain features cross zero, so an element-wise ratio is undefined);
 * fbank bands more than 60 dB below their frame's strongest band are held to 0.01 in the log (see below).
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { loadClip } from "../src/audio/clip.js";
import { kaldiFbank, kaldiFrameCount, KaldiFbank } from "../src/audio/kaldi-fbank.js";
import { mfccFrameCount, torchaudioMfcc, TorchaudioMfcc } from "../src/audio/mfcc.js";
import { PowerSpectrum } from "../src/audio/spectrum.js";
import { synthInts } from "./helpers/audio-synth.js";
import { FIXTURES } from "./helpers/paths.js";
import { sharedData } from "./helpers/shared.js";

const TOL = 1e-4;
/** 60 dB in the log domain of the fbank (natural log of energy). */
const DEEP = Math.log(1e6);
const REF = path.join(FIXTURES, "reference", "baselines");

interface Matrix {
  frames?: number;
  values?: number[][];
  error?: string;
}
interface DspCase {
  name: string;
  length: number;
  kind: string;
  seed: number;
  fbank: Matrix;
  mfcc: Matrix;
}
interface Summary {
  frames: number;
  dim: number;
  row_sums: number[];
  mean: number[];
  std: number[];
  picked: [number, number[]][];
}
interface SharedFile {
  path: string;
  samples: number;
  fbank: Summary;
  mfcc: Summary;
}

const dsp = JSON.parse(readFileSync(path.join(REF, "dsp.json"), "utf8")) as { cases: DspCase[] };
const shared = JSON.parse(readFileSync(path.join(REF, "shared.json"), "utf8")) as { files: SharedFile[] };

const f32 = Math.fround;

/** baseline_fixtures.dsp_wave: the same float32 samples. */
function dspWave(c: DspCase): Float32Array {
  const x = new Float32Array(c.length);
  if (c.kind === "constant") x.fill(0.5);
  else if (c.kind === "impulse") x[Math.floor(c.length / 2) + 17] = 1;
  else if (c.kind !== "zeros") {
    synthInts(c.length, 1, c.seed, "noise-saw").forEach((v, i) => (x[i] = v / 32768));
    if (c.kind === "half-silent") x.fill(0, Math.floor(c.length / 4));
  }
  let peak = 0;
  for (const v of x) peak = Math.max(peak, Math.abs(v));
  if (peak > 0) for (let i = 0; i < x.length; i++) x[i] = f32(x[i] / peak);
  return x;
}

/** max |got - want| / max |want| over a [T][D] matrix. */
function relToScale(got: Float32Array, want: number[][]): number {
  let scale = 0;
  let diff = 0;
  want.forEach((row, t) =>
    row.forEach((w, d) => {
      scale = Math.max(scale, Math.abs(w));
      diff = Math.max(diff, Math.abs(got[t * row.length + d] - w));
    }),
  );
  return diff / scale;
}

const features = {
  fbank: { make: () => new KaldiFbank(80), count: kaldiFrameCount, dim: 80 },
  mfcc: { make: () => new TorchaudioMfcc(), count: mfccFrameCount, dim: 40 },
} as const;

describe("PowerSpectrum", () => {
  function naive(x: number[]): number[] {
    const n = x.length;
    return Array.from({ length: Math.floor(n / 2) + 1 }, (_, k) => {
      let re = 0;
      let im = 0;
      x.forEach((v, j) => {
        re += v * Math.cos((2 * Math.PI * k * j) / n);
        im -= v * Math.sin((2 * Math.PI * k * j) / n);
      });
      return re * re + im * im;
    });
  }
  for (const n of [8, 512, 400, 6, 1001, 2]) {
    it(`matches the textbook DFT for n = ${n}${(n & (n - 1)) === 0 ? "" : " (Bluestein)"}`, () => {
      const x = Array.from({ length: n }, (_, j) => Math.sin(0.37 * j * j) + (j % 7) / 7 - 0.4);
      const want = naive(x);
      const got = new Float64Array(want.length);
      new PowerSpectrum(n).compute(x, got);
      const scale = Math.max(...want);
      want.forEach((w, k) => expect(Math.abs(got[k] - w) / scale).toBeLessThan(1e-12));
    });
  }
});

describe("builtin features on synthetic clips = torchaudio (full matrices)", () => {
  for (const c of dsp.cases) {
    for (const name of ["fbank", "mfcc"] as const) {
      const want = c[name];
      const f = features[name];
      if (want.error) {
        it(`${name} ${c.name}: refuses a clip torchaudio refuses (${want.error.slice(0, 60)}...)`, () => {
          expect(f.count(c.length)).toBe(0);
          expect(() => f.make().compute(dspWave(c))).toThrow(RangeError);
        });
        continue;
      }
      it(`${name} ${c.name}: ${want.frames} frames within ${TOL} relative`, () => {
        const got = f.make().compute(dspWave(c));
        expect(got.frames).toBe(want.frames);
        expect(f.count(c.length)).toBe(want.frames);
        expect(got.dim).toBe(f.dim);
        const err = relToScale(got.data, want.values!);
        expect(err).toBeLessThan(TOL);
      });
    }
  }

  it("silence gives log of the float32 epsilon in every fbank bin, and -100 dB through the MFCC's DCT", () => {
    const z = new Float32Array(1600);
    const fb = kaldiFbank(z);
    expect(fb.data.every((v) => v === Math.fround(Math.log(1.1920928955078125e-7)))).toBe(true);
    const mf = torchaudioMfcc(z);
    for (let t = 0; t < mf.frames; t++) {
      expect(mf.data[t * 40]).toBeCloseTo(-100 * Math.sqrt(64), 3); // c0 = sum of -100 dB * 1/sqrt(64) * ... = -800
      for (let k = 1; k < 40; k++) expect(Math.abs(mf.data[t * 40 + k])).toBeLessThan(1e-9);
    }
  });
});

describe("builtin features on real files (../shared/data) through the pipeline = torchaudio", () => {
  const data = sharedData("");
  for (const file of shared.files) {
    it(`${file.path}: frame sums, per-bin mean/std over frames and whole frames within ${TOL} relative`, async () => {
      const clip = await loadClip(path.join(data, file.path), { targetSampleRate: 16000, maxSeconds: 10 });
      expect(clip.samples.length).toBe(file.samples);
      for (const name of ["fbank", "mfcc"] as const) {
        const want = file[name];
        const got = features[name].make().compute(clip.samples);
        expect([got.frames, got.dim]).toEqual([want.frames, want.dim]);
        const D = got.dim;
        const T = got.frames;
        let scale = 0;
        for (const [, row] of want.picked) for (const v of row) scale = Math.max(scale, Math.abs(v));
        // Whole frames. fbank bands more than 60 dB below their frame's strongest band (mostly the top bands, at
        // the resampler's 7.92 kHz cutoff) are below what float32 resolves: torchaudio's own float64 result
        // differs there by up to 2e-4 of the scale, and the resampled waveforms differ by its float32 rounding
        // (< 4e-7). Such bands are held to 1% in energy (0.01 in the log) instead.
        let frameErr = 0;
        let deepErr = 0;
        for (const [t, row] of want.picked) {
          const top = Math.max(...row);
          row.forEach((v, d) => {
            const e = Math.abs(got.data[t * D + d] - v);
            if (name === "fbank" && v < top - DEEP) deepErr = Math.max(deepErr, e);
            else frameErr = Math.max(frameErr, e / scale);
          });
        }
        expect(deepErr).toBeLessThan(0.01);
        // Every frame's sum over bins (scale: D values of up to `scale`).
        let sumErr = 0;
        for (let t = 0; t < T; t++) {
          let s = 0;
          for (let d = 0; d < D; d++) s += got.data[t * D + d];
          sumErr = Math.max(sumErr, Math.abs(s - want.row_sums[t]) / (D * scale));
        }
        // Per-bin mean (the mean-pooled store row) and population std over frames.
        const mean = new Float64Array(D);
        const sq = new Float64Array(D);
        for (let t = 0; t < T; t++) for (let d = 0; d < D; d++) mean[d] += got.data[t * D + d] / T;
        for (let t = 0; t < T; t++) for (let d = 0; d < D; d++) sq[d] += (got.data[t * D + d] - mean[d]) ** 2 / T;
        const meanScale = Math.max(...want.mean.map(Math.abs));
        let meanErr = 0;
        let stdErr = 0;
        want.mean.forEach((m, d) => (meanErr = Math.max(meanErr, Math.abs(mean[d] - m) / meanScale)));
        want.std.forEach((s, d) => (stdErr = Math.max(stdErr, Math.abs(Math.sqrt(sq[d]) - s) / meanScale)));
        expect(frameErr).toBeLessThan(TOL);
        expect(sumErr).toBeLessThan(TOL);
        expect(meanErr).toBeLessThan(TOL);
        expect(stdErr).toBeLessThan(TOL);
      }
    });
  }
});
