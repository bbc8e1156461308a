/**
 * npm run bench:audio — emofeat's audio extraction against the engine floor and the reference batching.
 *
 * Clips: BENCH_N (default 40) WAV files of 1-12 s (log-normal around 3.5 s, like IEMOCAP utterances) at
 * 16 / 22.05 / 44.1 / 48 kHz, speech-like noise bursts over a sawtooth, cut at 10 s.
 * 1. Engine floor vs emofeat, whole process, on the same WavLM-Base-sized random encoder (7 conv layers of 512,
 *    12 transformer layers of 768): bench/floor-audio.ts (clips decoded and resampled in advance, then
 *    onnxruntime-node alone, see there) and `emofeat extract audio` with default settings (exact mode), as
 *    child processes of this one. Prints both and emofeat's whole-process time over the floor's load + runs
 *    (target <= 1.15); emofeat runs twice (the first run may hash the model file; the second finds it cached).
 *    Then 2 clips (target: emofeat <= floor load + runs + 1 s).
 * 2. exact vs reference batching in this process, as before: a 2-hour 48 kHz stereo WAV (sparse file) first,
 *    to show that memory does not grow with file length; then utterances/s, real-time factor (processing time
 *    / audio duration; lower is faster), the ratio and peak memory of each mode on BENCH_REF_N (default 32) clips.
 * 3. Memory: BENCH_MEM_N (default 20000) short synthetic clips (0.3-1 s, 8/16/44.1 kHz) through the tiny demo
 *    encoder; peak RSS at 10 % of the rows and at the end.
 *
 * The machine may be busy: every section prints the load average, and ratios compare runs made here, now.
 * Needs bench/models/wavlm-base-random: /usr/bin/python3 scripts/gen/audio_fixtures.py --bench
 * Env: BENCH_N, BENCH_REF_N, BENCH_MEM_N (0 skips a section), BENCH_SMALL=0 skips the 2-clip run, BENCH_LONG=0 skips the 2-hour file.
 */
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, truncateSync, writeFileSync, writeSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { stringify } from "csv-stringify/sync";
import { AudioEncoder, type BatchingMode } from "../src/audio/encoder.js";
import { loadClip } from "../src/audio/clip.js";
import { wavBytes } from "../tests/helpers/audio-synth.js";
import { buildCli } from "../tests/helpers/build-cli.js";
import { benchModel, floorVsEmofeat, spinningLine, lastJson, machineLine, mustRun, printMemory, ROOT, seededRandom, type FloorTimes } from "./common.js";

const MODEL = benchModel("wavlm-base-random", "scripts/gen/audio_fixtures.py");
const N = Number(process.env.BENCH_N ?? 40);
const REF_N = Number(process.env.BENCH_REF_N ?? 32);
const MEM_N = Number(process.env.BENCH_MEM_N ?? 20_000);

/** 16-bit PCM WAV bytes (the test suite's WAV writer). */
function wav16(sampleRate: number, channels: number, samples: Int16Array): Buffer {
  return wavBytes({ sampleRate, channels, formatTag: 1, bytesPerSample: 2 }, Buffer.from(samples.buffer, samples.byteOffset, samples.byteLength));
}

const dir = mkdtempSync(path.join(os.tmpdir(), "emofeat-bench-audio-"));

/** Fixed-seed clips: speech-like noise bursts (amplitude changing every 50 ms) over a sawtooth. */
function makeClips(name: string, n: number, lengths: "iemocap" | "short", seed: number): { files: string[]; audioSeconds: number } {
  const { rnd, gauss } = seededRandom(seed);
  // IEMOCAP-like: log-normal around 3.5 s, 1-12 s; short: 0.3-1 s (the memory run's 20,000 clips).
  const seconds = lengths === "iemocap" ? () => Math.min(12, Math.max(1, Math.exp(Math.log(3.5) + 0.6 * gauss()))) : () => 0.3 + 0.7 * rnd();
  const rates = lengths === "iemocap" ? [16000, 22050, 16000, 44100, 16000, 48000, 16000, 22050] : [16000, 8000, 44100];
  const sub = path.join(dir, name);
  mkdirSync(sub);
  const files: string[] = [];
  let audioSeconds = 0;
  for (let i = 0; i < n; i++) {
    const sr = rates[i % rates.length];
    const len = Math.round(seconds() * sr);
    const x = new Int16Array(len);
    let env = 0;
    for (let t = 0; t < len; t++) {
      if (t % Math.round(sr / 20) === 0) env = rnd() * 12000;
      x[t] = Math.round(env * (2 * rnd() - 1) + 3000 * (((t * 180) / sr) % 1) - 1500);
    }
    const f = path.join(sub, `clip${i}.wav`);
    writeFileSync(f, wav16(sr, 1, x));
    files.push(f);
    audioSeconds += len / sr;
  }
  return { files, audioSeconds };
}

