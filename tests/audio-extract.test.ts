/**
 * `emofeat extract audio` and extractAudio(): parity through the real command, clips.csv and totals, and bad
 * rows recorded in failures.csv without touching any other row (or stopping the run with --fail-fast).
 */
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { copyFile } from "node:fs/promises";
import path from "node:path";
import { parse } from "csv-parse/sync";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { embedAudio, extractAudio } from "../src/extract/audio.js";
import { readStore } from "../src/store/read.js";
import { floatBytes, intBytes, synthInts, synthWav, tempDir, wavBytes, writeTemp } from "./helpers/audio-synth.js";
import { writeIndex, type Row } from "./helpers/csv.js";
import { ROOT, removeDir } from "./helpers/paths.js";
import { runEmofeatInProcess } from "./helpers/cli.js";

const MODEL = path.join(ROOT, "fixtures/models/tiny-wavlm-mask");
const pipeline = JSON.parse(readFileSync(path.join(ROOT, "fixtures/reference/audio/pipeline.json"), "utf8")) as {
  maxSeconds: number;
  batchSize: number;
  clips: { id: string; sampleRate: number; channels: number; frames: number; seed: number; kind: string }[];
  embeddings: Record<string, Record<"normalize" | "raw", { reference: number[][]; exact: number[][] }>>;
};
const want = pipeline.embeddings["tiny-wavlm-mask"].normalize;

const cli = (args: string[]) => runEmofeatInProcess(args);

function maxDiff(got: Float32Array, rows: number[][]): number {
  const d = rows[0].length;
  let m = 0;
  rows.forEach((row, i) => row.forEach((v, h) => (m = Math.max(m, Math.abs(got[i * d + h] - v)))));
  return m;
}

const csvRows = (file: string) => parse(readFileSync(file, "utf8"), { columns: true }) as Record<string, string>[];

let dir: string;
let goodIndex: string;
beforeAll(async () => {
  dir = tempDir();
  mkdirSync(path.join(dir, "wav"));
  for (const c of pipeline.clips) writeTemp(path.join(dir, "wav"), `${c.id}.wav`, synthWav(c));
  goodIndex = await writeIndex(
    dir,
    pipeline.clips.map((c) => ({ utter_id: c.id, audio_path: `wav/${c.id}.wav`, text: "x" })),
  );
});
afterAll(() => removeDir(dir));

describe("extract audio: parity through the command and the API", () => {
  it("the command in reference mode reproduces torch within 1e-4, with clips.csv and totals", async () => {
    const out = path.join(dir, "ref-store");
    const r = await cli([
      "extract", "audio", "--csv", goodIndex, "--model", MODEL, "--offline", "--out", out,
      "--batching", "reference", "--batch-size", String(pipeline.batchSize), "--max-seconds", String(pipeline.maxSeconds),
    ]);
    expect(r.stderr).toContain(`${out}: written: 11 x 32 float32 (audio`);
    expect(r.stderr).toContain("the 4 s cut shortened 3 clip(s), removing 11.2 s");
    expect(r.code).toBe(0);
    const store = await readStore(out);
    expect(store.ids).toEqual(pipeline.clips.map((c) => c.id));
    expect(maxDiff(store.embeddings, want.reference)).toBeLessThanOrEqual(1e-4);
    expect(store.meta).toMatchObject({ modality: "audio", sr: 16000, max_seconds: 4, batching: "reference", pooling: "mean" });
    expect(store.meta.settings).toMatchObject({ batch_size: 4, do_normalize: true, attention_mask: "passed (the ONNX model declares it)" });
    const clips = csvRows(path.join(out, "clips.csv"));
    expect(Object.keys(clips[0])).toEqual(["utter_id", "row", "duration_s", "kept_s", "sample_rate", "channels", "truncated"]);
    pipeline.clips.forEach((c, i) => {
      const seconds = c.frames / c.sampleRate;
      expect(clips[i]).toMatchObject({ utter_id: c.id, row: String(i + 1), sample_rate: String(c.sampleRate), channels: String(c.channels) });
      expect(Number(clips[i].duration_s)).toBeCloseTo(seconds, 5);
      expect(clips[i].truncated).toBe(seconds > 4 ? "yes" : "no");
      expect(Number(clips[i].kept_s)).toBeCloseTo(Math.min(seconds, 4), 3);
    });
    const total = pipeline.clips.reduce((s, c) => s + c.frames / c.sampleRate, 0);
    expect(store.meta.totals).toMatchObject({ clips: 11, clips_truncated: 3 });
    expect(store.meta.totals!.seconds_total).toBeCloseTo(total, 2);
    expect(store.meta.totals!.seconds_removed_by_cut).toBeCloseTo(2 + 8 + 1.2, 2); // 6 s, 12 s and 5.2 s clips cut to 4 s
    const v = await cli(["validate", out, "--csv", goodIndex]);
    expect(v.code).toBe(0);
  });

  it("extractAudio in exact mode reproduces torch within 1e-5", async () => {
    const out = path.join(dir, "exact-store");
    const s = await extractAudio({ csv: goodIndex, out, model: MODEL, offline: true, maxSeconds: pipeline.maxSeconds, batchSize: 3 });
    expect(s.meta.batching).toBe("exact");
    const store = await readStore(out);
    expect(maxDiff(store.embeddings, want.exact)).toBeLessThanOrEqual(1e-5);
  });
});

