import { createHash } from "node:crypto";
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
import type { RunConfig } from "../src/train/run-dir.js";
import type { StoreMeta } from "../src/store/meta.js";
import { writeProbeFixture } from "./helpers/probe-data.js";
import { DEMO_INDEX, DEMO_MODEL, removeDir, ROOT, tempDir } from "./helpers/paths.js";

const DEMO_WAVLM = path.join(ROOT, "models", "tiny-wavlm-demo");
import { loadSynth } from "./helpers/synth.js";
import { runEmofeat, runEmofeatInProcess } from "./helpers/cli.js";


/** Edits a run's copy of a store meta the way a moved model would need, keeping config.json's record of it consistent. */
async function editStoreMeta(runDir: string, edit: (meta: StoreMeta) => void): Promise<void> {
  const rel = "stores/text.meta.json";
  const meta = JSON.parse(await readFile(path.join(runDir, rel), "utf8")) as StoreMeta;
  edit(meta);
  const text = JSON.stringify(meta);
  await writeFile(path.join(runDir, rel), text);
  const config = JSON.parse(await readFile(path.join(runDir, "config.json"), "utf8")) as RunConfig;
  config.files![rel] = createHash("sha256").update(text).digest("hex");
  await writeFile(path.join(runDir, "config.json"), JSON.stringify(config));
}

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
      const pr = p.probabilities!;
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
      labels.forEach((l, j) => (maxDiff = Math.max(maxDiff, Math.abs(p.probabilities![l] - probs[row * labels.length + j]))));
    }
    expect(maxDiff).toBeLessThan(1e-5);
    const broken = preds[preds.length - 1];
    expect(broken).toMatchObject({ id: "broken", label: null, probabilities: null });
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
    expect(lines[0]).toBe("utter_id,true_label,label,probabilities.angry,probabilities.happy,probabilities.neutral,probabilities.sad,beta,error");
    const first = lines[1].split(",");
    expect(Number(first[7])).toBeCloseTo(preds.find((p) => p.id === first[0])!.beta!, 6);
  });

  it("finds a local model given by a relative path from any working directory (meta.json records its folder)", async () => {
    const rel = path.relative(process.cwd(), DEMO_MODEL);
    expect(path.isAbsolute(rel)).toBe(false);
    const store = path.join(dir, "features", "text-rel");
    const s = await extractText({ csv: DEMO_INDEX, model: rel, offline: true, out: store });
    expect(s.meta.model).toMatchObject({ id: rel, path: DEMO_MODEL });
    const relRun = path.join(dir, "runs", "text-rel");
    await trainProbe({ csv: DEMO_INDEX, features: `text=${store}`, head: "linear", out: relRun, settings: { epochs: 1 } });
    // From another folder, where the relative path leads nowhere.
    const r = await runEmofeat(["predict", "--run", relRun, "--text", "I can't believe it", "--offline", "--json"], { cwd: dir });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(Object.keys(JSON.parse(r.stdout).probabilities)).toHaveLength(4);
  });

  it("names the missing model and how to provide it; --model overrides it", async () => {
    const moved = path.join(dir, "runs", "moved");
    await cp(run, moved, { recursive: true });
    await editStoreMeta(moved, (meta) => (meta.model.id = path.join(dir, "no-such-model")));
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
    await editStoreMeta(other, (meta) => (meta.model.sha256 = "0".repeat(64)));
    await expect(Predictor.load(other, { offline: true })).rejects.toThrow(/model file found at .* differs \(sha256/);
  });

  it("refuses a run whose head, labels or store meta were changed after training", async () => {
    const edited = path.join(dir, "runs", "edited");
    await cp(run, edited, { recursive: true });
    const metaFile = path.join(edited, "stores", "text.meta.json");
    const original = await readFile(metaFile, "utf8");
    await writeFile(metaFile, original.replace(/"max_len": 128/, '"max_len": 64'));
    await expect(Predictor.load(edited, { offline: true })).rejects.toThrow(/text\.meta\.json was changed after training \(sha256 [0-9a-f]{12}\.\.\., config\.json records/);
    await writeFile(metaFile, original);
    const head = await readFile(path.join(edited, "head.onnx"));
    head[head.length - 5] ^= 1;
    await writeFile(path.join(edited, "head.onnx"), head);
    await expect(Predictor.load(edited, { offline: true })).rejects.toThrow(/head\.onnx was changed after training/);
  });

  it("CLI: label and probabilities, JSON with --json; errors for a missing modality", async () => {
    const cli = (args: string[]) => runEmofeatInProcess(args);
    const r = await cli(["predict", "--run", run, "--text", "I can't believe you did that", "--json", "--offline"]);
    expect(r.code).toBe(0);
    const p = JSON.parse(r.stdout);
    expect(Object.keys(p.probabilities).sort()).toEqual(["angry", "happy", "neutral", "sad"]);
    expect(p.probabilities[p.label]).toBe(Math.max(...(Object.values(p.probabilities) as number[])));
    const bad = await cli(["predict", "--run", run, "--audio", "x.wav", "--offline"]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("--audio: this run's head uses text only, so --audio would be ignored; leave it out");
    const wav = path.join(ROOT, "samples", "demo", "wav", "demo_s1_001.wav");
    const both = await cli(["predict", "--run", concat, "--audio", wav, "--text", "I can't believe you did that to me!", "--offline"]);
    expect(both.code).toBe(0);
    expect(both.stdout.split("\n")[0]).toMatch(/^(angry|happy|neutral|sad)$/);
    const many = await cli(["predict", "--run", concat, "--csv", DEMO_INDEX, "--offline"]);
    expect(many.code).toBe(0);
    expect(many.stdout.split("\n")[0]).toBe(
      "utter_id,true_label,label,probabilities.angry,probabilities.happy,probabilities.neutral,probabilities.sad,error",
    );
    expect(many.stdout.trim().split("\n")).toHaveLength(25);
    expect(many.stderr).toMatch(/^24 rows: 24 predicted, 0 failed; accuracy on the 24 predicted rows with a known label: \d+\.\d\d%\n$/);
  });

  it("--csv needs only utter_id and the columns the run uses; JSON and CSV share field names; failures are counted apart", async () => {
    const wav = path.join(ROOT, "samples", "demo", "wav", "demo_s1_001.wav");
    const bare = path.join(dir, "new-data.csv");
    await writeFile(bare, `utter_id,text,audio_path\nok1,I can't believe it,${wav}\nbad1,Hello there,${path.join(dir, "missing.wav")}\n`);
    const csv = await runEmofeatInProcess(["predict", "--run", concat, "--csv", bare, "--offline"]);
    expect(csv.code).toBe(0);
    const lines = csv.stdout.trim().split("\n");
    expect(lines[0]).toBe("utter_id,label,probabilities.angry,probabilities.happy,probabilities.neutral,probabilities.sad,error");
    expect(lines[2]).toMatch(/^bad1,,,,,,.*missing\.wav/);
    expect(csv.stderr).toMatch(/^emofeat: warning: 1 row\(s\) could not be encoded/);
    expect(csv.stderr).toMatch(/\n2 rows: 1 predicted, 1 failed\n$/);
    const json = await runEmofeatInProcess(["predict", "--run", concat, "--csv", bare, "--offline", "--json", "-q"]);
    const rows = JSON.parse(json.stdout) as Record<string, unknown>[];
    expect(Object.keys(rows[0])).toEqual(["utter_id", "label", "probabilities"]);
    expect(Object.keys(rows[1])).toEqual(["utter_id", "label", "probabilities", "error"]);
    expect(Object.keys(rows[0].probabilities as object).map((c) => `probabilities.${c}`)).toEqual(lines[0].split(",").slice(2, 6));
    expect(json.stderr).not.toMatch(/rows:/); // -q
    const out = path.join(dir, "limited.csv");
    const limited = await runEmofeatInProcess(["predict", "--run", concat, "--csv", bare, "--offline", "--out", out, "--max-failures", "0"]);
    expect(limited.code).toBe(3);
    expect(limited.stderr).toMatch(/1 of 2 rows failed, more than --max-failures 0 allows/);
    expect((await readFile(out, "utf8")).trim().split("\n")).toHaveLength(3); // written all the same
    expect((await runEmofeatInProcess(["predict", "--run", concat, "--csv", bare, "--offline", "--out", out, "--max-failures", "50%"])).code).toBe(0);
    const noText = path.join(dir, "no-text.csv");
    await writeFile(noText, `utter_id,audio_path\nx,${wav}\n`);
    const missing = await runEmofeatInProcess(["predict", "--run", concat, "--csv", noText, "--offline"]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/missing required column\(s\): text/);
  });

  it("--out: missing folders are created; a folder or someone else's file is refused before any prediction", async () => {
    const out = path.join(dir, "new", "deeper", "p.csv");
    const args = (o: string) => ["predict", "--run", run, "--csv", DEMO_INDEX, "--out", o, "--offline"];
    const ok = await runEmofeatInProcess(args(out));
    expect(ok.code).toBe(0);
    expect((await readFile(out, "utf8")).trim().split("\n")).toHaveLength(25);
    expect((await runEmofeatInProcess(args(out))).code).toBe(0); // its own earlier output may be replaced
    const folder = await runEmofeatInProcess(args(path.join(dir, "new")));
    expect(folder.code).toBe(2);
    expect(folder.stderr).toMatch(/^emofeat: --out .*new: is a folder; give a file path/);
    const theirs = path.join(dir, "theirs.csv");
    await writeFile(theirs, "a,b\n1,2\n");
    const refused = await runEmofeatInProcess(args(theirs));
    expect(refused.code).toBe(2);
    expect(refused.stderr.trim().split("\n")).toHaveLength(1); // stopped before predicting anything
    expect(await readFile(theirs, "utf8")).toBe("a,b\n1,2\n");
    // Files that only start like ours (a list of ids, an index with a label column) are someone else's too.
    const json = path.join(dir, "p.json");
    expect((await runEmofeatInProcess([...args(json), "--json"])).code).toBe(0);
    expect((await runEmofeatInProcess([...args(json), "--json"])).code).toBe(0);
    for (const [name, content] of [
      ["ids.json", '[{"utter_id": "u1"}, {"utter_id": "u2"}]\n'],
      ["labels.json", '[{"utter_id": "u1", "notes": "x", "label": "sad"}]\n'],
      ["mine.csv", "utter_id,label,notes\nu1,sad,x\n"],
    ]) {
      const file = path.join(dir, name);
      await writeFile(file, content);
      const r = await runEmofeatInProcess([...args(file), ...(name.endsWith(".json") ? ["--json"] : [])]);
      expect(r.code, name).toBe(2);
      expect(await readFile(file, "utf8")).toBe(content);
    }
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
