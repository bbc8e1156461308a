import { describe, expect, it } from "vitest";
import { closeSync, existsSync, openSync, readFileSync, truncateSync, writeSync } from "node:fs";
import path from "node:path";
import {
  convOutputLength,
  DEFAULT_CONV_GEOMETRY,
  extractFeatures,
  featureExtractorConfigFrom,
  minSamplesForOneFrame,
  peakNormalize,
  referenceFrameMask,
  roundHalfEven,
  torchLinspaceF32,
  truncate,
  zeroMeanUnitVarNorm,
} from "../src/audio/preprocess.js";
import { loadClip } from "../src/audio/clip.js";
import { intBytes, synthInts, synthWav, tempDir, wavBytes, writeTemp } from "./helpers/audio-synth.js";

const ROOT = path.resolve(import.meta.dirname, "..");
const REF = path.join(ROOT, "fixtures/reference/audio");
const SHARED_DATA = path.resolve(ROOT, "..", "shared", "data");
const load = (f: string) => JSON.parse(readFileSync(path.join(REF, f), "utf8"));

interface ClipSpec {
  id: string;
  sampleRate: number;
  channels: number;
  frames: number;
  seed: number;
  kind: string;
}
const pipeline = load("pipeline.json") as {
  targetSampleRate: number;
  maxSeconds: number;
  batchSize: number;
  clips: ClipSpec[];
  clipOutputs: {
    id: string;
    intSum: number;
    resampledLength: number;
    length: number;
    truncated: boolean;
    peak: number;
    sum: number;
    sumAbs: number;
    head: number[];
    at: [number, number][];
    normalized: { head: number[]; sum: number; sumSq: number };
    frames: number;
  }[];
  padded: { shape: [number, number]; maskSums: number[]; rows: { head: number[]; lastReal: number; sum: number }[] };
  embeddings: Record<string, Record<string, { referenceFrameMasks: { paddedLength: number; frames: number; realFrames: number }[] }>>;
};

const dir = tempDir();
const clipFiles = pipeline.clips.map((c) => writeTemp(dir, `${c.id}.wav`, synthWav(c)));
const sum = (x: Float32Array) => x.reduce((s, v) => s + v, 0);

describe("test signal", () => {
  it("the TypeScript synthesiser reproduces the generator's integers", () => {
    pipeline.clips.forEach((c, i) => {
      const ints = synthInts(c.frames, c.channels, c.seed, c.kind);
      expect(ints.reduce((s, v) => s + v, 0)).toBe(pipeline.clipOutputs[i].intSum);
    });
  });
});

