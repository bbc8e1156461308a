/**
 * emofeat serve, in process: every route, every error (each answered with its status, code and message, after
 * which the server still answers a good request correctly), batching invariance, limits, auth, metrics, logs,
 * and the WebSocket stream. Runs are trained here from the demo corpus with the bundled tiny models; servers
 * listen on 127.0.0.1 only.
 */
import { cp, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { PassThrough } from "node:stream";
import ort from "onnxruntime-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { decodeAudioFile } from "../src/audio/decode.js";
import { EmofeatError } from "../src/errors.js";
import { loadIndex } from "../src/manifest/index-csv.js";
import { predict } from "../src/predict/predict.js";
import { EmofeatServer, exposureWarning, type ServeOptions } from "../src/serve/server.js";
import { WindowCutter } from "../src/serve/stream.js";
import { readStore } from "../src/store/read.js";
import { extractAudio } from "../src/extract/audio.js";
import { trainProbe } from "../src/train/probe.js";
import { trainPerLayer } from "../src/train/per-layer.js";
import { extractText } from "../src/extract/text.js";
import { floatBytes, wavBytes } from "./helpers/audio-synth.js";
import { writeGatedHead, type GatedHead } from "./helpers/gated-head.js";
import { DEMO_INDEX, DEMO_MODEL, removeDir, tempDir } from "./helpers/paths.js";
import { DEMO_WAV_DIR, DEMO_WAVLM, trainDemoRuns, type DemoRuns } from "./helpers/serve-runs.js";

const WAV = path.join(DEMO_WAV_DIR, "demo_s1_001.wav");
const TEXT = "I can't believe you did that to me!";
type Json = Record<string, any>;

let dir: string;
let demo: DemoRuns;
const servers: EmofeatServer[] = [];
let main: EmofeatServer; // concat run (audio + text)
let textSrv: EmofeatServer;
let audioSrv: EmofeatServer;
let limits: EmofeatServer; // concat run with small limits
let baseline: Record<string, number>; // the library's prediction of WAV + TEXT
let wavBytesOnDisk: Buffer;
let wavInt16: Int16Array;

async function start(o: ServeOptions): Promise<EmofeatServer> {
  const s = await EmofeatServer.start({ port: 0, host: "127.0.0.1", logLevel: "silent", predictor: { offline: true }, ...o });
  servers.push(s);
  await s.ready;
  return s;
}

async function postJson(s: EmofeatServer, body: unknown, route = "/v1/predict", headers: Record<string, string> = {}): Promise<{ status: number; body: Json; headers: Headers }> {
  const r = await fetch(s.url + route, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: typeof body === "string" ? body : JSON.stringify(body) });
  return { status: r.status, body: (await r.json()) as Json, headers: r.headers };
}

async function postForm(s: EmofeatServer, fields: Record<string, string | { bytes: Buffer; name: string }>, route = "/v1/predict"): Promise<{ status: number; body: Json }> {
  const form = new FormData();
  for (const [k, v] of Object.entries(fields)) {
    if (typeof v === "string") form.append(k, v);
    else form.append(k, new Blob([v.bytes]), v.name);
  }
  const r = await fetch(s.url + route, { method: "POST", body: form });
  return { status: r.status, body: (await r.json()) as Json };
}

/** A good request on `s` answers exactly as the library does (the server is not left broken by what came before). */
async function expectHealthy(s: EmofeatServer = main): Promise<void> {
  const r = await postForm(s, { audio: { bytes: wavBytesOnDisk, name: "a.wav" }, text: TEXT });
  expect(r.status).toBe(200);
  expect(r.body.probabilities).toEqual(baseline);
}

function int16Base64(x: Int16Array): string {
  return Buffer.from(x.buffer, x.byteOffset, x.byteLength).toString("base64");
}

beforeAll(async () => {
  dir = await tempDir("emofeat-serve-");
  demo = await trainDemoRuns(dir, ["text", "audio", "concat"]);
  wavBytesOnDisk = await readFile(WAV);
  const decoded = await decodeAudioFile(WAV);
  wavInt16 = Int16Array.from(decoded.channelData[0], (v) => Math.round(v * 32768));
  const [p] = await predict(demo.runs.concat!, [{ audio: WAV, text: TEXT }], { offline: true });
  baseline = p.probabilities!;
  [main, textSrv, audioSrv, limits] = await Promise.all([
    start({ run: demo.runs.concat!, maxPendingWindows: 32 }),
    start({ run: demo.runs.text! }),
    start({ run: demo.runs.audio! }),
    start({ run: demo.runs.concat!, bodyLimitBytes: 1_000_000, maxAudioSeconds: 20, longAudio: "reject", maxTextChars: 200, maxBatch: 4, queueSize: 2, maxPendingWindows: 1 }),
  ]);
});

afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
  await removeDir(dir);
});

