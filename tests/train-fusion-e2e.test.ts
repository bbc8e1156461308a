/**
 * Fusion heads end to end on real sequence stores: text and audio extracted with --pooling none from the demo
 * corpus (tiny random models), a fusion-decoder trained on them through the store's streaming reader, then
 * prediction (the encoders give frames and tokens again) and predict --explain on the command line.
 */
import { existsSync, readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import path from "node:path";
import ort from "onnxruntime-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { extractAudio } from "../src/extract/audio.js";
import { extractText } from "../src/extract/text.js";
import { loadIndex } from "../src/manifest/index-csv.js";
import { predict } from "../src/predict/predict.js";
import { EmofeatServer } from "../src/serve/server.js";
import { openSequenceStore } from "../src/store/read.js";
import { trainProbe } from "../src/train/probe.js";
import { runEmofeat } from "./helpers/cli.js";
import { DEMO_INDEX, DEMO_MODEL, removeDir, ROOT, tempDir } from "./helpers/paths.js";

const DEMO_WAVLM = path.join(ROOT, "models", "tiny-wavlm-demo");

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
    const session = await ort.InferenceSession.create(path.join(run, "head.onnx"));
    let maxDiff = 0;
    for (const p of preds) {
      const ia = a.ids.indexOf(p.id!);
      const [fa] = await a.read([ia]);
      const [ft] = await t.read([t.ids.indexOf(p.id!)]);
      const ta = fa.length / a.d;
      const tt = ft.length / t.d;
      const r = await session.run({
        audio: new ort.Tensor("float32", fa, [1, ta, a.d]),
        "audio.mask": new ort.Tensor("float32", new Float32Array(ta).fill(1), [1, ta]),
        text: new ort.Tensor("float32", ft, [1, tt, t.d]),
        "text.mask": new ort.Tensor("float32", new Float32Array(tt).fill(1), [1, tt]),
      });
      const probs = r.probs.data as Float32Array;
      Object.values(p.probabilities!).forEach((v, j) => (maxDiff = Math.max(maxDiff, Math.abs(v - probs[j]))));
      expect(p.beta).toBeCloseTo((r.beta.data as Float32Array)[0], 5);
    }
    await session.release();
    await Promise.all([a.close(), t.close()]);
    console.log(`predict vs head.onnx on stored sequences: max |diff| ${maxDiff.toExponential(2)}`);
    expect(maxDiff).toBeLessThan(1e-4);
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