describe("loadClip: decode -> mono -> resample -> peak-normalise -> truncate, against torch", () => {
  const loaded = Promise.all(
    clipFiles.map((f) => loadClip(f, { targetSampleRate: pipeline.targetSampleRate, maxSeconds: pipeline.maxSeconds })),
  );

  pipeline.clips.forEach((c, i) => {
    const want = pipeline.clipOutputs[i];
    it(`${c.id} (${c.sampleRate} Hz, ${c.channels} ch, ${(c.frames / c.sampleRate).toFixed(2)} s)`, async () => {
      const { samples, info } = (await loaded)[i];
      expect(samples.length).toBe(want.length);
      expect(info.resampledLength).toBe(want.resampledLength);
      expect(info.truncated).toBe(want.truncated);
      expect([info.sampleRate, info.channels, info.originalFrames]).toEqual([c.sampleRate, c.channels, c.frames]);
      expect(info.originalSeconds).toBeCloseTo(c.frames / c.sampleRate, 12);
      expect(Math.abs(info.peak - want.peak)).toBeLessThanOrEqual(1e-5);
      for (let k = 0; k < want.head.length; k++) expect(Math.abs(samples[k] - want.head[k])).toBeLessThanOrEqual(1e-5);
      for (const [at, v] of want.at) expect(Math.abs(samples[at] - v)).toBeLessThanOrEqual(1e-5);
      expect(Math.abs(sum(samples) - want.sum)).toBeLessThanOrEqual(1e-5 * samples.length);
      if (want.peak === 0) {
        expect(samples.every((v) => v === 0)).toBe(true); // silence stays silence, never NaN
      } else {
        expect(Math.max(...Array.from(samples, Math.abs))).toBeLessThanOrEqual(1);
      }
    });
  });

  it("the peak comes from the whole resampled clip, before the cut", async () => {
    // Quiet first 2 s, loud last second: the kept 2 s are divided by the loud part's peak, not their own.
    const sr = 16000;
    const ints = new Int16Array(3 * sr);
    for (let i = 0; i < ints.length; i++) ints[i] = (i % 50) * (i < 2 * sr ? 10 : 600) - (i < 2 * sr ? 245 : 14700);
    const f = writeTemp(dir, "quiet-then-loud.wav", wavBytes({ sampleRate: sr, channels: 1, formatTag: 1, bytesPerSample: 2 }, intBytes(ints, 2)));
    const { samples, info } = await loadClip(f, { maxSeconds: 2 });
    expect(samples.length).toBe(2 * sr);
    expect(info.truncated).toBe(true);
    expect(info.peak).toBe(14700 / 32768);
    expect(samples[0]).toBe(Math.fround(Math.fround(-245 / 32768) / Math.fround(14700 / 32768)));
  });

  it("keeps memory to the cut on a long file (10 minutes at 48 kHz stereo -> 10 s kept)", async () => {
    const sr = 48000;
    const frames = 600 * sr;
    // A sparse file: silence except one click near the end.
    const header = wavBytes({ sampleRate: sr, channels: 2, formatTag: 1, bytesPerSample: 2 }, Buffer.alloc(0));
    header.writeUInt32LE(header.length - 8 + frames * 4, 4);
    header.writeUInt32LE(frames * 4, header.length - 4);
    const f = writeTemp(dir, "long.wav", header);
    truncateSync(f, header.length + frames * 4);
    const fd = openSync(f, "r+");
    writeSync(fd, Buffer.from([0x20, 0x4e]), 0, 2, header.length + (frames - 1000) * 4);
    closeSync(fd);
    const before = process.memoryUsage().arrayBuffers;
    const { samples, info } = await loadClip(f, { maxSeconds: 10 });
    expect(samples.length).toBe(160000);
    expect(info.originalSeconds).toBe(600);
    expect(info.truncated).toBe(true);
    expect(info.peak).toBeGreaterThan(0); // the click 599.98 s in still sets the peak
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(64 * 2 ** 20);
  });

  it("without a cut, refuses clips longer than the uncut limit", async () => {
    await expect(loadClip(clipFiles[6], { maxSeconds: null, maxUncutSeconds: 5 })).rejects.toThrow(/too long to process uncut/);
    const whole = await loadClip(clipFiles[6], { maxSeconds: null });
    expect(whole.samples.length).toBe(pipeline.clipOutputs[6].resampledLength);
    expect(whole.info.truncated).toBe(false);
  });
});

