import { cp, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import ort from "onnxruntime-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { extractAudio } from "../src/extract/audio.js";
import { extractText } from "../src/extract/text.js";
import { loadIndex } from "../src/manifest/index-csv.js";
import { Predictor, predict } from "../src/predict/predict.js";
import { readStore } from "../src/store/read.js";
import { trainProbe } from "../src/train/probe.js";
import { writeProbeFixture } from "./helpers/probe-data.js";
import { DEMO_INDEX, DEMO_MODEL, removeDir, ROOT, tempDir } from "./helpers/paths.js";

const DEMO_WAVLM = path.join(ROOT, "models", "tiny-wavlm-demo");
import { loadSynth } from "./helpers/synth.js";
import { runEmofeat } from "./helpers/cli.js";


describe("predict with trained runs (demo corpus, tiny models)", () => {
  let dir: string;
  let run: string;
  let concat: string;
  let storeDir: string;
  let audioDir: string;
  beforeAll(async () => {
    dir = await tempDir("emofeat-predict-");
    storeDir = path.join(dir, "features", "text");
    audioDir = path.join(dir, "features", "audio");
    await extractText({ csv: DEMO_INDEX, model: DEMO_MODEL, offline: true, out: storeDir });
    await extractAudio({ csv: DEMO_INDEX, model: DEMO_WAVLM, offline: true, out: audioDir });
    run = path.join(dir, "runs", "text-mlp");
    await trainProbe({ csv: DEMO_INDEX, features: `text=${storeDir}`, head: "mlp", out: run, settings: { epochs: 5 } });
    concat = path.join(dir, "runs", "concat");
    await trainProbe({ csv: DEMO_INDEX, features: `audio=${audioDir},text=${storeDir}`, head: "concat-linear", out: concat, settings: { epochs: 3 } });
  });
  afterAll(() => removeDir(dir));

  it("gives the head's probabilities on the same embeddings the store holds", async () => {
    const index = await loadIndex(DEMO_INDEX);
    const preds = await predict(run, index.utterances.map((u) => ({ id: u.utterId, text: u.text })));
    expect(preds.map((p) => p.id)).toEqual(index.utterances.map((u) => u.utterId));

    // Reference: the exported head applied by plain onnxruntime to the stored training embeddings.
    const store = await readStore(storeDir);
    const session = await ort.InferenceSession.create(path.join(run, "head.onnx"));
    const out = await session.run({ text: new ort.Tensor("float32", store.embeddings, [store.n, store.d]) });
    await session.release();
    const probs = out.probs.data as Float32Array;
    const labels = JSON.parse(await readFile(path.join(run, "labels.json"), "utf8")).labels as string[];
    let maxDiff = 0;
    preds.forEach((p) => {
      const row = store.ids.indexOf(p.id!);
      const pr = p.probs!;
      labels.forEach((l, j) => (maxDiff = Math.max(maxDiff, Math.abs(pr[l] - probs[row * labels.length + j]))));
      const sum = Object.values(pr).reduce((a, b) => a + b, 0);
      expect(sum).toBeCloseTo(1, 5);
      expect(p.label).toBe(labels[Object.values(pr).indexOf(Math.max(...Object.values(pr)))]);
    });
    expect(maxDiff).toBeLessThan(1e-5);
  });

  it("audio + text: the same probabilities as the head on both stores' vectors; a bad clip gets an error, not a guess", async () => {
    const index = await loadIndex(DEMO_INDEX);
    const items = index.utterances.map((u) => ({ id: u.utterId, text: u.text, audio: u.audioFile }));
    items.push({ id: "broken", text: "hello", audio: path.join(dir, "missing.wav") });
    const preds = await predict(concat, items, { offline: true });
    const [audio, text] = await Promise.all([readStore(audioDir), readStore(storeDir)]);
    const session = await ort.InferenceSession.create(path.join(concat, "head.onnx"));
    expect(session.inputNames).toEqual(["audio", "text"]);
    const out = await session.run({
      audio: new ort.Tensor("float32", audio.embeddings, [audio.n, audio.d]),
      text: new ort.Tensor("float32", text.embeddings, [text.n, text.d]),
    });
    await session.release();
    expect(audio.ids).toEqual(text.ids);
    const probs = out.probs.data as Float32Array;
    const labels = JSON.parse(await readFile(path.join(concat, "labels.json"), "utf8")).labels as string[];
    let maxDiff = 0;
    for (const p of preds.slice(0, -1)) {
      const row = audio.ids.indexOf(p.id!);
      labels.forEach((l, j) => (maxDiff = Math.max(maxDiff, Math.abs(p.probs![l] - probs[row * labels.length + j]))));
    }
    expect(maxDiff).toBeLessThan(1e-5);
    const broken = preds[preds.length - 1];
    expect(broken).toMatchObject({ id: "broken", label: null, probs: null });
    expect(broken.error).toContain("missing.wav");
  });

  it("gated fusion head: beta per utterance, the head's beta on the stores' vectors; CSV has a beta column", async () => {
    const gate = path.join(dir, "runs", "gate");
    await trainProbe({ csv: DEMO_INDEX, features: `audio=${audioDir},text=${storeDir}`, head: "beta-gate", out: gate, settings: { epochs: 3 } });
    const index = await loadIndex(DEMO_INDEX);
    const preds = await predict(gate, index.utterances.map((u) => ({ id: u.utterId, text: u.text, audio: u.audioFile })), { offline: true });
    const [audio, text] = await Promise.all([readStore(audioDir), readStore(storeDir)]);
    const session = await ort.InferenceSession.create(path.join(gate, "head.onnx"));
    const out = await session.run({
      audio: new ort.Tensor("float32", audio.embeddings, [audio.n, audio.d]),
      text: new ort.Tensor("float32", text.embeddings, [text.n, text.d]),
    });
    await session.release();
    const beta = out.beta.data as Float32Array;
    let maxDiff = 0;
    for (const p of preds) {
      expect(p.beta).toBeGreaterThan(0);
      expect(p.beta).toBeLessThan(1);
      maxDiff = Math.max(maxDiff, Math.abs(p.beta! - beta[audio.ids.indexOf(p.id!)]));
    }
    expect(maxDiff).toBeLessThan(1e-5);
    const many = await runEmofeat(["predict", "--run", gate, "--csv", DEMO_INDEX, "--offline"]);
    expect(many.code).toBe(0);
    const lines = many.stdout.trim().split("\n");
    expect(lines[0]).toBe("utter_id,true_label,predicted,p_angry,p_happy,p_neutral,p_sad,beta,error");
    const first = lines[1].split(",");
    expect(Number(first[7])).toBeCloseTo(preds.find((p) => p.id === first[0])!.beta!, 6);
  });

  it("names the missing model and how to provide it; --model overrides it", async () => {
    const moved = path.join(dir, "runs", "moved");
    await cp(run, moved, { recursive: true });
    const metaFile = path.join(moved, "stores", "text.meta.json");
    const meta = JSON.parse(await readFile(metaFile, "utf8"));
    meta.model.id = path.join(dir, "no-such-model");
    await writeFile(metaFile, JSON.stringify(meta));
    await expect(Predictor.load(moved, { offline: true })).rejects.toThrow(
      new RegExp(`store "text" of this run was extracted with model ".*no-such-model".*\\n.*--model text=FOLDER`, "s"),
    );
    const [p] = await predict(moved, [{ text: "I can't believe you did that" }], { models: { text: DEMO_MODEL }, offline: true });
    const [q] = await predict(run, [{ text: "I can't believe you did that" }], { offline: true });
    expect(p).toEqual(q);
  });

  it("refuses a model whose files differ from the store's", async () => {
    const other = path.join(dir, "runs", "other");
    await cp(run, other, { recursive: true });
    const metaFile = path.join(other, "stores", "text.meta.json");
    const meta = JSON.parse(await readFile(metaFile, "utf8"));
    meta.model.sha256 = "0".repeat(64);
    await writeFile(metaFile, JSON.stringify(meta));
    await expect(Predictor.load(other, { offline: true })).rejects.toThrow(/model file found at .* differs \(sha256/);
  });

  it("CLI: label and probabilities, JSON with --json; errors for a missing modality", async () => {
    const cli = (args: string[]) => runEmofeat(args);
    const r = await cli(["predict", "--run", run, "--text", "I can't believe you did that", "--json", "--offline"]);
    expect(r.code).toBe(0);
    const p = JSON.parse(r.stdout);
    expect(Object.keys(p.probs).sort()).toEqual(["angry", "happy", "neutral", "sad"]);
    expect(p.probs[p.label]).toBe(Math.max(...(Object.values(p.probs) as number[])));
    const bad = await cli(["predict", "--run", run, "--audio", "x.wav", "--offline"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("no text given; this run's head needs text");
    const wav = path.join(ROOT, "samples", "demo", "wav", "demo_s1_001.wav");
    const both = await cli(["predict", "--run", concat, "--audio", wav, "--text", "I can't believe you did that to me!", "--offline"]);
    expect(both.code).toBe(0);
    expect(both.stdout.split("\n")[0]).toMatch(/^(angry|happy|neutral|sad)$/);
    const many = await cli(["predict", "--run", concat, "--csv", DEMO_INDEX, "--offline"]);
    expect(many.code).toBe(0);
    expect(many.stdout.split("\n")[0]).toBe("utter_id,true_label,predicted,p_angry,p_happy,p_neutral,p_sad,error");
    expect(many.stdout.trim().split("\n")).toHaveLength(25);
    expect(many.stderr).toMatch(/24 predictions; accuracy on the 24 rows with a known label: \d+\.\d\d%/);
  });
});

describe("runs predict cannot serve", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await tempDir("emofeat-predict2-");
  });
  afterAll(() => removeDir(dir));

  it("says which model is missing for an audio store, and that cross-validation runs have no head", async () => {
    const s = await loadSynth();
    const fx = await writeProbeFixture(dir, s);
    const audioRun = path.join(dir, "runs", "audio");
    await trainProbe({ csv: fx.csv, features: `audio=${fx.audio}`, head: "linear", out: audioRun, settings: { epochs: 1 } });
    await expect(Predictor.load(audioRun, { offline: true })).rejects.toThrow(
      /store "audio" of this run was extracted with model "test\/audio-model".*\n.*--model audio=FOLDER .*run once without --offline/s,
    );
    const loso = path.join(dir, "runs", "loso");
    await trainProbe({ csv: fx.csv, features: `text=${fx.text}`, head: "linear", out: loso, protocol: { kind: "session-folds", val: "stratified" }, settings: { epochs: 1 } });
    await expect(Predictor.load(loso)).rejects.toThrow(/has no trained head to predict with: cross-validation runs/);
  });
});
