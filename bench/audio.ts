/**
 * npm run bench:audio — audio extraction throughput, `exact` against `reference` batching on the same engine
 * and the same WavLM-Base-sized random encoder (7 conv layers of 512 channels, 12 transformer layers of 768):
 *   reference: batches of 16 in index order, every clip padded to its batch's longest;
 *   exact:     no padding; clips run alone, or together when they have identical length (e.g. cut at 10 s).
 * Clips are WAV files of realistic, varied lengths (1-12 s, log-normal around 3.5 s like IEMOCAP utterances;
 * a quarter at 44.1/48 kHz so resampling is included), decoded, resampled, normalised and cut at 10 s.
 * First decodes a 2-hour 48 kHz stereo WAV (a sparse file) to show that memory does not grow with file length;
 * then prints utterances/s, the real-time factor (processing time / audio duration; lower is faster), the
 * ratio, and peak memory (RSS sampled during each mode; the reference runs first).
 * Needs bench/models/wavlm-base-random, made by
 *   /usr/bin/python3 scripts/gen/audio_fixtures.py --bench
 * Options (env): BENCH_N (clips, default 32), BENCH_THREADS, BENCH_LONG=0 to skip the 2-hour file.
 */
import { closeSync, mkdtempSync, openSync, rmSync, truncateSync, writeFileSync, writeSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { AudioEncoder, type BatchingMode } from "../src/audio/encoder.js";
import { loadClip } from "../src/audio/clip.js";
import { wavBytes } from "../tests/helpers/audio-synth.js";
import { benchModel, seededRandom } from "./common.js";

const MODEL = benchModel("wavlm-base-random", "scripts/gen/audio_fixtures.py");
const N = Number(process.env.BENCH_N ?? 32);
const threads = process.env.BENCH_THREADS ? Number(process.env.BENCH_THREADS) : undefined;

/** 16-bit PCM WAV bytes (the test suite's WAV writer). */
function wav16(sampleRate: number, channels: number, samples: Int16Array): Buffer {
  return wavBytes({ sampleRate, channels, formatTag: 1, bytesPerSample: 2 }, Buffer.from(samples.buffer, samples.byteOffset, samples.byteLength));
}

// Fixed-seed clips: speech-like noise bursts (amplitude changing every 50 ms) over a sawtooth.
const { rnd, gauss } = seededRandom(7);
const dir = mkdtempSync(path.join(os.tmpdir(), "emofeat-bench-audio-"));
const files: string[] = [];
let audioSeconds = 0;
for (let i = 0; i < N; i++) {
  const seconds = Math.min(12, Math.max(1, Math.exp(Math.log(3.5) + 0.6 * gauss())));
  const sr = i % 8 === 3 ? 44100 : i % 8 === 6 ? 48000 : 16000;
  const n = Math.round(seconds * sr);
  const x = new Int16Array(n);
  let env = 0;
  for (let t = 0; t < n; t++) {
    if (t % Math.round(sr / 20) === 0) env = rnd() * 12000;
    x[t] = Math.round(env * (2 * rnd() - 1) + 3000 * (((t * 180) / sr) % 1) - 1500);
  }
  const f = path.join(dir, `clip${i}.wav`);
  writeFileSync(f, wav16(sr, 1, x));
  files.push(f);
  audioSeconds += n / sr;
}
console.log(`bench:audio: ${N} clips, ${audioSeconds.toFixed(1)} s of audio (1-12 s each, cut at 10 s); model ${MODEL}`);

function rssSampler() {
  let peak = process.memoryUsage().rss;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 25);
  return () => {
    clearInterval(timer);
    return Math.max(peak, process.memoryUsage().rss);
  };
}

if (process.env.BENCH_LONG !== "0") {
  // A 2-hour 48 kHz stereo 16-bit WAV (1.4 GB, sparse: no disk used) with one click near the end.
  const sr = 48000;
  const frames = 2 * 3600 * sr;
  const f = path.join(dir, "two-hours.wav");
  const header = wav16(sr, 2, new Int16Array(0));
  header.writeUInt32LE(36 + frames * 4, 4);
  header.writeUInt32LE(frames * 4, 40);
  writeFileSync(f, header);
  truncateSync(f, 44 + frames * 4);
  const fd = openSync(f, "r+");
  writeSync(fd, Buffer.from([0x30, 0x75]), 0, 2, 44 + (frames - 4800) * 4);
  closeSync(fd);
  const before = process.memoryUsage().rss;
  const stop = rssSampler();
  const t0 = performance.now();
  const c = await loadClip(f, { maxSeconds: 10 });
  const secs = (performance.now() - t0) / 1000;
  console.log(
    `2-hour 48 kHz stereo WAV (${((frames * 4) / 2 ** 30).toFixed(2)} GiB of samples): decoded, resampled and cut in ${secs.toFixed(1)} s, ` +
      `kept ${c.samples.length} samples, peak ${c.info.peak.toFixed(3)} (from the click 7199.9 s in), peak RSS ${(stop() / 2 ** 20).toFixed(0)} MB (${(before / 2 ** 20).toFixed(0)} MB before)`,
  );
}

const results: Record<string, { secs: number; peakMB: number; emb: (Float32Array | null)[] }> = {};
for (const mode of ["reference", "exact"] as BatchingMode[]) {
  const enc = await AudioEncoder.load({ model: MODEL, offline: true, threads, batching: mode, maxSeconds: 10 });
  await enc.embedFiles(files.slice(0, 2), 16); // warm-up
  const stop = rssSampler();
  const t0 = performance.now();
  const r = await enc.embedFiles(files, 16);
  const secs = (performance.now() - t0) / 1000;
  results[mode] = { secs, peakMB: stop() / 2 ** 20, emb: r.vectors };
  if (r.errors.some((e) => e)) throw r.errors.find((e) => e);
  await enc.dispose();
  console.log(
    `${mode.padEnd(9)}: ${(N / secs).toFixed(2)} utt/s, real-time factor ${(secs / audioSeconds).toFixed(3)} ` +
      `(${secs.toFixed(1)} s for ${audioSeconds.toFixed(0)} s of audio), peak RSS ${results[mode].peakMB.toFixed(0)} MB`,
  );
}
let maxAbs = 0;
results.exact.emb.forEach((v, i) => v!.forEach((x, h) => (maxAbs = Math.max(maxAbs, Math.abs(x - results.reference.emb[i]![h])))));
console.log(
  `exact vs reference: ${(results.reference.secs / results.exact.secs).toFixed(2)}x the reference's throughput ` +
    `(reference ${results.reference.secs.toFixed(1)} s / exact ${results.exact.secs.toFixed(1)} s); ` +
    `embeddings differ by up to ${maxAbs.toExponential(2)} (padding changes WavLM's GroupNorm: by design)`,
);

rmSync(dir, { recursive: true, force: true });