describe("feature extractor (Wav2Vec2FeatureExtractor semantics)", () => {
  const clips = Promise.all(clipFiles.map((f) => loadClip(f, { maxSeconds: pipeline.maxSeconds }).then((c) => c.samples)));

  it("zero-mean unit-variance per clip: (x - mean) / sqrt(var + 1e-7), population variance", async () => {
    const xs = await clips;
    xs.forEach((x, i) => {
      const want = pipeline.clipOutputs[i].normalized;
      const y = zeroMeanUnitVarNorm(x);
      for (let k = 0; k < want.head.length; k++) expect(Math.abs(y[k] - want.head[k])).toBeLessThanOrEqual(2e-5);
      expect(Math.abs(sum(y) - want.sum)).toBeLessThanOrEqual(1e-2); // sum of ~64k values that cancel to ~0
      expect(Math.abs(y.reduce((s, v) => s + v * v, 0) - want.sumSq) / Math.max(1, want.sumSq)).toBeLessThanOrEqual(1e-5);
    });
    // By hand: [1, 2, 3, 4] -> mean 2.5, var 1.25
    const d = Math.fround(Math.sqrt(Math.fround(1.25) + 1e-7));
    expect(Array.from(zeroMeanUnitVarNorm(Float32Array.from([1, 2, 3, 4])))).toEqual([-1.5, -0.5, 0.5, 1.5].map((v) => Math.fround(v / d)));
    expect(Array.from(zeroMeanUnitVarNorm(new Float32Array(5)))).toEqual([0, 0, 0, 0, 0]);
  });

  it("pads to the longest clip with padding_value, normalises over real samples only, mask 1 on real samples", async () => {
    const xs = (await clips).slice(0, pipeline.batchSize);
    const b = extractFeatures(xs, { doNormalize: true, paddingValue: 0 });
    expect([b.batchSize, b.length]).toEqual(pipeline.padded.shape);
    pipeline.padded.rows.forEach((row, i) => {
      const real = pipeline.padded.maskSums[i];
      expect(b.lengths[i]).toBe(real);
      const r = b.inputValues.subarray(i * b.length, (i + 1) * b.length);
      const m = b.attentionMask.subarray(i * b.length, (i + 1) * b.length);
      expect(m.reduce((s, v) => s + Number(v), 0)).toBe(real);
      expect(m[real - 1]).toBe(1n);
      if (real < b.length) expect(m[real]).toBe(0n);
      for (let k = 0; k < 4; k++) expect(Math.abs(r[k] - row.head[k])).toBeLessThanOrEqual(2e-5);
      expect(Math.abs(r[real - 1] - row.lastReal)).toBeLessThanOrEqual(2e-5);
      expect(Math.abs(sum(r) - row.sum)).toBeLessThanOrEqual(1e-2);
      expect(r.subarray(real).every((v) => v === 0)).toBe(true);
    });
    const withPad = extractFeatures([Float32Array.from([1, 2]), Float32Array.from([3])], { doNormalize: false, paddingValue: -7 });
    expect(Array.from(withPad.inputValues)).toEqual([1, 2, 3, -7]);
    expect(Array.from(withPad.attentionMask)).toEqual([1n, 1n, 1n, 0n]);
  });

  it("reads preprocessor_config.json with HF defaults", () => {
    const cfg = JSON.parse(readFileSync(path.join(ROOT, "fixtures/models/tiny-wavlm/preprocessor_config.json"), "utf8"));
    expect(featureExtractorConfigFrom(cfg)).toEqual({ doNormalize: true, paddingValue: 0, samplingRate: 16000, returnAttentionMask: true, featureSize: 1 });
    expect(featureExtractorConfigFrom({})).toMatchObject({ doNormalize: true, paddingValue: 0, returnAttentionMask: false });
  });
});