describe("serve: routes", () => {
  it("health says loading until the run is loaded (predict answers 503 + Retry-After meanwhile), then ready", async () => {
    const s = await EmofeatServer.start({ run: demo.runs.text!, port: 0, logLevel: "silent", predictor: { offline: true } });
    servers.push(s);
    const [h, p] = await Promise.all([fetch(s.url + "/v1/health"), postJson(s, { text: TEXT })]);
    expect(h.status).toBe(503);
    expect(await h.json()).toMatchObject({ status: "loading" });
    expect(p.status).toBe(503);
    expect(p.body.code).toBe("loading");
    expect(p.headers.get("retry-after")).toBe("1");
    await s.ready;
    const ready = await fetch(s.url + "/v1/health");
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ status: "ready", queue: { length: 0, capacity: 256 } });
  });

  it("/v1/model: labels, needs, the head with its metrics, each store's encoder and settings, the server's limits", async () => {
    const r = await fetch(main.url + "/v1/model");
    const m = (await r.json()) as Json;
    const metrics = JSON.parse(await readFile(path.join(demo.runs.concat!, "metrics.json"), "utf8"));
    expect(m.labels).toEqual(["angry", "happy", "neutral", "sad"]);
    expect(m.needs).toEqual(["audio", "text"]);
    expect(m.beta).toBe(false);
    expect(m.head.name).toBe("concat-linear");
    expect(m.metrics.test).toEqual(metrics.test);
    expect(m.stores.map((s: Json) => [s.name, s.modality, s.dim, s.pooling])).toEqual([
      ["audio", "audio", 32, "mean"],
      ["text", "text", 32, "mean"],
    ]);
    expect(m.stores[0]).toMatchObject({ sample_rate: 16000, max_seconds: 10, batching: "exact" });
    expect(m.stores[1]).toMatchObject({ max_len: 128 });
    expect(m.stores[1].model.id).toContain("tiny-bert-demo");
    expect(m.serve).toMatchObject({ sample_rate: 16000, window: 3, hop: 1, queue_size: 256 });
  });

  it("/v1/predict: multipart, JSON base64, raw PCM (int16 and float), raw body: all exactly the library's answer", async () => {
    const ways = [
      await postForm(main, { audio: { bytes: wavBytesOnDisk, name: "clip.wav" }, text: TEXT, id: "u1" }),
      await postJson(main, { id: "u1", text: TEXT, audio_base64: wavBytesOnDisk.toString("base64") }),
      await postJson(main, { id: "u1", text: TEXT, pcm_base64: int16Base64(wavInt16), sample_rate: 16000 }),
      await postJson(main, { id: "u1", text: TEXT, samples: Array.from(wavInt16, (v) => v / 32768), sample_rate: 16000 }),
      await postJson(main, { id: "u1", text: TEXT, pcm_base64: floatBytes(Array.from(wavInt16, (v) => v / 32768), 4).toString("base64"), encoding: "float32", sample_rate: 16000 }),
    ];
    const raw = await fetch(`${main.url}/v1/predict?id=u1&text=${encodeURIComponent(TEXT)}`, { method: "POST", headers: { "content-type": "audio/wav" }, body: wavBytesOnDisk });
    ways.push({ status: raw.status, body: (await raw.json()) as Json });
    for (const w of ways) {
      expect(w.status).toBe(200);
      expect(w.body.id).toBe("u1");
      expect(w.body.probabilities).toEqual(baseline);
      expect(w.body.label).toBe(Object.entries(baseline).sort((a, b) => b[1] - a[1])[0][0]);
      expect(w.body.audio).toMatchObject({ duration_s: 1.589375, kept_s: 1.589375, truncated: false, sample_rate: 16000, channels: 1 });
      expect(Object.keys(w.body.timings_ms).sort()).toEqual(["decode", "encode_audio", "encode_text", "head", "queue", "total"]);
      expect(w.body.timings_ms.encode_audio).toBeGreaterThan(0);
      expect(w.body.timings_ms.encode_text).toBeGreaterThan(0);
      expect(w.body.warnings).toBeUndefined();
    }
    expect(ways[0].body.audio.format).toBe("WAV PCM 16-bit");
    expect(ways[2].body.audio.format).toMatch(/raw PCM/);
  });

  it("agrees with the head applied to the stored training features (independent of serve's code path)", async () => {
    const index = await loadIndex(DEMO_INDEX);
    const [audio, text] = await Promise.all([readStore(demo.stores.audio!), readStore(demo.stores.text!)]);
    const session = await ort.InferenceSession.create(path.join(demo.runs.concat!, "head.onnx"));
    const out = await session.run({ audio: new ort.Tensor("float32", audio.embeddings, [audio.n, audio.d]), text: new ort.Tensor("float32", text.embeddings, [text.n, text.d]) });
    await session.release();
    const probs = out.probs.data as Float32Array;
    const labels = ["angry", "happy", "neutral", "sad"];
    let maxDiff = 0;
    for (const u of index.utterances.slice(0, 6)) {
      const r = await postForm(main, { audio: { bytes: await readFile(u.audioFile!), name: path.basename(u.audioFile!) }, text: u.text! });
      const row = audio.ids.indexOf(u.utterId);
      labels.forEach((l, j) => (maxDiff = Math.max(maxDiff, Math.abs(r.body.probabilities[l] - probs[row * 4 + j]))));
    }
    expect(maxDiff).toBeLessThan(1e-5);
  });

  it("text-only and audio-only runs answer with their input alone; the other modality is ignored with a warning", async () => {
    const [t] = await predict(demo.runs.text!, [{ text: TEXT }], { offline: true });
    const [a] = await predict(demo.runs.audio!, [{ audio: WAV }], { offline: true });
    const rt = await postJson(textSrv, { text: TEXT });
    expect(rt.status).toBe(200);
    expect(rt.body.probabilities).toEqual(t.probabilities);
    expect(rt.body.audio).toBeUndefined();
    const ra = await postForm(audioSrv, { audio: { bytes: wavBytesOnDisk, name: "a.wav" } });
    expect(ra.status).toBe(200);
    expect(ra.body.probabilities).toEqual(a.probabilities);
    expect(ra.body.text_batch).toBeUndefined();
    const both = await postForm(textSrv, { audio: { bytes: wavBytesOnDisk, name: "a.wav" }, text: TEXT });
    expect(both.body.probabilities).toEqual(t.probabilities);
    expect(both.body.warnings).toEqual(["audio ignored: this run's head uses text only"]);
    const both2 = await postJson(audioSrv, { audio_base64: wavBytesOnDisk.toString("base64"), text: TEXT });
    expect(both2.body.probabilities).toEqual(a.probabilities);
    expect(both2.body.warnings).toEqual(["text ignored: this run's head uses audio only"]);
  });

  it("a run on a weight-free baseline store (builtin:fbank) serves the library's answer; its too-short clips are 400", async () => {
    const store = path.join(dir, "features", "fbank");
    await extractAudio({ csv: DEMO_INDEX, model: "builtin:fbank", out: store });
    const run = path.join(dir, "runs", "fbank");
    await trainProbe({ csv: DEMO_INDEX, features: `audio=${store}`, head: "linear", out: run, settings: { epochs: 2 } });
    const s = await start({ run });
    const [lib] = await predict(run, [{ audio: WAV }], { offline: true });
    const r = await postForm(s, { audio: { bytes: wavBytesOnDisk, name: "a.wav" } });
    expect(r.status).toBe(200);
    expect(r.body.probabilities).toEqual(lib.probabilities);
    const short = await postJson(s, { samples: new Array(100).fill(0.1), sample_rate: 16000 });
    expect(short.body).toMatchObject({ statusCode: 400, code: "audio_too_short", message: expect.stringMatching(/too short for builtin:fbank/) });
  });

  it("the same item alone and amid 200 others (texts batched, audio alone): identical probabilities", async () => {
    const index = await loadIndex(DEMO_INDEX);
    // The others: different words and short clips of different sounds (cheap to encode, so the burst is quick).
    const other = (i: number) => {
      const n = 2400 + 160 * (i % 7);
      const pcm = Int16Array.from({ length: n }, (_, k) => Math.round(8000 * Math.sin((k * (i + 3)) / 40) * Math.sin(k / (300 + i))));
      return { text: `${index.utterances[(i * 7) % 24].text} ${"again ".repeat(i % 5)}`, pcm_base64: int16Base64(pcm), sample_rate: 16000 };
    };
    const others = Array.from({ length: 200 }, (_, i) => postJson(main, other(i)));
    const target = postForm(main, { audio: { bytes: wavBytesOnDisk, name: "a.wav" }, text: TEXT });
    const textOnly = Array.from({ length: 50 }, (_, i) => postJson(textSrv, { text: i === 25 ? TEXT : `${index.utterances[i % 24].text} ${"so ".repeat(i % 9)}` }));
    const [t, ...rest] = await Promise.all([target, ...others]);
    const texts = await Promise.all(textOnly);
    expect(t.status).toBe(200);
    expect(t.body.probabilities).toEqual(baseline);
    expect(rest.every((r) => r.status === 200)).toBe(true);
    // The texts really were encoded together.
    expect(Math.max(...rest.map((r) => r.body.text_batch))).toBeGreaterThan(1);
    const [alone] = await predict(demo.runs.text!, [{ text: TEXT }], { offline: true });
    expect(texts[25].body.probabilities).toEqual(alone.probabilities);
    expect(texts[25].body.text_batch).toBeGreaterThan(1);
    // Each of the others equals its own answer alone.
    for (const i of [0, 57, 199]) {
      const again = await postJson(main, other(i));
      expect(again.body.text_batch).toBe(1);
      expect(again.body.probabilities).toEqual(rest[i].body.probabilities);
    }
  });

  it("audio longer than the run's max_seconds is cut as at training, with a warning (and refused with --long-audio reject)", async () => {
    // 12 s of tone + the demo clip: the peak is taken over the whole clip before the cut, as extraction does.
    const n = 12 * 16000;
    const long = new Int16Array(n);
    for (let i = 0; i < n; i++) long[i] = Math.round(3000 * Math.sin(i / 7)) + (i < wavInt16.length ? wavInt16[i] >> 1 : 0);
    const file = path.join(dir, "long.wav");
    await writeFile(file, wavBytes({ sampleRate: 16000, channels: 1, formatTag: 1, bytesPerSample: 2 }, Buffer.from(long.buffer)));
    const [lib] = await predict(demo.runs.concat!, [{ audio: file, text: TEXT }], { offline: true });
    const r = await postJson(main, { text: TEXT, pcm_base64: int16Base64(long), sample_rate: 16000 });
    expect(r.status).toBe(200);
    expect(r.body.probabilities).toEqual(lib.probabilities);
    expect(r.body.audio).toMatchObject({ duration_s: 12, kept_s: 10, truncated: true });
    expect(r.body.warnings[0]).toMatch(/12\.00 s, longer than the run's max_seconds \(10\.00 s\): only the first 10\.00 s were used, as at training/);
    const refused = await postJson(limits, { text: TEXT, pcm_base64: int16Base64(long.subarray(0, 11 * 16000)), sample_rate: 16000 });
    expect(refused.status).toBe(413);
    expect(refused.body.code).toBe("audio_too_long");
    expect(refused.body.message).toMatch(/11\.00 s.*--long-audio reject/);
    await expectHealthy(limits);
  });
});