function writeIndex(name: string, files: string[]): { csv: string; json: string } {
  const csv = path.join(dir, `${name}.csv`);
  const rows = files.map((f, i) => [`utt${String(i).padStart(6, "0")}`, `S${(i % 5) + 1}`, f, "", "neutral", "train"]);
  writeFileSync(csv, stringify(rows, { header: true, columns: ["utter_id", "session", "audio_path", "text", "label", "split"] }));
  const json = path.join(dir, `${name}.json`);
  writeFileSync(json, JSON.stringify(files));
  return { csv, json };
}


const cli = await buildCli();
console.log(`bench:audio: model ${path.relative(ROOT, MODEL)}; emofeat = node ${path.relative(ROOT, cli)} (src/ built by esbuild)`);
console.log(spinningLine());

async function compare(n: number, label: string, target: (f: FloorTimes) => number, targetText: string): Promise<void> {
  const { files, audioSeconds } = makeClips(`clips-${n}`, n, "iemocap", 7);
  const { csv, json } = writeIndex(`clips-${n}`, files);
  console.log(`\n[${label}] ${n} clips, ${audioSeconds.toFixed(1)} s of audio (cut at 10 s); ${machineLine()}`);
  await floorVsEmofeat({
    modality: "audio",
    floorScript: "floor-audio.ts",
    floorArgs: [MODEL, json, "10"],
    floorRuns: "runs of one clip, clips prepared in advance",
    emofeatArgs: [cli, "extract", "audio", "--csv", csv, "--model", MODEL, "--offline"],
    workDir: path.join(dir, `work-${n}`),
    target,
    targetText,
  });
}

if (N > 0) await compare(N, "speed", (f) => 1.15 * (f.load_s + f.runs_s), "target 1.15x =");
// Two clips take a few seconds of runs even alone (up to 10 s of audio each), so the target counts them.
if (process.env.BENCH_SMALL !== "0") await compare(2, "2 clips", (f) => f.load_s + f.runs_s + 1, "target floor load + runs + 1 s =");

function rssSampler() {
  let peak = process.memoryUsage().rss;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 25);
  return () => {
    clearInterval(timer);
    return Math.max(peak, process.memoryUsage().rss);
  };
}

if (REF_N > 0) {
  console.log(`\n[reference batching] in this process; ${machineLine()}`);
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
  const { files, audioSeconds } = makeClips("reference", REF_N, "iemocap", 7);
  const results: Record<string, { secs: number; peakMB: number; emb: (Float32Array | null)[] }> = {};
  for (const mode of ["reference", "exact"] as BatchingMode[]) {
    const enc = await AudioEncoder.load({ model: MODEL, offline: true, batching: mode, maxSeconds: 10 });
    await enc.embedFiles(files.slice(0, 2), 16); // warm-up
    const stop = rssSampler();
    const t0 = performance.now();
    const r = await enc.embedFiles(files, 16);
    const secs = (performance.now() - t0) / 1000;
    results[mode] = { secs, peakMB: stop() / 2 ** 20, emb: r.vectors };
    if (r.errors.some((e) => e)) throw r.errors.find((e) => e);
    await enc.dispose();
    console.log(
      `${mode.padEnd(9)}: ${(REF_N / secs).toFixed(2)} utt/s, real-time factor ${(secs / audioSeconds).toFixed(3)} ` +
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
}

if (MEM_N > 0) {
  const { files, audioSeconds } = makeClips("memory", MEM_N, "short", 11);
  const { csv } = writeIndex("memory", files);
  console.log(`\n[memory] ${MEM_N} clips (${audioSeconds.toFixed(0)} s of audio) through models/tiny-wavlm-demo; ${machineLine()}`);
  const r = await mustRun("memory run", ["--import", "tsx", path.join(ROOT, "bench", "memory-child.ts"), "audio", csv, path.join(ROOT, "models", "tiny-wavlm-demo"), path.join(dir, "mem-store")]);
  printMemory(lastJson(r.stdout), r.wallS);
}

rmSync(dir, { recursive: true, force: true });