describe("frames", () => {
  it("conv output length: floor((L - k) / s) + 1 per layer", () => {
    pipeline.clipOutputs.forEach((c) => expect(convOutputLength(c.length, DEFAULT_CONV_GEOMETRY)).toBe(c.frames));
    expect(convOutputLength(16000, DEFAULT_CONV_GEOMETRY)).toBe(49);
    expect(convOutputLength(399, DEFAULT_CONV_GEOMETRY)).toBe(0);
    expect(convOutputLength(400, DEFAULT_CONV_GEOMETRY)).toBe(1);
    expect(minSamplesForOneFrame(DEFAULT_CONV_GEOMETRY)).toBe(400);
  });

  it("round half to even", () => {
    expect([0.5, 1.5, 2.5, -0.5, -1.5, 2.4999, 2.5001, 3].map(roundHalfEven)).toEqual([0, 2, 2, -0, -2, 2, 3, 3]);
  });

  it("torch.linspace(0, L-1, T) in float32 and its rounding match torch 1.13 on every recorded (L, T)", () => {
    const lin = load("linspace.json") as { cases: [number, number, [number, number][]][]; values: { L: number; T: number; values: number[] }[] };
    let exceptions = 0;
    for (const [L, T, diffs] of lin.cases) {
      const got = torchLinspaceF32(0, L - 1, T);
      const special = new Map(diffs.map(([t, v]) => [t, v]));
      exceptions += diffs.length;
      for (let t = 0; t < T; t++) {
        // exact rational round-half-even of t (L-1) / (T-1), unless torch's float32 arithmetic lands elsewhere
        const num = t * (L - 1);
        const den = Math.max(T - 1, 1);
        const q = Math.floor(num / den);
        const r2 = 2 * (num - q * den);
        const exact = r2 > den || (r2 === den && q % 2 === 1) ? q + 1 : q;
        const want = special.get(t) ?? exact;
        if (roundHalfEven(got[t]) !== want) throw new Error(`L=${L} T=${T} t=${t}: got ${roundHalfEven(got[t])} (from ${got[t]}), torch ${want}`);
      }
    }
    expect(exceptions).toBeGreaterThan(100); // the float32 effects are real and all reproduced
    for (const v of lin.values) expect(Array.from(torchLinspaceF32(0, v.L - 1, v.T))).toEqual(v.values.map(Math.fround));
  });

  it("reference frame masks count the frames torch's round(linspace) marks real", () => {
    const xs = pipeline.clipOutputs.map((c) => c.length);
    for (const per of Object.values(pipeline.embeddings)) {
      for (const mode of Object.values(per)) {
        mode.referenceFrameMasks.forEach((m, i) => {
          const mask = referenceFrameMask(xs[i], m.paddedLength, m.frames);
          expect(mask.reduce((s, v) => s + v, 0)).toBe(m.realFrames);
        });
      }
    }
  });
});

describe("small pure steps", () => {
  it("peak normalisation and truncation", () => {
    expect(Array.from(peakNormalize(Float32Array.from([0.5, -0.25, 0.125])))).toEqual([1, -0.5, 0.25]);
    expect(Array.from(peakNormalize(new Float32Array(3)))).toEqual([0, 0, 0]);
    expect(truncate(new Float32Array(100), 16000, 0.005).length).toBe(80);
    expect(truncate(new Float32Array(50), 16000, 0.005).length).toBe(50);
  });
});

describe.skipIf(!existsSync(SHARED_DATA))("the pipeline on real corpus files", () => {
  const ref = load("shared-files.json") as {
    targetSampleRate: number;
    maxSeconds: number;
    files: { path: string; pipeline: { length: number; resampledLength: number; peak: number; sum: number; sumAbs: number; head: number[]; at: [number, number][] } }[];
  };
  for (const f of ref.files) {
    it(`${f.path}`, async () => {
      const { samples, info } = await loadClip(path.join(SHARED_DATA, f.path), { targetSampleRate: ref.targetSampleRate, maxSeconds: ref.maxSeconds });
      const p = f.pipeline;
      expect(samples.length).toBe(p.length);
      expect(info.resampledLength).toBe(p.resampledLength);
      expect(Math.abs(info.peak - p.peak)).toBeLessThanOrEqual(1e-5);
      for (let k = 0; k < p.head.length; k++) expect(Math.abs(samples[k] - p.head[k])).toBeLessThanOrEqual(1e-5);
      for (const [at, v] of p.at) expect(Math.abs(samples[at] - v)).toBeLessThanOrEqual(1e-5);
      expect(Math.abs(samples.reduce((s, v) => s + Math.abs(v), 0) - p.sumAbs)).toBeLessThanOrEqual(1e-5 * samples.length);
    });
  }
});
