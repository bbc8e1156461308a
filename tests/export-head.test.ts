/** --export-head: cross-validation runs can predict (refit, best-fold), and config.json says which head it is. */
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { parse } from "csv-parse/sync";
import ort from "onnxruntime-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readStore } from "../src/store/read.js";
import { argmaxRows, computeMetrics } from "../src/train/metrics.js";
import { trainProbe } from "../src/train/probe.js";
import { EMOTIONS, writeProbeFixture, type ProbeFixture } from "./helpers/probe-data.js";
import { removeDir, tempDir } from "./helpers/paths.js";
import { loadSynth, type Synth } from "./helpers/synth.js";

async function headPredictions(run: string, x: Float32Array, n: number, d: number): Promise<Int32Array> {
  const session = await ort.InferenceSession.create(path.join(run, "head.onnx"));
  try {
    const r = await session.run({ text: new ort.Tensor("float32", x, [n, d]) });
    return argmaxRows(r.logits.data as Float32Array, n, EMOTIONS.length);
  } finally {
    await session.release();
  }
}

describe("--export-head", () => {
  let dir: string;
  let s: Synth;
  let fx: ProbeFixture;
  const loso = { kind: "session-folds", val: "stratified" } as const;
  beforeAll(async () => {
    dir = await tempDir("emofeat-export-");
    s = await loadSynth();
    fx = await writeProbeFixture(dir, s);
  });
  afterAll(() => removeDir(dir));

  it("best-fold exports the first seed's fold with the best validation macro-F1, and that head reproduces its fold's test metrics", async () => {
    const out = path.join(dir, "best");
    const res = await trainProbe({ csv: fx.csv, features: `text=${fx.text}`, head: "linear", out, protocol: loso, seeds: 2, exportHead: "best-fold", settings: { epochs: 3 } });
    const folds = res.metrics.seeds[0].folds!;
    const best = folds.reduce((a, b) => (b.val.macro_f1 > a.val.macro_f1 ? b : a));
    expect(res.config.export).toMatchObject({ file: "head.onnx", method: "best-fold", seed: 0, fold: best.fold, val_macro_f1: best.val.macro_f1, selected_epoch: best.selected_epoch });
    const store = await readStore(fx.text);
    const rows = fx.ids.map((_, i) => i).filter((i) => `Session${(i % 4) + 1}` === best.fold);
    const x = new Float32Array(rows.length * 20);
    rows.forEach((r, k) => x.set(store.embeddings.subarray(r * 20, r * 20 + 20), k * 20));
    const again = computeMetrics(rows.map((i) => s.y[i]), await headPredictions(out, x, rows.length, 20), EMOTIONS);
    expect(again.accuracy).toBeCloseTo(best.test.accuracy, 10);
    expect(again.confusion).toEqual(best.test.confusion);
  });

  it("refit trains once more on every row (cross-validation) for the median tested epoch count", async () => {
    const out = path.join(dir, "refit");
    const res = await trainProbe({ csv: fx.csv, features: `text=${fx.text}`, head: "mlp", out, protocol: loso, exportHead: "refit", settings: { epochs: 4 } });
    expect(existsSync(path.join(out, "head.onnx"))).toBe(true);
    const epochs = parse(readFileSync(path.join(out, "epochs.csv")), { columns: true }) as Record<string, string>[];
    const tested = epochs.filter((e) => e.tested === "1").map((e) => Number(e.epoch)).sort((a, b) => a - b);
    expect(tested).toHaveLength(4);
    expect(res.config.export).toMatchObject({ file: "head.onnx", method: "refit", seed: 0, rows: 1000, selected_epoch: tested[1] });
    const labels = JSON.parse(readFileSync(path.join(out, "labels.json"), "utf8"));
    expect(labels.selected_epoch).toBe(tested[1]);
    // Trained on all rows: it fits them better than chance by a wide margin.
    const store = await readStore(fx.text);
    const acc = computeMetrics(s.y, await headPredictions(out, store.embeddings, store.n, 20), EMOTIONS).accuracy;
    expect(acc).toBeGreaterThan(0.5);

    const split = await trainProbe({ csv: fx.csv, features: `text=${fx.text}`, head: "linear", out: path.join(dir, "refit-split"), exportHead: "refit", settings: { epochs: 2 } });
    const nonTest = s.split.filter((v) => v !== "test").length;
    expect(split.config.export).toMatchObject({ method: "refit", rows: nonTest, selected_epoch: 2 });
  });

  it("cross-validation without --export-head still exports nothing, and says how to get a head; best-fold needs folds", async () => {
    const res = await trainProbe({ csv: fx.csv, features: `text=${fx.text}`, head: "linear", out: path.join(dir, "none"), protocol: loso, settings: { epochs: 1 } });
    expect(res.config.export).toEqual({ file: null, reason: expect.stringMatching(/--export-head refit or best-fold/) });
    await expect(trainProbe({ csv: fx.csv, features: `text=${fx.text}`, head: "linear", out: path.join(dir, "x"), exportHead: "best-fold" })).rejects.toThrow(
      /best-fold needs cross-validation/,
    );
  });
});
