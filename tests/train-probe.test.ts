import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { parse } from "csv-parse/sync";
import ort from "onnxruntime-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readStore } from "../src/store/read.js";
import { computeMetrics, argmaxRows } from "../src/train/metrics.js";
import { trainProbe } from "../src/train/probe.js";
import type { RunConfig, RunMetrics } from "../src/train/run-dir.js";
import { formatSummary, summarizeRuns } from "../src/train/summarize.js";
import { EMOTIONS, writeProbeFixture, type ProbeFixture } from "./helpers/probe-data.js";
import { removeDir, ROOT, tempDir } from "./helpers/paths.js";
import { loadSynth, type Synth } from "./helpers/synth.js";
import { runEmofeatInProcess } from "./helpers/cli.js";

const readJson = <T>(f: string) => JSON.parse(readFileSync(f, "utf8")) as T;

describe("trainProbe and the run directory", () => {
  let dir: string;
  let s: Synth;
  let fx: ProbeFixture;
  const dropped = [3, 10, 700];
  beforeAll(async () => {
    dir = await tempDir("emofeat-probe-");
    s = await loadSynth();
    fx = await writeProbeFixture(dir, s, { dropFromAudio: dropped });
  });
  afterAll(() => removeDir(dir));

  it("writes every run file, and head.onnx reproduces the reported test metrics", async () => {
    const out = path.join(dir, "runs", "text-mlp");
    const res = await trainProbe({ csv: fx.csv, features: `text=${fx.text}`, head: "mlp", out, settings: { epochs: 8 } });
    for (const f of ["config.json", "metrics.json", "epochs.csv", "head.onnx", "labels.json", "confusion.svg", "curves.svg", "stores/text.meta.json"])
      expect(existsSync(path.join(out, f)), f).toBe(true);
    const m = readJson<RunMetrics>(path.join(out, "metrics.json"));
    expect(m.labels).toEqual(EMOTIONS);
    for (const split of ["train", "val", "test"] as const)
      for (const k of ["accuracy", "unweighted_accuracy", "macro_f1", "weighted_f1", "confusion"]) expect(m[split]).toHaveProperty(k);
    expect(m.test.n).toBe(350);
    expect(res.summary).toMatch(/test acc \d+\.\d\d UA \d+\.\d\d macro-F1 \d+\.\d\d/);

    // The exported head, run by plain onnxruntime on the store's test rows, gives the metrics in metrics.json.
    const store = await readStore(fx.text);
    const testRows = s.split.map((v, i) => (v === "test" ? i : -1)).filter((i) => i >= 0);
    const x = new Float32Array(testRows.length * 20);
    testRows.forEach((r, i) => x.set(store.embeddings.subarray(r * 20, r * 20 + 20), i * 20));
    const session = await ort.InferenceSession.create(path.join(out, "head.onnx"));
    expect(session.inputNames).toEqual(["text"]);
    const r = await session.run({ text: new ort.Tensor("float32", x, [testRows.length, 20]) });
    const probs = r.probs.data as Float32Array;
    for (let i = 0; i < 4; i++) expect(probs[i * 4] + probs[i * 4 + 1] + probs[i * 4 + 2] + probs[i * 4 + 3]).toBeCloseTo(1, 5);
    const pred = argmaxRows(r.logits.data as Float32Array, testRows.length, 4);
    const again = computeMetrics(testRows.map((i) => s.y[i]), pred, EMOTIONS);
    expect(again.accuracy).toBeCloseTo(m.test.accuracy, 10);
    expect(again.confusion).toEqual(m.test.confusion);
    await session.release();

    const labels = readJson<{ labels: string[]; inputs: { name: string }[] }>(path.join(out, "labels.json"));
    expect(labels.labels).toEqual(EMOTIONS);
    expect(labels.inputs.map((i) => i.name)).toEqual(["text"]);

    const epochs = parse(readFileSync(path.join(out, "epochs.csv")), { columns: true }) as Record<string, string>[];
    expect(epochs.length).toBe(8);
    expect(epochs.filter((e) => e.tested === "1").length).toBe(1);
    expect(Number(epochs[0].train_loss)).toBeGreaterThan(Number(epochs[7].train_loss));

    const cfg = readJson<RunConfig>(path.join(out, "config.json"));
    expect(cfg.features[0].fingerprint).toBe("test-text");
    expect(cfg.settings.epochs).toBe(8);
    expect(cfg.settings.hidden).toBe(256);
    expect(cfg.index.sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it("joins stores by utter_id and reports the rows one store lacks", async () => {
    const out = path.join(dir, "runs", "concat");
    const log: string[] = [];
    await trainProbe({
      csv: fx.csv,
      features: `audio=${fx.audio},text=${fx.text}`,
      head: "concat-linear",
      out,
      log: (l) => log.push(l),
    });
    const cfg = readJson<RunConfig>(path.join(out, "config.json"));
    expect(cfg.join.usedRows).toBe(1000 - dropped.length);
    expect(cfg.join.missing).toEqual([
      {
        store: "audio",
        count: 3,
        examples: [
          "utt_0003 (row 4; extraction failed: could not decode the audio)",
          "utt_0010 (row 11; extraction failed: could not decode the audio)",
          "utt_0700 (row 701)",
        ],
      },
    ]);
    expect(log.join("\n")).toContain('left out 3 row(s) missing from feature store "audio" (e.g. utt_0003 (row 4; extraction failed');
    expect(cfg.arch.inputs).toEqual([{ name: "audio", dim: 20 }, { name: "text", dim: 20 }]);
    expect(cfg.settings).toMatchObject({ epochs: 10, batchSize: 64, select: "last" });
    const m = readJson<RunMetrics>(path.join(out, "metrics.json"));
    expect(m.seeds[0].selected_epoch).toBe(10);
    const session = await ort.InferenceSession.create(path.join(out, "head.onnx"));
    expect(session.inputNames).toEqual(["audio", "text"]);
    await session.release();
  });

  it("merges and picks classes with --classes, and counts the rows left out", async () => {
    const out = path.join(dir, "runs", "classes");
    const res = await trainProbe({ csv: fx.csv, features: `text=${fx.text}`, head: "linear", out, classes: "calm=neutral+sad,angry", settings: { epochs: 3 } });
    expect(res.metrics.labels).toEqual(["calm", "angry"]); // the user's order, not sorted (it is the confusion matrix's)
    expect(res.metrics.test.per_class.map((c) => c.label)).toEqual(["calm", "angry"]);
    expect(res.config.classes.map).toEqual({ neutral: "calm", sad: "calm", angry: "angry" });
    const happy = s.y.filter((y) => y === 1).length;
    expect(res.config.join.excludedLabels).toEqual({ happy });
    expect(res.config.join.usedRows).toBe(1000 - happy);
    await expect(trainProbe({ csv: fx.csv, features: `text=${fx.text}`, head: "linear", out: path.join(dir, "x"), classes: "angry,hapy" })).rejects.toThrow(
      /"hapy" do not occur/,
    );
  });

  it("runs leave-one-session-out folds with several seeds", async () => {
    const out = path.join(dir, "runs", "loso");
    const res = await trainProbe({
      csv: fx.csv,
      features: `text=${fx.text}`,
      head: "linear",
      out,
      protocol: { kind: "session-folds", val: "stratified" },
      seeds: 2,
      settings: { epochs: 3 },
    });
    const m = res.metrics;
    expect(m.seeds.map((x) => x.seed)).toEqual([0, 1]);
    expect(m.seeds[0].folds!.map((f) => f.fold)).toEqual(["Session1", "Session2", "Session3", "Session4"]);
    // Every utterance is tested once per seed: the pooled confusion counts all rows.
    const total = (cm: number[][]) => cm.flat().reduce((a, b) => a + b, 0);
    expect(total(m.seeds[0].test.confusion)).toBe(1000);
    const accs = m.seeds.map((x) => x.test.accuracy);
    expect(m.test.accuracy).toBeCloseTo((accs[0] + accs[1]) / 2, 12);
    expect(m.test_std.accuracy).toBeCloseTo(Math.abs(accs[0] - accs[1]) / Math.SQRT2, 12);
    const folds = res.config.protocol.folds;
    expect(folds.map((f) => f.test)).toEqual([250, 250, 250, 250]);
    for (const f of folds) expect(f.train + f.val + f.test).toBe(1000);
    expect(existsSync(path.join(out, "head.onnx"))).toBe(false);
    expect(res.config.export.file).toBeNull();

    const sv = await trainProbe({
      csv: fx.csv,
      features: `text=${fx.text}`,
      head: "linear",
      out: path.join(dir, "runs", "loso-session-val"),
      protocol: { kind: "session-folds", val: "session" },
      settings: { epochs: 2 },
    });
    expect(sv.config.protocol.folds[0]).toMatchObject({ name: "Session1", val_source: "session Session2", test: 250, val: 250, train: 500 });
  });

  it("holds out a stratified 10% of train for validation when the index has no val rows", async () => {
    const d2 = path.join(dir, "noval");
    const f2 = await writeProbeFixture(d2, s, { noVal: true });
    const res = await trainProbe({ csv: f2.csv, features: `text=${f2.text}`, head: "linear", out: path.join(d2, "run"), settings: { epochs: 2 } });
    const f = res.config.protocol.folds[0];
    expect(f.val_source).toMatch(/stratified 10% of train/);
    expect(f.train + f.val).toBe(650);
    expect(f.val).toBeGreaterThanOrEqual(63);
    expect(f.val).toBeLessThanOrEqual(67);
  });

  it("summarizes runs as the results table", async () => {
    const { rows, skipped } = await summarizeRuns([path.join(dir, "runs", "text-mlp"), path.join(dir, "runs", "loso"), path.join(dir, "features")]);
    expect(rows.map((r) => r.model)).toEqual(["mlp", "linear"]);
    expect(skipped.map((x) => path.basename(x.dir))).toEqual(["features"]);
    const text = formatSummary(rows, "text");
    const lines = text.trim().split("\n");
    expect(lines[0]).toMatch(/^run\s+model\s+input\s+protocol\s+seeds\s+acc\s+UA\s+F1$/);
    const m = readJson<RunMetrics>(path.join(dir, "runs", "text-mlp", "metrics.json"));
    expect(lines[2]).toContain((100 * m.test.accuracy).toFixed(2));
    expect(lines[3]).toMatch(/± \d+\.\d\d/);
    expect(formatSummary(rows, "markdown")).toContain("| text-mlp | mlp | text (text-model) |");
  });

  it("refuses to overwrite a run without --overwrite, and a non-run folder at all", async () => {
    const out = path.join(dir, "runs", "text-mlp");
    await expect(trainProbe({ csv: fx.csv, features: `text=${fx.text}`, head: "linear", out })).rejects.toThrow(/already holds a run; pass --overwrite/);
    await expect(trainProbe({ csv: fx.csv, features: `text=${fx.text}`, head: "linear", out: path.join(dir, "features"), overwrite: true })).rejects.toThrow(
      /is not empty and is not an emofeat run/,
    );
  });

  it("CLI: one summary line on stdout; clear errors for bad head/store combinations", async () => {
    const run = (args: string[]) => runEmofeatInProcess(args);
    const out = path.join(dir, "runs", "cli");
    const ok = await run(["train", "--csv", fx.csv, "--features", `text=${fx.text}`, "--head", "linear", "--epochs", "2", "--out", out, "-q"]);
    expect(ok.code).toBe(0);
    expect(ok.stdout.trim().split("\n")).toHaveLength(1);
    expect(ok.stdout).toMatch(/^cli: linear on text, 4 classes, split: test acc/);
    const bad = await run(["train", "--csv", fx.csv, "--features", `audio=${fx.audio},text=${fx.text}`, "--head", "mlp", "--out", path.join(dir, "bad")]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("--head mlp takes one feature store, got 2 (audio, text); use --head concat-mlp");
    const sum = await run(["runs", "summarize", out, path.join(dir, "runs", "concat")]);
    expect(sum.code).toBe(0);
    expect(sum.stdout).toContain("concat-linear");
    expect(sum.stdout).toContain("audio (audio-model) + text (text-model)");
  });
});
