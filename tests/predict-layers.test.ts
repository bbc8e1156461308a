/**
 * End to end on layer stores: extract every layer with the bundled tiny models, train weighted-layers and
 * --per-layer on them, then predict: the encoder is rebuilt with the store's layer outputs and the head gets
 * its layers, so predictions equal the exported head applied to the stored rows.
 */
import path from "node:path";
import ort from "onnxruntime-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { extractAudio } from "../src/extract/audio.js";
import { extractText } from "../src/extract/text.js";
import { loadIndex } from "../src/manifest/index-csv.js";
import { predict } from "../src/predict/predict.js";
import { readStore, type FeatureStore } from "../src/store/read.js";
import { trainPerLayer } from "../src/train/per-layer.js";
import { trainProbe } from "../src/train/probe.js";
import { DEMO_INDEX, DEMO_MODEL, removeDir, ROOT, tempDir } from "./helpers/paths.js";

const DEMO_WAVLM = path.join(ROOT, "models", "tiny-wavlm-demo");

/** The exported head's probabilities on the store's rows, at the layer positions the head takes. */
async function headOnStore(run: string, input: string, store: FeatureStore, positions: number[]): Promise<{ probs: Float32Array; c: number }> {
  const l = store.layers!.length;
  const w = positions.length * store.d;
  const x = new Float32Array(store.n * w);
  for (let r = 0; r < store.n; r++)
    positions.forEach((p, j) => x.set(store.embeddings.subarray((r * l + p) * store.d, (r * l + p + 1) * store.d), r * w + j * store.d));
  const session = await ort.InferenceSession.create(path.join(run, "head.onnx"));
  const out = await session.run({ [input]: new ort.Tensor("float32", x, [store.n, w]) });
  await session.release();
  return { probs: out.probs.data as Float32Array, c: out.probs.dims[1] as number };
}

describe("predict with runs trained on layer stores (demo corpus, tiny models)", () => {
  let dir: string;
  let text: FeatureStore;
  let audio: FeatureStore;
  beforeAll(async () => {
    dir = await tempDir("emofeat-predict-layers-");
    await extractText({ csv: DEMO_INDEX, model: DEMO_MODEL, offline: true, out: path.join(dir, "text-layers"), layers: "all" });
    await extractAudio({ csv: DEMO_INDEX, model: DEMO_WAVLM, offline: true, out: path.join(dir, "audio-layers"), layers: "all" });
    [text, audio] = await Promise.all([readStore(path.join(dir, "text-layers")), readStore(path.join(dir, "audio-layers"))]);
  });
  afterAll(() => removeDir(dir));

  it("weighted-layers on text: the encoder runs with every stored layer and the head gets them all", async () => {
    expect(text.layers!.length).toBeGreaterThan(1);
    const run = path.join(dir, "runs", "superb-text");
    await trainProbe({ csv: DEMO_INDEX, features: `text=${text.dir}`, head: "weighted-layers", out: run, settings: { epochs: 3, layerNorm: true } });
    const index = await loadIndex(DEMO_INDEX);
    const items = index.utterances.map((u) => ({ id: u.utterId, text: u.text }));
    const preds = await predict(run, items, { offline: true });
    const want = await headOnStore(run, "text", text, text.layers!.map((_, i) => i));
    let maxDiff = 0;
    for (const p of preds) {
      const row = text.ids.indexOf(p.id!);
      Object.values(p.probabilities!).forEach((v, j) => (maxDiff = Math.max(maxDiff, Math.abs(v - want.probs[row * want.c + j]))));
    }
    console.log(`weighted-layers on ${text.layers!.length} text layers: predict vs head.onnx on the store, max |dp| ${maxDiff.toExponential(2)}`);
    expect(maxDiff).toBeLessThan(1e-5);
  });

  it("a float16 store: predict rounds the encoder's values to float16 as the store did, so it equals the head on the stored rows", async () => {
    const store = path.join(dir, "text-f16");
    await extractText({ csv: DEMO_INDEX, model: DEMO_MODEL, offline: true, out: store, storeDtype: "float16" });
    const run = path.join(dir, "runs", "f16-text");
    await trainProbe({ csv: DEMO_INDEX, features: `text=${store}`, head: "mlp", out: run, settings: { epochs: 3 } });
    const f16 = await readStore(store);
    const session = await ort.InferenceSession.create(path.join(run, "head.onnx"));
    const out = await session.run({ text: new ort.Tensor("float32", f16.embeddings, [f16.n, f16.d]) });
    await session.release();
    const want = out.probs.data as Float32Array;
    const c = out.probs.dims[1] as number;
    const index = await loadIndex(DEMO_INDEX);
    const preds = await predict(run, index.utterances.map((u) => ({ id: u.utterId, text: u.text })), { offline: true });
    let maxDiff = 0;
    for (const p of preds) {
      const row = f16.ids.indexOf(p.id!);
      Object.values(p.probabilities!).forEach((v, j) => (maxDiff = Math.max(maxDiff, Math.abs(v - want[row * c + j]))));
    }
    console.log(`float16 text store: predict vs head.onnx on the stored rows, max |dp| ${maxDiff.toExponential(2)}`);
    expect(maxDiff).toBeLessThan(1e-7);
  });

  it("a --per-layer run's layer on audio: the head gets that one layer of the rebuilt encoder", async () => {
    const run = path.join(dir, "runs", "per-layer-audio");
    const res = await trainPerLayer({ csv: DEMO_INDEX, features: `audio=${audio.dir}`, head: "weighted-layers", out: run, settings: { epochs: 2 } });
    const layer = audio.layers![1];
    const sub = path.join(run, res.perLayer.find((e) => e.layer === layer)!.run);
    const index = await loadIndex(DEMO_INDEX);
    const items = index.utterances.map((u) => ({ id: u.utterId, audio: u.audioFile }));
    const preds = await predict(sub, items, { offline: true });
    const want = await headOnStore(sub, "audio", audio, [1]);
    let maxDiff = 0;
    for (const p of preds) {
      expect(p.error).toBeUndefined();
      const row = audio.ids.indexOf(p.id!);
      Object.values(p.probabilities!).forEach((v, j) => (maxDiff = Math.max(maxDiff, Math.abs(v - want.probs[row * want.c + j]))));
    }
    console.log(`per-layer run, layer ${layer} of ${audio.layers!.join(",")}: predict vs head.onnx on the store, max |dp| ${maxDiff.toExponential(2)}`);
    expect(maxDiff).toBeLessThan(1e-5);
  });
});
