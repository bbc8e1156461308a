import { createHash } from "node:crypto";
/**
 * The weight-free baselines as feature stores: `extract audio --model builtin:fbank|mfcc` on real files from
 * ../shared/data (pooled rows against torchaudio's mean over frames, fixtures/reference/baselines/shared.json),
 * failures for clips too short for a frame, silence, validate, a probe trained on the store, and predict
 * rebuilding the feature from the store's meta.json.
 */
import { readFileSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import ort from "onnxruntime-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { extractAudio } from "../src/extract/audio.js";
import { loadIndex } from "../src/manifest/index-csv.js";
import { predict, Predictor } from "../src/predict/predict.js";
import { readFailures, readStore } from "../src/store/read.js";
import { validateStores } from "../src/store/validate.js";
import { trainProbe } from "../src/train/probe.js";
import { synthWav } from "./helpers/audio-synth.js";
import { runEmofeatInProcess } from "./helpers/cli.js";
import { writeIndex } from "./helpers/csv.js";
import { DEMO_INDEX, FIXTURES, removeDir, tempDir } from "./helpers/paths.js";
import { sharedData } from "./helpers/shared.js";
import { put } from "./helpers/wav.js";

const TOL = 1e-4;
const shared = JSON.parse(readFileSync(path.join(FIXTURES, "reference", "baselines", "shared.json"), "utf8")) as {
  files: { path: string; fbank: { mean: number[] }; mfcc: { mean: number[] } }[];
};

describe("builtin feature stores on real files", () => {
  let dir: string;
  let csv: string;
  beforeAll(async () => {
    dir = await tempDir("emofeat-baselines-");
    const data = sharedData("");
    // 300 samples at 16 kHz: too short for a 25 ms Kaldi frame, enough for torchaudio's MFCC (> 200).
    await put(dir, "short.wav", synthWav({ sampleRate: 16000, channels: 1, frames: 300, seed: 5, kind: "noise-saw" }));
    await put(dir, "silence.wav", synthWav({ sampleRate: 22050, channels: 1, frames: 22050, seed: 0, kind: "zero" }));
    csv = await writeIndex(dir, [
      ...shared.files.map((f, i) => ({ utter_id: `real${i}`, audio_path: path.join(data, f.path) })),
      { utter_id: "short", audio_path: "short.wav" },
      { utter_id: "silence", audio_path: "silence.wav" },
    ]);
  });
  afterAll(() => removeDir(dir));

  for (const [name, d] of [["fbank", 80], ["mfcc", 40]] as const) {
    it(`builtin:${name}: rows = torchaudio's mean over frames within ${TOL}; meta records the feature, not a file; validate passes`, async () => {
      const out = path.join(dir, name);
      const failed: string[] = [];
      const summary = await extractAudio({ csv, model: `builtin:${name}`, out, onRowFailure: (m) => failed.push(m) });
      const store = await readStore(out);
      expect(store.d).toBe(d);
      const meta = summary.meta;
      expect(meta.model).toMatchObject({ id: `builtin:${name}`, source: "builtin", hidden_size: d });
      expect(meta.model.sha256).toBeUndefined();
      expect(meta.model.file).toBeUndefined();
      expect(meta.model).toMatchObject({
        params: name === "fbank" ? { num_mel_bins: 80, window_type: "povey", dither: 0 } : { n_mfcc: 40, n_mels: 64, top_db: 80 },
      });
      expect([meta.sr, meta.max_seconds, meta.pooling]).toEqual([16000, 10, "mean"]);

      shared.files.forEach((f, i) => {
        const row = store.ids.indexOf(`real${i}`);
        const want = f[name].mean;
        const scale = Math.max(...want.map(Math.abs));
        const err = Math.max(...want.map((w, k) => Math.abs(store.embeddings[row * d + k] - w))) / scale;
        expect(err, f.path).toBeLessThan(TOL);
      });
      const silent = store.embeddings.subarray(store.ids.indexOf("silence") * d, (store.ids.indexOf("silence") + 1) * d);
      if (name === "fbank") expect([...silent].every((v) => v === Math.fround(Math.log(1.1920928955078125e-7)))).toBe(true);
      else expect(silent[0]).toBeCloseTo(-800, 3); // -100 dB in all 64 bands: c0 = -100 * 64 / sqrt(64)

      const failures = await readFailures(out);
      if (name === "fbank") {
        expect(store.ids).not.toContain("short");
        expect(failures).toEqual([{ utterId: "short", row: shared.files.length + 1, reason: expect.stringContaining("too short for builtin:fbank (300 samples") }]);
        expect(failed[0]).toMatch(new RegExp(`row ${shared.files.length + 1} \\(short\\): short\\.wav: .*too short`));
      } else {
        expect(store.ids).toContain("short");
        expect(failures).toEqual([]);
      }
      const report = await validateStores([out], csv);
      expect(report.ok).toBe(true);
    });
  }

  it("CLI: extract audio --model builtin:mfcc writes a valid store; encoder-only flags are refused", async () => {
    const out = path.join(dir, "cli-mfcc");
    const ok = await runEmofeatInProcess(["extract", "audio", "--csv", csv, "--model", "builtin:mfcc", "--out", out, "-q"]);
    expect(ok.code, ok.stderr).toBe(0);
    expect((await readStore(out)).d).toBe(40);
    await expect(extractAudio({ csv, model: "builtin:fbank", batching: "reference", dtype: "q8", out: path.join(dir, "x") })).rejects.toThrow(
      "builtin:fbank is a weight-free feature; these settings do not apply: --dtype q8 (there is no model file), --batching reference (clips are never padded)",
    );
    await expect(extractAudio({ csv, model: "builtin:fbank", targetSampleRate: 8000, out: path.join(dir, "x") })).rejects.toThrow(
      "builtin:fbank is defined on 16000 Hz audio; --target-sr 8000 cannot be used with it",
    );
    // Settings that do not fit the feature are usage errors: exit 1 on the command line.
    const bad = await runEmofeatInProcess(["extract", "audio", "--csv", csv, "--model", "builtin:fbank", "--layers", "all", "--out", path.join(dir, "x"), "-q"]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/these settings do not apply: --layers all \(there are no encoder layers\)/);
  });
});

describe("a probe on a builtin:fbank store, and predict", () => {
  let dir: string;
  let store: string;
  let run: string;
  beforeAll(async () => {
    dir = await tempDir("emofeat-baselines-run-");
    store = path.join(dir, "fbank");
    await extractAudio({ csv: DEMO_INDEX, model: "builtin:fbank", out: store });
    run = path.join(dir, "run");
    await trainProbe({ csv: DEMO_INDEX, features: `audio=${store}`, head: "linear", out: run, settings: { epochs: 5 } });
  });
  afterAll(() => removeDir(dir));

  it("predict recomputes the feature: the head's probabilities on the stored rows", async () => {
    const config = JSON.parse(await readFile(path.join(run, "config.json"), "utf8"));
    expect(config.features[0]).toMatchObject({ model_id: "builtin:fbank", d: 80 });
    expect(config.features[0].model_sha256).toBeUndefined();

    const index = await loadIndex(DEMO_INDEX);
    const preds = await predict(run, index.utterances.map((u) => ({ id: u.utterId, audio: u.audioFile })));
    const s = await readStore(store);
    const session = await ort.InferenceSession.create(path.join(run, "head.onnx"));
    const out = await session.run({ audio: new ort.Tensor("float32", s.embeddings, [s.n, s.d]) });
    await session.release();
    const probs = out.probs.data as Float32Array;
    const labels = JSON.parse(await readFile(path.join(run, "labels.json"), "utf8")).labels as string[];
    let maxDiff = 0;
    for (const p of preds) {
      expect(p.error).toBeUndefined();
      const row = s.ids.indexOf(p.id!);
      labels.forEach((l, j) => (maxDiff = Math.max(maxDiff, Math.abs(p.probabilities![l] - probs[row * labels.length + j]))));
    }
    expect(maxDiff).toBeLessThan(1e-5);
  });

  it("refuses a model override, and a store whose recorded parameters differ from this version's", async () => {
    await expect(Predictor.load(run, { models: { audio: "./models/x" } })).rejects.toThrow(
      'store "audio" holds the weight-free feature builtin:fbank; it has no model files to replace',
    );
    const metaFile = path.join(run, "stores", "audio.meta.json");
    const meta = JSON.parse(await readFile(metaFile, "utf8"));
    meta.model.params.preemphasis_coefficient = 0.95;
    await writeFile(metaFile, JSON.stringify(meta));
    // As a store from another version would be: its run's record of the file agrees (else predict refuses the edit itself).
    const configFile = path.join(run, "config.json");
    const config = JSON.parse(await readFile(configFile, "utf8"));
    config.files["stores/audio.meta.json"] = createHash("sha256").update(JSON.stringify(meta)).digest("hex");
    await writeFile(configFile, JSON.stringify(config));
    await expect(Predictor.load(run)).rejects.toThrow(/was made with builtin:fbank parameters .*"preemphasis_coefficient":0.95.*predictions would not match/);
  });
});