describe("bad rows", () => {
  const pcm16 = { sampleRate: 16000, channels: 1, formatTag: 1, bytesPerSample: 2 };
  let index: string;
  let good: { id: string; file: string }[];
  const expected: Record<string, string | RegExp> = {
    missing: "audio: file not found",
    empty: "audio: empty file (0 bytes)",
    folder: "audio: is a directory",
    garbage: /^audio: truncated or garbage WAV header \(/,
    mp3inwav: "audio: unsupported codec (WAVE format tag 0x0055 MP3-in-WAV)",
    nosamples: "audio: zero samples",
    nan: /^audio: NaN\/Inf samples \(first at frame 3,/,
    tiny: "audio: too short for the encoder (200 samples at 16000 Hz; one frame needs 400)",
  };

  beforeAll(async () => {
    const w = path.join(dir, "bad");
    mkdirSync(path.join(w, "folder.wav"), { recursive: true });
    writeTemp(w, "empty.wav", Buffer.alloc(0));
    writeTemp(w, "garbage.wav", Buffer.concat([Buffer.from("RIFF\x10\x00\x00\x00WAVE", "latin1"), Buffer.from([1, 2, 3, 4, 5, 6, 7, 8])]));
    writeTemp(w, "mp3inwav.wav", wavBytes({ ...pcm16, formatTag: 0x55, bytesPerSample: 1 }, Buffer.alloc(32, 0xff)));
    writeTemp(w, "nosamples.wav", wavBytes(pcm16, Buffer.alloc(0)));
    writeTemp(w, "nan.wav", wavBytes({ ...pcm16, formatTag: 3, bytesPerSample: 4 }, floatBytes([0.1, 0.2, 0.3, Infinity, 0.5], 4)));
    writeTemp(w, "tiny.wav", wavBytes(pcm16, intBytes(synthInts(200, 1, 5, "noise-saw"), 2)));
    writeTemp(w, "ok1.wav", synthWav({ sampleRate: 22050, channels: 2, frames: 30000, seed: 71, kind: "noise-saw" }));
    writeTemp(w, "ok2.wav", synthWav({ sampleRate: 16000, channels: 1, frames: 12345, seed: 72, kind: "noise-saw" }));
    await copyFile(path.join(ROOT, "fixtures/audio/clip24.flac"), path.join(w, "ok3.flac"));
    const rows: Row[] = [
      { utter_id: "ok1", audio_path: "bad/ok1.wav" },
      { utter_id: "missing", audio_path: "bad/missing.wav" },
      { utter_id: "empty", audio_path: "bad/empty.wav" },
      { utter_id: "ok2", audio_path: "bad/ok2.wav" },
      { utter_id: "folder", audio_path: "bad/folder.wav" },
      { utter_id: "garbage", audio_path: "bad/garbage.wav" },
      { utter_id: "mp3inwav", audio_path: "bad/mp3inwav.wav" },
      { utter_id: "nosamples", audio_path: "bad/nosamples.wav" },
      { utter_id: "nan", audio_path: "bad/nan.wav" },
      { utter_id: "tiny", audio_path: "bad/tiny.wav" },
      { utter_id: "ok3", audio_path: "bad/ok3.flac" },
    ].map((r) => ({ ...r, text: "x" }));
    index = await writeIndex(dir, rows, "bad-index.csv");
    good = ["ok1", "ok2", "ok3"].map((id) => ({ id, file: path.join(dir, rows.find((r) => r.utter_id === id)!.audio_path!) }));
  });

  it("exact: each bad row is reported and recorded in failures.csv; the good rows equal their embeddings computed alone", async () => {
    const out = path.join(dir, "bad-exact");
    const messages: string[] = [];
    const s = await extractAudio({ csv: index, out, model: MODEL, offline: true, batchSize: 4, onRowFailure: (m) => messages.push(m) });
    expect(s.meta.failures).toBe(8);
    const store = await readStore(out);
    expect(store.ids).toEqual(["ok1", "ok2", "ok3"]);
    const failures = csvRows(path.join(out, "failures.csv"));
    expect(failures.map((f) => f.utter_id)).toEqual(Object.keys(expected));
    for (const f of failures) {
      const e = expected[f.utter_id];
      if (typeof e === "string") expect(f.reason).toBe(e);
      else expect(f.reason).toMatch(e);
    }
    expect(failures.find((f) => f.utter_id === "missing")!.row).toBe("2");
    expect(messages[0]).toBe("row 2 (missing): bad/missing.wav: audio: file not found");
    expect(messages).toHaveLength(8);
    expect(csvRows(path.join(out, "clips.csv")).map((c) => c.utter_id)).toEqual(["ok1", "ok2", "ok3"]);
    const alone = await embedAudio(good.map((g) => g.file), { model: MODEL, offline: true, batchSize: 1 });
    expect(maxDiff(store.embeddings, [0, 1, 2].map((i) => Array.from(alone.embeddings.subarray(i * 32, (i + 1) * 32))))).toBeLessThanOrEqual(1e-6);
  });

  it("reference: bad rows leave their batch; a short clip is fine when padded with longer ones", async () => {
    const out = path.join(dir, "bad-reference");
    const s = await extractAudio({ csv: index, out, model: MODEL, offline: true, batching: "reference", batchSize: 4 });
    expect(s.meta.failures).toBe(7);
    const store = await readStore(out);
    expect(store.ids).toEqual(["ok1", "ok2", "tiny", "ok3"]);
    // Batches of 4 index rows: [ok1, missing, empty, ok2] -> ok1 + ok2 padded together; [nan, tiny, ok3] -> tiny + ok3.
    const tiny = path.join(dir, "bad/tiny.wav");
    const a = await embedAudio([good[0].file, good[1].file], { model: MODEL, offline: true, batching: "reference", batchSize: 4 });
    const b = await embedAudio([tiny, good[2].file], { model: MODEL, offline: true, batching: "reference", batchSize: 4 });
    const rows = [a.embeddings, b.embeddings].flatMap((e) => [0, 1].map((i) => Array.from(e.subarray(i * 32, (i + 1) * 32))));
    expect(maxDiff(store.embeddings, rows)).toBeLessThanOrEqual(1e-6);
  });

  it("--fail-fast stops at the first bad row, naming row, file and reason; a rerun without it resumes", async () => {
    const out = path.join(dir, "failfast");
    const r = await cli(["extract", "audio", "--csv", index, "--model", MODEL, "--offline", "--out", out, "--batch-size", "1", "--fail-fast", "-q"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("emofeat: row 2 (missing): bad/missing.wav: audio: file not found");
    expect(r.stderr).not.toMatch(/at .*\.ts:\d+/);
    expect(existsSync(path.join(out, "meta.json"))).toBe(false);
    const again = await cli(["extract", "audio", "--csv", index, "--model", MODEL, "--offline", "--out", out, "--batch-size", "1"]);
    expect(again.code).toBe(0);
    expect(again.stderr).toContain("resuming with 1 already done");
    expect(again.stderr).toContain("emofeat: warning: row 3 (empty): bad/empty.wav: audio: empty file (0 bytes)");
    expect(again.stderr).toContain("8 of 11 row(s) failed, see");
  });
});

describe("the bundled demo corpus", () => {
  it("every row of samples/demo decodes and embeds with the demo model (8 to 48 kHz, one stereo clip)", async () => {
    const out = path.join(dir, "demo");
    const s = await extractAudio({ csv: path.join(ROOT, "samples/demo/index.csv"), out, model: path.join(ROOT, "models/tiny-wavlm-demo"), offline: true });
    expect([s.meta.n, s.meta.failures]).toEqual([24, 0]);
    const clips = csvRows(path.join(out, "clips.csv"));
    expect([...new Set(clips.map((c) => Number(c.sample_rate)))].sort((a, b) => a - b)).toEqual([8000, 16000, 22050, 44100, 48000]);
    expect(clips.filter((c) => c.channels === "2").map((c) => c.utter_id)).toEqual(["demo_s1_009"]);
    const secs = clips.map((c) => Number(c.duration_s));
    expect(Math.min(...secs)).toBeGreaterThan(0.5);
    expect(Math.max(...secs)).toBeLessThan(4);
  });
});

describe("extract audio CLI", () => {
  it("--help lists the audio options and their defaults", async () => {
    const r = await cli(["extract", "audio", "--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/--target-sr <hz>.*\(default: 16000\)/s);
    expect(r.stdout).toMatch(/--max-seconds <s>.*\(default: 10\)/s);
    expect(r.stdout).toMatch(/--batching <mode>.*choices: "exact", "reference", default: "exact"/s);
    expect(r.stdout).toMatch(/--batch-size <n>.*\(default: 16\)/s);
    expect(r.stdout).toContain("--fail-fast");
  });

  it("refuses a target rate the model was not trained on", async () => {
    const r = await cli(["extract", "audio", "--csv", goodIndex, "--model", MODEL, "--offline", "--out", path.join(dir, "sr"), "--target-sr", "8000", "-q"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("the model expects 16000 Hz audio (preprocessor_config.json), but --target-sr is 8000");
  });
});
