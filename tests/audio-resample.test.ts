import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import path from "node:path";
import { readNpy } from "../src/store/npy.js";
import { resample, sincResampleKernel, SincResampler } from "../src/audio/resample.js";
import { synthInts } from "./helpers/audio-synth.js";

const REF = path.resolve(import.meta.dirname, "../fixtures/reference/audio");
const ref = JSON.parse(readFileSync(path.join(REF, "resample.json"), "utf8")) as {
  targetSampleRate: number;
  inputs: { name: string; sampleRate: number; frames: number; seed: number; impulse: boolean; outputLength: number; file: string }[];
};

/** The generator's input: synth ints / 32768 (or the impulse variant). */
function inputOf(e: (typeof ref.inputs)[number]): Float32Array {
  const ints = synthInts(e.frames, 1, e.seed, "noise-saw");
  if (e.impulse) {
    ints.fill(0);
    ints[2400] = 32767;
    ints[2401] = -32768;
  }
  return Float32Array.from(ints, (v) => v / 32768);
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe("resample matches torchaudio.functional.resample (defaults) within 1e-5", () => {
  for (const e of ref.inputs) {
    it(`${e.name}: ${e.sampleRate} Hz, ${e.frames} samples -> ${ref.targetSampleRate} Hz`, async () => {
      const want = (await readNpy(path.join(REF, e.file))).data;
      const got = resample(inputOf(e), e.sampleRate, ref.targetSampleRate);
      expect(got.length).toBe(e.outputLength);
      expect(got.length).toBe(Math.ceil((ref.targetSampleRate * e.frames) / e.sampleRate));
      const d = maxAbsDiff(got, want);
      expect(d).toBeLessThanOrEqual(1e-5);
      if (e.sampleRate === ref.targetSampleRate) expect(d).toBe(0);
    });
  }

  it("streaming in uneven blocks gives exactly the whole-signal result", () => {
    for (const e of ref.inputs.filter((x) => x.frames > 1000)) {
      const x = inputOf(e);
      const whole = resample(x, e.sampleRate, 16000);
      const r = new SincResampler(e.sampleRate, 16000);
      const parts: Float32Array[] = [];
      let o = 0;
      for (const size of [1, 2, 37, 1000, 5, 4096]) {
        parts.push(r.push(x.subarray(o, o + size)));
        o += size;
      }
      for (; o < x.length; o += 777) parts.push(r.push(x.subarray(o, o + 777)));
      parts.push(r.finish());
      const joined = new Float32Array(parts.reduce((s, p) => s + p.length, 0));
      let at = 0;
      for (const p of parts) {
        joined.set(p, at);
        at += p.length;
      }
      expect(joined.length).toBe(whole.length);
      expect(maxAbsDiff(joined, whole)).toBe(0);
    }
  });

  it("builds each rate pair's kernel once, reduced by the gcd (44.1 kHz -> 16 kHz: 160 phases, width 17)", () => {
    const k = sincResampleKernel(44100, 16000);
    expect(sincResampleKernel(44100, 16000)).toBe(k);
    expect([k.orig, k.new, k.width]).toEqual([441, 160, 17]);
    expect(k.taps).toHaveLength(160);
    // Only taps inside the window are kept: ~2 * 6 * 441 / 158.4 of the 475.
    for (const t of k.taps) expect(t.length).toBeLessThanOrEqual(35);
    const k48 = sincResampleKernel(48000, 16000);
    expect([k48.orig, k48.new, k48.width]).toEqual([3, 1, 19]);
  });

  it("silence stays silence and an empty signal stays empty", () => {
    expect(Array.from(resample(new Float32Array(100), 48000, 16000))).toEqual(new Array(34).fill(0));
    expect(resample(new Float32Array(0), 22050, 16000)).toHaveLength(0);
  });
});
