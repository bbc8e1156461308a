/**
 * Fusion heads end to end on real sequence stores: text and audio extracted with --pooling none from the demo
 * corpus (tiny random models), a fusion-decoder trained on them through the store's streaming reader, then
 * prediction (the encoders give frames and tokens again) and predict --explain on the command line.
 */
import { existsSync, readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import path from "node:path";
import ort from "onnxruntime-node";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { extractAudio } from "../src/extract/audio.js";
import { extractText } from "../src/extract/text.js";
import { loadIndex } from "../src/manifest/index-csv.js";
import { Explainer } from "../src/predict/explain.js";
import { predict, Predictor, type Classification, type Prediction } from "../src/predict/predict.js";
import { EmofeatServer } from "../src/serve/server.js";
import { readStore } from "../src/store/read.js";
import { openSequenceStore } from "../src/store/read.js";
import { trainProbe } from "../src/train/probe.js";
import { runEmofeat } from "./helpers/cli.js";
import { DEMO_INDEX, DEMO_MODEL, removeDir, ROOT, tempDir } from "./helpers/paths.js";

const DEMO_WAVLM = path.join(ROOT, "models", "tiny-wavlm-demo");

/** One utterance's sequence as head.onnx takes it: [1, T, d] and an all-ones mask. */
const seqFeeds = (name: string, x: Float32Array, d: number) => ({
  [name]: new ort.Tensor("float32", x, [1, x.length / d, d]),
  [`${name}.mask`]: new ort.Tensor("float32", new Float32Array(x.length / d).fill(1), [1, x.length / d]),
});

/** Largest |probability| difference between predictions and head.onnx on each one's own inputs (beta checked too). */
async function diffToHead(headFile: string, preds: Prediction[], feeds: (id: string) => Promise<Record<string, ort.Tensor>>): Promise<number> {
  const session = await ort.InferenceSession.create(headFile);
  let maxDiff = 0;
  for (const p of preds) {
    const r = await session.run(await feeds(p.id!));
    const probs = r.probs.data as Float32Array;
    Object.values(p.probabilities!).forEach((v, j) => (maxDiff = Math.max(maxDiff, Math.abs(v - probs[j]))));
    expect(p.beta).toBeCloseTo((r.beta.data as Float32Array)[0], 5);
  }
  await session.release();
  return maxDiff;
}

describe("fusion-decoder on sequence stores, end to end", () => {
  let dir: string;
  let run: string;
  let stores: { audio: string; text: string };
  beforeAll(async () => {
    dir = await tempDir("emofeat-fusion-e2e-");
    stores = { audio: path.join(dir, "audio-seq"), text: path.join(dir, "text-seq") };
    await extractText({ csv: DEMO_INDEX, model: DEMO_MODEL, offline: true, out: stores.text, pooling: "none" });
    await extractAudio({ csv: DEMO_INDEX, model: DEMO_WAVLM, offline: true, out: stores.audio, pooling: "none" });
    run = path.join(dir, "run");
    await trainProbe({
      csv: DEMO_INDEX,
      features: `audio=${stores.audio},text=${stores.text}`,
      head: "fusion-decoder",
      out: run,
      settings: { epochs: 2, lr: 1e-3, fusion: { dModel: 16, attnHeads: 2, blocks: 1, decoderLayers: 1 } },
    });
  });
  afterAll(() => removeDir(dir));

  it("predicts from audio files and texts what the head gives on the stored frames and tokens", async () => {
    const index = await loadIndex(DEMO_INDEX);
    const rows = index.utterances.slice(0, 6);
    const preds = await predict(run, rows.map((u) => ({ id: u.utterId, text: u.text, audio: u.audioFile })), { offline: true });
    // Reference: head.onnx on the stores' own sequences, one utterance at a time (no padding).
    const [a, t] = await Promise.all([openSequenceStore(stores.audio), openSequenceStore(stores.text)]);
    const maxDiff = await diffToHead(path.join(run, "head.onnx"), preds, async (id) => {
      const [fa] = await a.read([a.ids.indexOf(id)]);
      return { ...seqFeeds("audio", fa, a.d), ...seqFeeds("text", (await t.read([t.ids.indexOf(id)]))[0], t.d) };
    });
    await Promise.all([a.close(), t.close()]);
    console.log(`predict vs head.onnx on stored sequences: max |diff| ${maxDiff.toExponential(2)}`);
    expect(maxDiff).toBeLessThan(1e-4);
  });

  it("predicts many long sequences in runs of bounded size, each row as it is alone", async () => {
    const predictor = await Predictor.load(run, { offline: true });
    const rng = (i: number) => Math.sin(i * 12.9898) * 0.5;
    const d = predictor.head.inputs[0].dim;
    // 30 rows of up to 400 positions, 2 attention heads: at most floor(4e6 / (400^2 * 2)) = 12 rows per run.
    const rows = Array.from({ length: 30 }, (_, r) => {
      const seq = (len: number, off: number) => Float32Array.from({ length: len * d }, (_, k) => rng(r * 1e5 + off + k));
      return { audio: { values: seq(r % 3 === 0 ? 400 : 1 + r * 7, 0) }, text: { values: seq(1 + (r % 5), 5e4) } };
    });
    const session = (predictor as unknown as { session: { run: (...a: unknown[]) => unknown } }).session;
    const spy = vi.spyOn(session, "run");
    const all = await predictor.classifySequences(rows);
    const runs = spy.mock.calls.length;
    const alone: Classification[] = [];
    for (const r of rows) alone.push(...(await predictor.classifySequences([r])));
    spy.mockRestore();
    await predictor.dispose();
    expect(runs).toBeGreaterThanOrEqual(3);
    expect(runs).toBeLessThan(30);
    all.forEach((c, i) => {
      expect(c.label).toBe(alone[i].label);
      expect(c.beta).toBeCloseTo(alone[i].beta!, 5);
      for (const [k, v] of Object.entries(c.probabilities)) expect(v).toBeCloseTo(alone[i].probabilities[k], 5);
    });
  });

  it("a pooled audio store beside a text sequence store: trains with dropout, predicts and explains as head.onnx gives", async () => {
    const pooled = path.join(dir, "audio-pooled");
    await extractAudio({ csv: DEMO_INDEX, model: DEMO_WAVLM, offline: true, out: pooled });
    const mixed = path.join(dir, "run-mixed");
    // fusion-decoder's default dropout 0.1: masks over the "1+T_text" fused positions.
    await trainProbe({
      csv: DEMO_INDEX,
      features: `audio=${pooled},text=${stores.text}`,
      head: "fusion-decoder",
      out: mixed,
      settings: { epochs: 1, fusion: { dModel: 16, attnHeads: 2, blocks: 1, decoderLayers: 1 } },
    });
    const index = await loadIndex(DEMO_INDEX);
    const rows = index.utterances.slice(0, 4);
    const items = rows.map((u) => ({ id: u.utterId, text: u.text, audio: u.audioFile }));
    const preds = await predict(mixed, items, { offline: true });
    const a = await readStore(pooled);
    const t = await openSequenceStore(stores.text);
    const maxDiff = await diffToHead(path.join(mixed, "head.onnx"), preds, async (id) => {
      const ia = a.ids.indexOf(id);
      const audio = new ort.Tensor("float32", a.embeddings.slice(ia * a.d, (ia + 1) * a.d), [1, a.d]);
      return { audio, ...seqFeeds("text", (await t.read([t.ids.indexOf(id)]))[0], t.d) };
    });
    await t.close();
    expect(maxDiff).toBeLessThan(1e-4);

    // --explain: the audio is one position; audio -> text is a map over the tokens, text -> audio is all 1.
    const predictor = await Predictor.load(mixed, { offline: true });
    const [q] = await predictor.sequences(items.slice(0, 1));
    await predictor.dispose();
    expect(q.error).toBeNull();
    const ex = await Explainer.load(mixed, { threads: 1 });
    const out = path.join(dir, "explain-mixed");
    const [e] = await ex.explain([{ id: items[0].id, inputs: q.inputs! }], out);
    await ex.dispose();
    expect(e.positions.audio).toEqual(["audio (utterance)"]);
    for (const [k, v] of Object.entries(preds[0].probabilities!)) expect(e.probabilities[k]).toBeCloseTo(v, 5);
    const tokens = e.positions.text.length;
    expect(e.blocks[0].audio_to_text).toHaveLength(1);
    expect(e.blocks[0].audio_to_text[0].reduce((x, y) => x + y, 0)).toBeCloseTo(1, 5);
    expect(e.blocks[0].text_to_audio).toEqual(Array.from({ length: tokens }, () => [1]));
    expect(e.decoder[0].positions).toEqual(["audio (utterance)", ...e.positions.text]);
    expect(e.files).toEqual([`${items[0].id}.json`, `${items[0].id}.block0.audio_to_text.png`, `${items[0].id}.decoder0.png`]);

    // serve: the pooled audio's vector and the text's tokens, the same answer as predict.
    const server = await EmofeatServer.start({ run: mixed, port: 0, host: "127.0.0.1", logLevel: "silent", predictor: { offline: true } });
    try {
      await server.ready;
      const form = new FormData();
      form.append("audio", new Blob([await readFile(rows[1].audioFile!)]), path.basename(rows[1].audioFile!));
      form.append("text", rows[1].text);
      const r = await fetch(server.url + "/v1/predict", { method: "POST", body: form });
      const body = (await r.json()) as { probabilities: Record<string, number>; beta: number };
      expect(r.status, JSON.stringify(body)).toBe(200);
      // (predict ran four rows padded together, the server one alone: float rounding apart)
      for (const [k, v] of Object.entries(preds[1].probabilities!)) expect(body.probabilities[k]).toBeCloseTo(v, 6);
      expect(body.beta).toBeCloseTo(preds[1].beta!, 6);
    } finally {
      await server.close();
    }
  });

  it("serve: a sequence run answers what predict gives for the same file and text, and needs both", async () => {
    const index = await loadIndex(DEMO_INDEX);
    const u = index.utterances[3];
    const [want] = await predict(run, [{ text: u.text, audio: u.audioFile! }], { offline: true });
    const server = await EmofeatServer.start({ run, port: 0, host: "127.0.0.1", logLevel: "silent", predictor: { offline: true } });
    try {
      await server.ready;
      const form = new FormData();
      form.append("audio", new Blob([await readFile(u.audioFile!)]), path.basename(u.audioFile!));
      form.append("text", u.text);
      const r = await fetch(server.url + "/v1/predict", { method: "POST", body: form });
      const body = (await r.json()) as Record<string, any>;
      expect(r.status, JSON.stringify(body)).toBe(200);
      expect(body.probabilities).toEqual(want.probabilities);
      expect(body.beta).toBe(want.beta);
      expect(body.text_batch).toBe(1);
      expect(body.timings_ms.encode_audio).toBeGreaterThan(0);
      const noText = await fetch(server.url + "/v1/predict", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ text: u.text }) });
      expect(noText.status).toBe(400);
      expect(((await noText.json()) as Record<string, any>).code).toBe("missing_audio");
    } finally {
      await server.close();
    }
  });

  it("CLI predict --explain: JSON and heat maps with token strings and frame times", async () => {
    const index = await loadIndex(DEMO_INDEX);
    const u = index.utterances[0];
    const out = path.join(dir, "explain");
    const r = await runEmofeat(["predict", "--run", run, "--audio", u.audioFile!, "--text", u.text, "--explain", out, "--offline"]);
    expect(r.code).toBe(0);
    const id = path.basename(u.audioFile!, ".wav");
    expect(r.stdout).toMatch(new RegExp(`^${id}: (angry|happy|neutral|sad), beta 0\\.\\d{4} -> `));
    const e = JSON.parse(readFileSync(path.join(out, `${id}.json`), "utf8"));
    expect(e.positions.text[0]).toBe("[CLS]");
    expect(e.positions.text[e.positions.text.length - 1]).toBe("[SEP]");
    expect(e.positions.audio[1]).toMatch(/^0\.0\d s$/);
    expect(e.blocks[0].audio_to_text).toHaveLength(e.positions.audio.length);
    for (const f of [".block0.audio_to_text.png", ".block0.text_to_audio.png", ".decoder0.png"]) expect(existsSync(path.join(out, id + f)), f).toBe(true);
  });
});