describe("serve: every error has its status, code and message, and the server still answers correctly after it", () => {
  const opus = Buffer.concat([Buffer.from("OggS"), Buffer.alloc(22), Buffer.from([1, 19]), Buffer.from("OpusHead"), Buffer.alloc(11)]);
  const truncatedWav = wavBytesOf(0.5).subarray(0, 30);
  const nanWav = wavBytes({ sampleRate: 16000, channels: 1, formatTag: 3, bytesPerSample: 4 }, floatBytes([0.1, NaN, 0.2, ...new Array(4000).fill(0.1)], 4));
  const tiny = wavBytes({ sampleRate: 16000, channels: 1, formatTag: 1, bytesPerSample: 2 }, Buffer.alloc(20));
  function wavBytesOf(seconds: number): Buffer {
    return wavBytes({ sampleRate: 16000, channels: 1, formatTag: 1, bytesPerSample: 2 }, Buffer.alloc(Math.round(seconds * 16000) * 2, 1));
  }
  type Case = [name: string, send: () => Promise<{ status: number; body: Json }>, status: number, code: string, message: RegExp, server?: () => EmofeatServer];
  const cases: Case[] = [
    ["unknown JSON field", () => postJson(main, { text: TEXT, audio_base64: "", volume: 3 }), 400, "unknown_field", /unknown field "volume"/],
    ["unknown form field", () => postForm(main, { text: TEXT, lang: "en" }), 400, "unknown_field", /unknown form field "lang"/],
    ["unknown query parameter", async () => { const r = await fetch(main.url + "/v1/model?verbose=1"); return { status: r.status, body: (await r.json()) as Json }; }, 400, "unknown_field", /unknown field "verbose"/],
    ["wrong type", () => postJson(main, { text: 5 }), 400, "invalid_request", /body\.text: must be string/],
    ["empty text", () => postForm(main, { audio: { bytes: wavBytesOnDisk, name: "a.wav" }, text: "   " }), 400, "empty_text", /the text is empty; this run's head needs audio and text/],
    ["missing text", () => postForm(main, { audio: { bytes: wavBytesOnDisk, name: "a.wav" } }), 400, "missing_text", /no text given; this run's head needs audio and text \(stores "audio", "text"\)/],
    ["missing audio", () => postJson(main, { text: TEXT }), 400, "missing_audio", /no audio given/],
    ["missing text (text-only run)", () => postJson(textSrv, {}), 400, "missing_text", /no text given; this run's head needs text/, () => textSrv],
    ["bad base64", () => postJson(main, { text: TEXT, audio_base64: "not*base64!" }), 400, "bad_base64", /audio_base64 is not valid base64/],
    ["PCM without a rate", () => postJson(main, { text: TEXT, pcm_base64: "AAAA" }), 400, "bad_request", /pcm_base64 needs sample_rate/],
    ["odd PCM bytes", () => postJson(main, { text: TEXT, pcm_base64: "AAAA", sample_rate: 16000, channels: 2 }), 400, "bad_pcm", /3 bytes is not a whole number of pcm16 frames of 2 channel/],
    ["two audio sources", () => postJson(main, { text: TEXT, pcm_base64: "AAAA", samples: [0], sample_rate: 16000 }), 400, "bad_request", /give one of audio_base64, pcm_base64, samples/],
    ["malformed JSON", () => postJson(main, '{"text": "hi",'), 400, "bad_json", /JSON/],
    ["unsupported content type", async () => { const r = await fetch(main.url + "/v1/predict", { method: "POST", headers: { "content-type": "text/plain" }, body: TEXT }); return { status: r.status, body: (await r.json()) as Json }; }, 415, "unsupported_media_type", /text\/plain.*application\/json/],
    ["form-urlencoded (curl -d without a type)", async () => { const r = await fetch(main.url + "/v1/predict", { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: JSON.stringify({ text: TEXT }) }); return { status: r.status, body: (await r.json()) as Json }; }, 415, "unsupported_media_type", /"application\/x-www-form-urlencoded" is not taken here; send application\/json, multipart\/form-data/],
    ["batch: a type no route parser takes", async () => { const r = await fetch(main.url + "/v1/predict/batch", { method: "POST", headers: { "content-type": "application/xml" }, body: "<items/>" }); return { status: r.status, body: (await r.json()) as Json }; }, 415, "unsupported_media_type", /"application\/xml" is not taken here; send application\/json \(an array of items\), text\/csv/],
    ["not audio at all", () => postForm(main, { audio: { bytes: Buffer.from("just some text, not sound"), name: "x.wav" }, text: TEXT }), 415, "unsupported_audio", /audio: unrecognised file format \(not WAV, FLAC, MP3 or Ogg\)/],
    ["unsupported codec", () => postForm(main, { audio: { bytes: opus, name: "x.opus" }, text: TEXT }), 415, "unsupported_audio", /unsupported codec \(Ogg opus\)/],
    ["truncated WAV", () => postForm(main, { audio: { bytes: truncatedWav, name: "t.wav" }, text: TEXT }), 400, "bad_audio", /truncated or garbage WAV header/],
    ["NaN samples", () => postForm(main, { audio: { bytes: nanWav, name: "n.wav" }, text: TEXT }), 400, "bad_audio", /NaN\/Inf samples \(first at frame 1/],
    ["NaN PCM", () => postJson(main, { text: TEXT, pcm_base64: floatBytes([0, NaN, 0], 4).toString("base64"), encoding: "float32", sample_rate: 16000 }), 400, "bad_audio", /NaN\/Inf/],
    ["empty file", () => postForm(main, { audio: { bytes: Buffer.alloc(0), name: "e.wav" }, text: TEXT }), 400, "bad_audio", /empty file/],
    ["too short for the encoder", () => postForm(main, { audio: { bytes: tiny, name: "s.wav" }, text: TEXT }), 400, "audio_too_short", /too short for the encoder \(10 samples at 16000 Hz; one frame needs 400\)/],
    ["malformed multipart", async () => { const r = await fetch(main.url + "/v1/predict", { method: "POST", headers: { "content-type": "multipart/form-data; boundary=XX" }, body: "--XX\r\nContent-Disposition: form-data; name=\"text\"\r\n\r\nhel" }); return { status: r.status, body: (await r.json()) as Json }; }, 400, "bad_multipart", /malformed multipart\/form-data body: Unexpected end of multipart data/],
    ["audio as a form field", () => postForm(main, { audio: "hello", text: TEXT }), 400, "bad_request", /must be a file/],
    ["unknown route", async () => { const r = await fetch(main.url + "/v2/predict", { method: "POST" }); return { status: r.status, body: (await r.json()) as Json }; }, 404, "not_found", /no route POST \/v2\/predict/],
    ["body too large (JSON)", () => postJson(limits, { text: TEXT, audio_base64: Buffer.alloc(1_200_000).toString("base64") }), 413, "body_too_large", /request too large: .* \(this server takes at most 1000000 bytes, --body-limit\)/, () => limits],
    ["body too large (file)", () => postForm(limits, { audio: { bytes: Buffer.alloc(1_200_000, 1), name: "big.wav" }, text: TEXT }), 413, "body_too_large", /request too large: .* \(this server takes at most 1000000 bytes, --body-limit\)/, () => limits],
    ["audio over --max-audio-seconds", () => postJson(limits, { text: TEXT, pcm_base64: Buffer.alloc(2 * 21 * 8000).toString("base64"), sample_rate: 8000 }), 413, "audio_too_long", /21\.00 s; this server takes at most 20 s \(--max-audio-seconds\)/, () => limits],
    ["text too long", () => postJson(limits, { text: "word ".repeat(60), audio_base64: wavBytesOnDisk.toString("base64") }), 413, "text_too_long", /300 characters; this server takes at most 200 \(--max-text-chars\)/, () => limits],
    ["batch too large", () => postJson(limits, Array.from({ length: 5 }, () => ({ text: TEXT })), "/v1/predict/batch"), 413, "batch_too_large", /5 items; this server takes at most 4 per batch/, () => limits],
  ];
  for (const [name, send, status, code, message, server] of cases)
    it(`${name}: ${status} ${code}`, async () => {
      const r = await send();
      expect(r.status).toBe(status);
      expect(r.body).toMatchObject({ statusCode: status, code });
      expect(r.body.message).toMatch(message);
      const s = server?.() ?? main;
      if (s === textSrv) expect((await postJson(s, { text: TEXT })).status).toBe(200);
      else await expectHealthy(s);
    });

  it("a full queue answers 503 with Retry-After at once; every answer that is given is right", async () => {
    const rs = await Promise.all(Array.from({ length: 30 }, () => postForm(limits, { audio: { bytes: wavBytesOnDisk, name: "a.wav" }, text: TEXT })));
    const full = rs.filter((r) => r.status === 503);
    expect(full.length).toBeGreaterThan(0);
    expect(full[0].body).toMatchObject({ code: "queue_full" });
    expect(full[0].body.message).toMatch(/the encoder queue is full \(2 jobs, --queue-size\); retry in about \d+ s/);
    for (const r of rs.filter((r) => r.status !== 503)) {
      expect(r.status).toBe(200);
      expect(r.body.probabilities).toEqual(baseline);
    }
    const h = await fetch(limits.url + "/v1/predict", { method: "POST", body: (() => { const f = new FormData(); f.append("text", TEXT); return f; })() });
    expect(h.status).toBe(400); // the queue frees: the next request is judged on its own
    await expectHealthy(limits);
  });

  it("Retry-After is sent with queue_full", async () => {
    let seen: string | null = null;
    for (let attempt = 0; attempt < 5 && seen === null; attempt++) {
      const rs = await Promise.all(Array.from({ length: 20 }, () => fetch(limits.url + "/v1/predict", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ text: TEXT, audio_base64: wavBytesOnDisk.toString("base64") }) })));
      seen = rs.find((r) => r.status === 503)?.headers.get("retry-after") ?? null;
    }
    expect(seen).toMatch(/^\d+$/);
  });

  it("a request past its deadline gets 503 timeout; work withdrawn, the queue drains, later requests are right", async () => {
    const saved = main.ctx.settings.timeoutMs;
    main.ctx.settings.timeoutMs = 1;
    let rs: { status: number; body: Json; headers: Headers }[];
    try {
      rs = await Promise.all(Array.from({ length: 12 }, () => postJson(main, { text: TEXT, audio_base64: wavBytesOnDisk.toString("base64") })));
    } finally {
      main.ctx.settings.timeoutMs = saved;
    }
    const late = rs.filter((r) => r.status === 503);
    expect(late.length).toBeGreaterThan(0);
    expect(late[0].body.code).toBe("timeout");
    expect(late[0].body.message).toMatch(/no answer within 1 ms \(--timeout\)/);
    expect(late[0].headers.get("retry-after")).toMatch(/^\d+$/);
    await main.ctx.service!.scheduler.idle();
    expect(main.ctx.service!.scheduler.length).toBe(0);
    await expectHealthy(main);
  });
});

describe("serve: batch", () => {
  it("a JSON array: per-item answers and errors; good items equal their single answers", async () => {
    const items = [
      { id: "a", text: TEXT, audio_base64: wavBytesOnDisk.toString("base64") },
      { id: "b", text: "" , audio_base64: wavBytesOnDisk.toString("base64") },
      { id: "c", text: TEXT, audio_base64: Buffer.from("noise").toString("base64") },
      { id: "d", text: TEXT, pcm_base64: int16Base64(wavInt16), sample_rate: 16000 },
      { id: "e", text: TEXT, audio_base64: "%%%" },
    ];
    const r = await postJson(main, items, "/v1/predict/batch");
    expect(r.status).toBe(200);
    expect(r.body.failed).toBe(3);
    const p = r.body.predictions;
    expect(p.map((x: Json) => [x.id, x.index, x.code ?? null])).toEqual([
      ["a", 0, null],
      ["b", 1, "empty_text"],
      ["c", 2, "unsupported_audio"],
      ["d", 3, null],
      ["e", 4, "bad_base64"],
    ]);
    expect(p[0].probabilities).toEqual(baseline);
    expect(p[3].probabilities).toEqual(baseline);
    expect(p[1]).toMatchObject({ label: null, probabilities: null, status: 400, error: expect.stringMatching(/the text is empty/) });
    expect(p[2]).toMatchObject({ status: 415, error: expect.stringMatching(/unrecognised file format/) });
    const wrapped = await postJson(main, { items: items.slice(0, 1) }, "/v1/predict/batch");
    expect(wrapped.body.predictions[0].probabilities).toEqual(baseline);
    // An element that breaks the item schema is that item's error; the others are answered.
    const mixed = await postJson(main, [{ id: "x", text: TEXT, loud: true }, items[0], { text: 5 }, "text"], "/v1/predict/batch");
    expect(mixed.status).toBe(200);
    expect(mixed.body.failed).toBe(3);
    const [loud, good, typed, notObject] = mixed.body.predictions;
    expect(loud).toMatchObject({ id: "x", index: 0, label: null, status: 400, code: "unknown_field", error: 'item 1: unknown field "loud"' });
    expect(good.probabilities).toEqual(baseline);
    expect(typed).toMatchObject({ index: 2, status: 400, code: "invalid_request", error: "item 3.text: must be string" });
    expect(notObject).toMatchObject({ index: 3, status: 400, code: "invalid_request", error: "item 4: must be object" });
    const notAList = await postJson(main, { item: [] }, "/v1/predict/batch");
    expect(notAList.status).toBe(400);
  });

  it("a CSV upload with the audio files its rows name; CSV out with Accept: text/csv", async () => {
    const other = await readFile(path.join(DEMO_WAV_DIR, "demo_s2_003.wav"));
    const csv = `id,text,audio\nx1,"${TEXT.replace(/"/g, '""')}",a.wav\nx2,Hello there,b.wav\nx3,No audio here,\n`;
    const r = await postForm(main, { csv: { bytes: Buffer.from(csv), name: "items.csv" }, "a.wav": { bytes: wavBytesOnDisk, name: "a.wav" }, "b.wav": { bytes: other, name: "b.wav" } }, "/v1/predict/batch");
    expect(r.status).toBe(200);
    expect(r.body.predictions[0].probabilities).toEqual(baseline);
    const [b] = await predict(demo.runs.concat!, [{ audio: path.join(DEMO_WAV_DIR, "demo_s2_003.wav"), text: "Hello there" }], { offline: true });
    expect(r.body.predictions[1].probabilities).toEqual(b.probabilities);
    expect(r.body.predictions[2]).toMatchObject({ id: "x3", code: "missing_audio" });
    // Text-only run, CSV body, CSV answer.
    const res = await fetch(textSrv.url + "/v1/predict/batch", { method: "POST", headers: { "content-type": "text/csv", accept: "text/csv" }, body: `utter_id,text\nq1,${TEXT.replace(/,/g, "")}\nq2,\n` });
    expect(res.headers.get("content-type")).toMatch(/text\/csv/);
    const lines = (await res.text()).trim().split("\n");
    expect(lines[0]).toBe("id,label,probabilities.angry,probabilities.happy,probabilities.neutral,probabilities.sad,error");
    const [q1] = await predict(demo.runs.text!, [{ text: TEXT.replace(/,/g, "") }], { offline: true });
    expect(lines[1].split(",").slice(2, 6).map(Number)).toEqual(["angry", "happy", "neutral", "sad"].map((l) => q1.probabilities![l]));
    expect(lines[2]).toMatch(/^q2,,,,,,"?the text is empty/);
    const unknown = await fetch(textSrv.url + "/v1/predict/batch", { method: "POST", headers: { "content-type": "text/csv" }, body: "utter_id,text,audio_path\nq,hi,x.wav\n" });
    expect(unknown.status).toBe(400);
    expect(((await unknown.json()) as Json).message).toMatch(/unknown CSV column\(s\) audio_path/);
    const headerOnly = await fetch(textSrv.url + "/v1/predict/batch", { method: "POST", headers: { "content-type": "text/csv" }, body: "utter_id,txt\n" });
    expect(headerOnly.status).toBe(400);
    expect(((await headerOnly.json()) as Json).message).toMatch(/unknown CSV column\(s\) txt/);
  });
});

describe("serve: gated heads (beta)", () => {
  let gated: EmofeatServer;
  let gate: GatedHead;
  beforeAll(async () => {
    const run = path.join(dir, "runs", "gated");
    await cp(demo.runs.concat!, run, { recursive: true });
    gate = await writeGatedHead(run, 32, 4);
    gated = await start({ run, maxPendingWindows: 32 });
  });

  it("beta is passed through wherever a prediction goes (single, batch, CSV, stream) and equals the gate recomputed from the parameters", async () => {
    const m = (await (await fetch(gated.url + "/v1/model")).json()) as Json;
    expect(m.beta).toBe(true);
    const index = await loadIndex(DEMO_INDEX);
    const [audio, text] = await Promise.all([readStore(demo.stores.audio!), readStore(demo.stores.text!)]);
    const u = index.utterances[0];
    const row = audio.ids.indexOf(u.utterId);
    const want = gate.gate(audio.embeddings.subarray(row * 32, row * 32 + 32), text.embeddings.subarray(row * 32, row * 32 + 32));
    const r = await postForm(gated, { audio: { bytes: await readFile(u.audioFile!), name: "u.wav" }, text: u.text! });
    expect(r.status).toBe(200);
    expect(Math.abs(r.body.beta - want)).toBeLessThan(1e-5);
    const [lib] = await predict(path.join(dir, "runs", "gated"), [{ audio: u.audioFile!, text: u.text! }], { offline: true });
    expect(r.body.beta).toBe(lib.beta);
    const b = await postJson(gated, [{ text: u.text!, audio_base64: (await readFile(u.audioFile!)).toString("base64") }], "/v1/predict/batch");
    expect(b.body.predictions[0].beta).toBe(r.body.beta);
    const csv = await fetch(gated.url + "/v1/predict/batch", { method: "POST", headers: { "content-type": "application/json", accept: "text/csv" }, body: JSON.stringify([{ text: u.text!, audio_base64: (await readFile(u.audioFile!)).toString("base64") }]) });
    const lines = (await csv.text()).trim().split("\n");
    expect(lines[0]).toBe("id,label,probabilities.angry,probabilities.happy,probabilities.neutral,probabilities.sad,beta,error");
    expect(Number(lines[1].split(",")[6])).toBe(r.body.beta);
    const msgs = await streamSession(gated, { sample_rate: 16000, text: u.text! }, [int16Of(await decodeAudioFile(u.audioFile!))], 1600);
    const final = msgs.find((x) => x.type === "final")!;
    expect(final.beta).toBe(r.body.beta);
  });
});

describe("serve: runs on layer stores", () => {
  it("one layer of a text layer store (texts batched across requests) and weighted layers on audio: the library's answers", async () => {
    const textStore = path.join(dir, "features", "text-layers");
    const audioStore = path.join(dir, "features", "audio-layers");
    await extractText({ csv: DEMO_INDEX, model: DEMO_MODEL, offline: true, out: textStore, layers: "all" });
    await extractAudio({ csv: DEMO_INDEX, model: DEMO_WAVLM, offline: true, out: audioStore, layers: "all" });
    // The text head takes one of the store's layers: the queue must slice the batched vectors by the encoder's
    // width (every layer), and the head's layer is picked afterwards.
    const perLayer = path.join(dir, "runs", "text-per-layer");
    const res = await trainPerLayer({ csv: DEMO_INDEX, features: `text=${textStore}`, head: "weighted-layers", out: perLayer, settings: { epochs: 2 } });
    const textRun = path.join(perLayer, res.perLayer[1].run);
    const audioRun = path.join(dir, "runs", "audio-layers");
    await trainProbe({ csv: DEMO_INDEX, features: `audio=${audioStore}`, head: "weighted-layers", out: audioRun, settings: { epochs: 2 } });
    const [ts, as] = await Promise.all([start({ run: textRun }), start({ run: audioRun })]);
    const texts = ["I can't believe you did that to me!", "Stop lying to me!", "What a lovely surprise, thank you so much", "fine"];
    const lib = await predict(textRun, texts.map((text) => ({ text })), { offline: true });
    const served = await Promise.all(Array.from({ length: 24 }, (_, i) => postJson(ts, { text: texts[i % 4] })));
    served.forEach((r, i) => expect(r.body.probabilities).toEqual(lib[i % 4].probabilities));
    expect(Math.max(...served.map((r) => r.body.text_batch))).toBeGreaterThan(1);
    const [a] = await predict(audioRun, [{ audio: WAV }], { offline: true });
    const ra = await postForm(as, { audio: { bytes: wavBytesOnDisk, name: "a.wav" } });
    expect(ra.body.probabilities).toEqual(a.probabilities);
  });
});

describe("serve: auth, metrics, logs", () => {
  it("--token: every route but health needs the bearer token (header or ?token=)", async () => {
    const s = await start({ run: demo.runs.text!, token: "s3cret" });
    const h = await fetch(s.url + "/v1/health");
    expect(h.status).toBe(200);
    for (const route of ["/", "/v1/model", "/metrics"]) {
      const r = await fetch(s.url + route);
      expect(r.status).toBe(401);
      expect(r.headers.get("www-authenticate")).toBe('Bearer realm="emofeat"');
      expect(((await r.json()) as Json).code).toBe("unauthorized");
    }
    const none = await postJson(s, { text: TEXT });
    expect(none.status).toBe(401);
    const wrong = await postJson(s, { text: TEXT }, "/v1/predict", { authorization: "Bearer nope" });
    expect(wrong).toMatchObject({ status: 401, body: { message: "wrong token" } });
    const ok = await postJson(s, { text: TEXT }, "/v1/predict", { authorization: "Bearer s3cret" });
    expect(ok.status).toBe(200);
    expect((await postJson(s, { text: TEXT }, "/v1/predict", { authorization: "bearer s3cret" })).status).toBe(200);
    const q = await postJson(s, { text: TEXT }, "/v1/predict?token=s3cret");
    expect(q.body.probabilities).toEqual(ok.body.probabilities);
    const page = await fetch(s.url + "/?token=s3cret");
    expect(page.status).toBe(200);
    expect(await page.text()).toContain("emofeat live");
    const ws = new WebSocket(s.url.replace("http", "ws") + "/v1/stream");
    const refused = await new Promise<string>((res) =>
      ws
        .on("unexpected-response", (req, r) => {
          req.destroy();
          res(String(r.statusCode));
        })
        .on("open", () => res("open")),
    );
    expect(refused).toBe("401");
    const msgs = await streamSession(s, { text: "" }, [], 0, "?token=s3cret", [{ type: "text", text: TEXT }]);
    expect(msgs.find((m) => m.type === "partial")!.probabilities).toEqual(ok.body.probabilities);
  });

  it("/metrics: Prometheus text with requests by route and status, errors by code, latency histogram, queue length", async () => {
    const s = await start({ run: demo.runs.text! });
    await postJson(s, { text: TEXT });
    await postJson(s, { text: TEXT });
    await postJson(s, { text: "" });
    const r = await fetch(s.url + "/metrics");
    expect(r.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await r.text();
    expect(text).toContain('emofeat_http_requests_total{route="/v1/predict",method="POST",status="200"} 2');
    expect(text).toContain('emofeat_http_requests_total{route="/v1/predict",method="POST",status="400"} 1');
    expect(text).toContain('emofeat_http_errors_total{route="/v1/predict",code="empty_text"} 1');
    expect(text).toContain('emofeat_http_request_duration_seconds_count{route="/v1/predict"} 3');
    expect(text).toMatch(/emofeat_stage_duration_seconds_count\{stage="encode_text"\} 2/);
    expect(text).toContain("emofeat_queue_length 0");
    expect(text).toContain("emofeat_queue_capacity 256");
    expect(text).toMatch(/emofeat_process_resident_memory_bytes \d+/);
  });

  it("one JSON log line per request, without the words unless --log-content", async () => {
    const capture = (): { stream: PassThrough; lines: () => Json[] } => {
      const stream = new PassThrough();
      let buf = "";
      stream.on("data", (d) => (buf += d));
      return { stream, lines: () => buf.trim().split("\n").map((l) => JSON.parse(l)) };
    };
    const quiet = capture();
    const loud = capture();
    const a = await start({ run: demo.runs.text!, logLevel: "info", logStream: quiet.stream });
    const b = await start({ run: demo.runs.text!, logLevel: "info", logStream: loud.stream, logContent: true });
    const secret = "my very secret sentence";
    for (const s of [a, b]) {
      await postJson(s, { text: secret });
      await postJson(s, { text: "" });
    }
    const q = quiet.lines().filter((l) => l.msg === "request");
    expect(q).toHaveLength(2);
    expect(q[0]).toMatchObject({ method: "POST", route: "/v1/predict", status: 200, text_chars: secret.length, label: expect.any(String) });
    expect(q[1]).toMatchObject({ status: 400, code: "empty_text" });
    expect(typeof q[0].ms).toBe("number");
    expect(JSON.stringify(quiet.lines())).not.toContain("secret");
    const l = loud.lines().filter((x) => x.msg === "request");
    expect(l[0].text).toBe(secret);
  });

  it("a port already in use is a one-line error naming it, and the running server is untouched", async () => {
    const port = Number(new URL(main.url).port);
    await expect(EmofeatServer.start({ run: demo.runs.text!, port, host: "127.0.0.1", logLevel: "silent" })).rejects.toThrow(
      new EmofeatError(`port ${port} on 127.0.0.1 is already in use (another emofeat serve?); choose another --port, or --port 0 for any free one`),
    );
    await expectHealthy(main);
  });

  it("warns when the address reaches beyond this machine", () => {
    expect(exposureWarning("127.0.0.1", false)).toBeNull();
    expect(exposureWarning("localhost", false)).toBeNull();
    expect(exposureWarning("0.0.0.0", false)).toMatch(/all network interfaces.*no --token set/);
    expect(exposureWarning("0.0.0.0", true)).not.toMatch(/no --token/);
    expect(exposureWarning("192.168.1.5", true)).toMatch(/listening on 192\.168\.1\.5/);
  });
});

// ----------------------------------------------------------------------------------------------- stream

function int16Of(d: { channelData: Float32Array[] }): Int16Array {
  return Int16Array.from(d.channelData[0], (v) => Math.round(v * 32768));
}

/**
 * Opens /v1/stream, sends `start` (+ `extra` messages), the audio of `planes` (pcm16, interleaved) in `chunk`
 * frames, then end; returns every message up to the final one.
 */
async function streamSession(
  s: EmofeatServer,
  start: Json,
  planes: (Int16Array | Float32Array)[],
  chunk: number,
  query = "",
  extra: Json[] = [],
): Promise<Json[]> {
  const ws = new WebSocket(s.url.replace("http", "ws") + "/v1/stream" + query);
  const msgs: Json[] = [];
  await new Promise<void>((res, rej) => ws.once("open", () => res()).once("error", rej));
  const done = new Promise<void>((res) =>
    ws.on("message", (d) => {
      const m = JSON.parse(String(d)) as Json;
      msgs.push(m);
      if (m.type === "final") res();
    }),
  );
  ws.send(JSON.stringify({ type: "start", ...start }));
  for (const m of extra) ws.send(JSON.stringify(m));
  const float = planes[0] instanceof Float32Array;
  const frames = planes.length ? planes[0].length : 0;
  for (let i = 0; i < frames; i += chunk) {
    const n = Math.min(chunk, frames - i);
    const buf = Buffer.alloc(n * planes.length * (float ? 4 : 2));
    for (let f = 0; f < n; f++)
      planes.forEach((p, c) => (float ? buf.writeFloatLE(p[i + f], (f * planes.length + c) * 4) : buf.writeInt16LE(p[i + f], (f * planes.length + c) * 2)));
    ws.send(buf);
  }
  ws.send(JSON.stringify({ type: "end" }));
  await done;
  ws.close();
  return msgs;
}

describe("serve: WebSocket stream", () => {
  let long: Int16Array; // 7.44 s at 16 kHz: three demo clips back to back

  beforeAll(async () => {
    const parts = await Promise.all(["demo_s1_015", "demo_s1_014", "demo_s1_016"].map((f) => decodeAudioFile(path.join(DEMO_WAV_DIR, `${f}.wav`))));
    long = new Int16Array(parts.reduce((a, p) => a + p.length, 0));
    let o = 0;
    for (const p of parts) {
      long.set(int16Of(p), o);
      o += p.length;
    }
  });

  it("window predictions at the expected times (window 3, hop 1), each equal to POSTing its samples; the final equals POSTing the file", async () => {
    const msgs = await streamSession(main, { sample_rate: 16000, text: TEXT, id: "utt-1" }, [long], 1600);
    expect(msgs[0]).toMatchObject({ type: "ready", sample_rate: 16000, encoding: "pcm16", window: 3, hop: 1, model_sample_rate: 16000, needs: ["audio", "text"] });
    const windows = msgs.filter((m) => m.type === "window").sort((a, b) => a.index - b.index);
    expect(windows.map((w) => [w.start_s, w.end_s])).toEqual([[0, 3], [1, 4], [2, 5], [3, 6], [4, 7]]);
    for (const w of windows) {
      expect(w.label).toBeTruthy();
      expect(w.latency_ms).toBeGreaterThan(0);
      const seg = long.subarray(w.start_s * 16000, w.end_s * 16000);
      const r = await postJson(main, { text: TEXT, pcm_base64: int16Base64(seg), sample_rate: 16000 });
      expect(w.probabilities).toEqual(r.body.probabilities);
    }
    const final = msgs[msgs.length - 1];
    const file = path.join(dir, "long-stream.wav");
    await writeFile(file, wavBytes({ sampleRate: 16000, channels: 1, formatTag: 1, bytesPerSample: 2 }, Buffer.from(long.buffer)));
    const [lib] = await predict(demo.runs.concat!, [{ audio: file, text: TEXT }], { offline: true });
    expect(final).toMatchObject({ type: "final", id: "utt-1", windows: 5, duration_s: long.length / 16000, audio: { kept_s: long.length / 16000, truncated: false } });
    expect(final.probabilities).toEqual(lib.probabilities);
  });

  it("per-connection window/hop, stereo float32 at 48 kHz: windows every 0.5 s from 2 s; the final equals POSTing the same PCM", async () => {
    const n = Math.round(4.3 * 48000);
    const left = new Float32Array(n);
    const right = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      left[i] = 0.4 * Math.sin(i / 11) * Math.sin(i / 9000);
      right[i] = 0.3 * Math.sin(i / 17 + 1);
    }
    const msgs = await streamSession(main, { sample_rate: 48000, encoding: "float32", channels: 2, window: 2, hop: 0.5, text: "hello" }, [left, right], 4800);
    const windows = msgs.filter((m) => m.type === "window").sort((a, b) => a.index - b.index);
    expect(windows.map((w) => w.end_s)).toEqual([2, 2.5, 3, 3.5, 4]);
    const inter = Buffer.alloc(n * 8);
    for (let i = 0; i < n; i++) {
      inter.writeFloatLE(left[i], i * 8);
      inter.writeFloatLE(right[i], i * 8 + 4);
    }
    const r = await postJson(main, { text: "hello", pcm_base64: inter.toString("base64"), encoding: "float32", channels: 2, sample_rate: 48000 });
    expect(r.status).toBe(200);
    expect(msgs[msgs.length - 1].probabilities).toEqual(r.body.probabilities);
    const w1 = windows[1];
    const segL = left.subarray(w1.start_s * 48000, w1.end_s * 48000);
    const segR = right.subarray(w1.start_s * 48000, w1.end_s * 48000);
    const seg = Buffer.alloc(segL.length * 8);
    for (let i = 0; i < segL.length; i++) {
      seg.writeFloatLE(segL[i], i * 8);
      seg.writeFloatLE(segR[i], i * 8 + 4);
    }
    const rw = await postJson(main, { text: "hello", pcm_base64: seg.toString("base64"), encoding: "float32", channels: 2, sample_rate: 48000 });
    expect(w1.probabilities).toEqual(rw.body.probabilities);
  });

  it("protocol errors are answered on the connection, which stays usable; text arriving mid-stream reaches later windows", async () => {
    const ws = new WebSocket(main.url.replace("http", "ws") + "/v1/stream");
    await new Promise((r) => ws.once("open", r));
    const msgs: Json[] = [];
    let waiters: (() => void)[] = [];
    ws.on("message", (d) => {
      msgs.push(JSON.parse(String(d)));
      waiters.forEach((w) => w());
      waiters = [];
    });
    const next = async (pred: (m: Json) => boolean): Promise<Json> => {
      for (;;) {
        const hit = msgs.find(pred);
        if (hit) {
          msgs.splice(msgs.indexOf(hit), 1);
          return hit;
        }
        await new Promise<void>((r) => waiters.push(r));
      }
    };
    ws.send(Buffer.alloc(3200));
    expect(await next((m) => m.type === "error")).toMatchObject({ code: "no_start" });
    ws.send("{nope");
    expect(await next((m) => m.type === "error")).toMatchObject({ code: "bad_json" });
    ws.send(JSON.stringify({ type: "shout" }));
    expect((await next((m) => m.type === "error")).message).toMatch(/unknown message type "shout"/);
    ws.send(JSON.stringify({ type: "start", sample_rate: 16000, volume: 2 }));
    expect((await next((m) => m.type === "error")).message).toBe('bad "start" message: message: unknown field "volume"');
    ws.send(JSON.stringify({ type: "start", sample_rate: "fast" }));
    expect((await next((m) => m.type === "error")).message).toBe('bad "start" message: message.sample_rate: must be integer');
    ws.send(JSON.stringify({ type: "start", sample_rate: 16000, window: 1, hop: 2 }));
    expect((await next((m) => m.type === "error")).message).toMatch(/hop \(2 s\) must not exceed window \(1 s\)/);
    ws.send(JSON.stringify({ type: "start", sample_rate: 16000, window: 1, hop: 1 }));
    await next((m) => m.type === "ready");
    ws.send(Buffer.alloc(3));
    expect((await next((m) => m.type === "error")).message).toMatch(/3 bytes is not a whole number of pcm16 frames.*ignored/);
    ws.send(JSON.stringify({ type: "end" }));
    expect(await next((m) => m.type === "final")).toMatchObject({ code: "missing_audio" });
    // A run that needs text: a window before any text says so; after text arrives, windows have labels.
    const sec = Buffer.from(long.buffer, long.byteOffset, 16000 * 2);
    ws.send(sec);
    expect(await next((m) => m.type === "window")).toMatchObject({ end_s: 1, code: "missing_text" });
    ws.send(JSON.stringify({ type: "text", text: "I can't" }));
    ws.send(JSON.stringify({ type: "text", text: "believe you did that to me!" }));
    ws.send(Buffer.from(long.buffer, long.byteOffset + 32000, 32000));
    const w = await next((m) => m.type === "window");
    expect(w.end_s).toBe(2);
    const seg = long.subarray(16000, 32000);
    const r = await postJson(main, { text: TEXT, pcm_base64: int16Base64(seg), sample_rate: 16000 });
    expect(w.probabilities).toEqual(r.body.probabilities);
    ws.send(JSON.stringify({ type: "end" }));
    const final = await next((m) => m.type === "final");
    const all = await postJson(main, { text: TEXT, pcm_base64: int16Base64(long.subarray(0, 32000)), sample_rate: 16000 });
    expect(final.probabilities).toEqual(all.body.probabilities);
    ws.close();
  });

  it("a stream faster than the encoder drops its oldest waiting windows (and says so); the rest stay right", async () => {
    const msgs = await streamSession(limits, { sample_rate: 16000, window: 1, hop: 0.25, text: TEXT }, [long], 16000);
    const windows = msgs.filter((m) => m.type === "window");
    const dropped = windows.filter((w) => w.dropped);
    expect(dropped.length).toBeGreaterThan(0);
    expect(dropped[0].reason).toMatch(/fell behind/);
    const kept = windows.filter((w) => w.label);
    expect(kept.length + dropped.length).toBe(26); // ends at 1, 1.25, ..., 7.25 s
    const w = kept[kept.length - 1];
    const r = await postJson(main, { text: TEXT, pcm_base64: int16Base64(long.subarray(w.start_s * 16000, w.end_s * 16000)), sample_rate: 16000 });
    expect(w.probabilities).toEqual(r.body.probabilities);
    // This server's queue holds 2 jobs: the final made room by withdrawing the stream's own waiting windows.
    const final = msgs[msgs.length - 1];
    expect(final.type).toBe("final");
    const whole = await postJson(main, { text: TEXT, pcm_base64: int16Base64(long), sample_rate: 16000 });
    expect(final.probabilities).toEqual(whole.body.probabilities);
  });

  it("text segments beyond --max-text-chars are refused on the connection, the text so far kept", async () => {
    const msgs = await streamSession(limits, { sample_rate: 16000, text: TEXT }, [long.subarray(0, 16000)], 1600, "", [{ type: "text", text: "word ".repeat(60) }]);
    expect(msgs.find((m) => m.type === "error")).toMatchObject({ code: "text_too_long", message: expect.stringMatching(/at most 200 \(--max-text-chars\); the segment was ignored/) });
    const whole = await postJson(limits, { text: TEXT, pcm_base64: int16Base64(long.subarray(0, 16000)), sample_rate: 16000 });
    expect(msgs[msgs.length - 1].probabilities).toEqual(whole.body.probabilities);
  });

  it("text-only runs: a prediction of the words so far after each text message, and a final one", async () => {
    const msgs = await streamSession(textSrv, {}, [], 0, "", [
      { type: "text", text: "I can't believe" },
      { type: "text", text: "you did that to me!" },
    ]);
    const partials = msgs.filter((m) => m.type === "partial");
    expect(partials).toHaveLength(2);
    const first = await postJson(textSrv, { text: "I can't believe" });
    expect(partials[0].probabilities).toEqual(first.body.probabilities);
    const whole = await postJson(textSrv, { text: "I can't believe you did that to me!" });
    expect(partials[1].probabilities).toEqual(whole.body.probabilities);
    expect(msgs[msgs.length - 1]).toMatchObject({ type: "final", probabilities: whole.body.probabilities });
  });

  it("WindowCutter: windows of W every H samples whatever the pieces' sizes", () => {
    const x = Float32Array.from({ length: 1000 }, (_, i) => i);
    for (const piece of [1, 7, 100, 1000]) {
      const c = new WindowCutter(300, 120);
      const got: [number, number, number][] = [];
      for (let i = 0; i < x.length; i += piece) for (const w of c.push(x.subarray(i, i + piece))) got.push([w.start, w.end, w.samples[0]]);
      expect(got).toEqual([[0, 300, 0], [120, 420, 120], [240, 540, 240], [360, 660, 360], [480, 780, 480], [600, 900, 600]]);
    }
  });
});

describe("serve: the encoder queue (Scheduler) with a controllable runner", () => {
  /** A runner whose calls wait until the test releases them, recording what each call got. */
  function fakeRunner() {
    const calls: string[] = [];
    const gates: (() => void)[] = [];
    const wait = () => new Promise<void>((r) => gates.push(r));
    return {
      calls,
      release: async () => {
        while (gates.length === 0) await new Promise((r) => setTimeout(r, 1));
        gates.shift()!();
        await new Promise((r) => setTimeout(r, 1));
      },
      runner: {
        inputs: [{ modality: "audio", dim: 1 }, { modality: "text", dim: 1 }],
        async embedTexts(_k: number, texts: readonly string[]) {
          calls.push(`text:${texts.join("|")}`);
          await wait();
          return Float32Array.from(texts, (t) => t.length);
        },
        async embedClip(_k: number, clip: { samples: Float32Array }) {
          calls.push(`audio:${clip.samples.length}`);
          await wait();
          return Float32Array.of(clip.samples.length);
        },
        async classify(f: readonly Float32Array[]) {
          calls.push(`head:${f[0][0]},${f[1][0]}`);
          return [{ label: "x", probabilities: { x: f[0][0] + f[1][0] } }];
        },
      },
    };
  }
  const job = (n: number, text: string) => ({ texts: [null, text], clips: [{ samples: new Float32Array(n) } as never, null] });

  it("runs jobs in order, encodes the texts of waiting jobs together, every clip alone; refuses work beyond capacity; withdraws cancelled jobs", async () => {
    const { Scheduler, QueueFullError } = await import("../src/serve/scheduler.js");
    const f = fakeRunner();
    const q = new Scheduler(f.runner, { capacity: 3, textBatch: 8 });
    const [a] = q.submit([job(10, "aa")]);
    const [b, c] = q.submit([job(20, "bbb"), job(30, "c")]);
    expect(() => q.submit([job(1, "d")])).toThrow(QueueFullError);
    expect(q.length).toBe(3);
    expect(c.cancel(new Error("gone"))).toBe(true);
    await expect(c.result).rejects.toThrow("gone");
    await f.release(); // a's clip (the audio input comes first in this head)
    await f.release(); // the texts of a and b, together
    expect((await a.result).probabilities.x).toBe(12);
    expect(a.cancel(new Error("late"))).toBe(false);
    await f.release(); // b's clip
    expect((await b.result).text_batch).toBe(2);
    expect(f.calls).toEqual(["audio:10", "text:aa|bbb", "head:10,2", "audio:20", "head:20,3"]);
    await q.idle();
    expect(q.length).toBe(0);
  });
});
