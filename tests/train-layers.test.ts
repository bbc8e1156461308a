/**
 * Training on layer stores ([N, L, D] embeddings.npy with meta.layers): --layers, --head weighted-layers,
 * --per-layer, their run outputs, the errors for stores that do not fit, and predict's layer selection.
 */
import { existsSync, readFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import ort from "onnxruntime-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EmofeatError } from "../src/errors.js";
import { registerEncoderFactory, type Encoder } from "../src/predict/encoders.js";
import { predict } from "../src/predict/predict.js";
import { readStore } from "../src/store/read.js";
import { loadProbeData } from "../src/train/data.js";
import { parseLayerChoice } from "../src/train/layer-select.js";
import { argmaxRows, computeMetrics } from "../src/train/metrics.js";
import { trainPerLayer } from "../src/train/per-layer.js";
import { trainProbe } from "../src/train/probe.js";
import type { HeadLabels, PerLayerEntry, RunConfig, RunMetrics } from "../src/train/run-dir.js";
import { summarizeRuns } from "../src/train/summarize.js";
import { runEmofeatInProcess } from "./helpers/cli.js";
import { loadLayerSynth, writeLayerFixture, type LayerFixture, type LayerSynth } from "./helpers/layer-data.js";
import { removeDir, tempDir } from "./helpers/paths.js";
import { EMOTIONS, writeStore } from "./helpers/probe-data.js";

const readJson = <T>(f: string) => JSON.parse(readFileSync(f, "utf8")) as T;

describe("probes over encoder layers", () => {
  let dir: string;
  let s: LayerSynth;
  let fx: LayerFixture;
  let superb: string;
  let perLayer: string;
  beforeAll(async () => {
    dir = await tempDir("emofeat-layers-");
    s = await loadLayerSynth();
    fx = await writeLayerFixture(dir, s);
  });
  afterAll(() => removeDir(dir));

  /** The fixture's `rows` at layer positions `positions`, row-major [rows.length, positions.length, D]. */
  function layerSlice(rows: number[], positions: number[]): Float32Array {
    const out = new Float32Array(rows.length * positions.length * s.d);
    rows.forEach((r, i) =>
      positions.forEach((p, j) => out.set(s.x.subarray((r * s.numLayers + p) * s.d, (r * s.numLayers + p + 1) * s.d), (i * positions.length + j) * s.d)),
    );
    return out;
  }
  const allRows = () => Array.from({ length: s.n }, (_, i) => i);

  it("reads [N, L, D] stores and picks layers by hidden-state index with --layers", async () => {
    const all = await loadProbeData({ csv: fx.csv, features: `audio=${fx.layered}` });
    expect(all.inputs).toEqual([{ name: "audio", dim: 5 * s.d, layers: [0, 3, 6, 9, 12] }]);
    expect(Array.from(all.x[0].subarray(0, 5 * s.d))).toEqual(Array.from(s.x.subarray(0, 5 * s.d)));

    const two = await loadProbeData({ csv: fx.csv, features: `audio=${fx.layered}`, layers: "12,6" });
    expect(two.inputs[0]).toEqual({ name: "audio", dim: 2 * s.d, layers: [12, 6] });
    expect(two.stores[0].layers).toEqual([12, 6]);
    const rows = [0, 1, 239];
    for (const r of rows) {
      expect(Array.from(two.x[0].subarray(r * 2 * s.d, r * 2 * s.d + s.d))).toEqual(Array.from(layerSlice([r], [4])));
      expect(Array.from(two.x[0].subarray(r * 2 * s.d + s.d, (r + 1) * 2 * s.d))).toEqual(Array.from(layerSlice([r], [2])));
    }
    expect((await loadProbeData({ csv: fx.csv, features: `audio=${fx.layered}`, layers: "last" })).inputs[0].layers).toEqual([12]);
    expect((await loadProbeData({ csv: fx.csv, features: `audio=${fx.layered}`, layers: "3-9" })).inputs[0].layers).toEqual([3, 6, 9]);

    await expect(loadProbeData({ csv: fx.csv, features: `audio=${fx.layered}`, layers: "4-5" })).rejects.toThrow(/holds no layer within 4-5/);
    expect(() => parseLayerChoice("9-3")).toThrow(/runs backwards/);
    expect(() => parseLayerChoice("4,x")).toThrow(/"x" is not a layer index/);
    expect(() => parseLayerChoice("4,2-4")).toThrow(/layer 4 is listed twice/);
  });

  it("clear errors for stores that do not fit the head or the options", async () => {
    const train = (features: string, head: "mlp" | "weighted-layers" | "concat-linear", extra: object = {}) =>
      trainProbe({ csv: fx.csv, features, head, out: path.join(dir, "runs", "never"), settings: { epochs: 1 }, ...extra });
    await expect(train(`audio=${fx.flat}`, "weighted-layers")).rejects.toThrow(/"audio" holds one vector per utterance \(no layer axis\).*--layers all/);
    await expect(train(`audio=${fx.layered}`, "mlp")).rejects.toThrow(/"audio" holds 5 encoder layers \(hidden states 0,3,6,9,12\).*--layers K.*--per-layer.*weighted-layers/);
    await expect(train(`audio=${fx.layered}`, "mlp", { layers: "7" })).rejects.toThrow(/does not hold layer 7 \(it holds hidden states 0,3,6,9,12/);
    await expect(train(`audio=${fx.flat}`, "mlp", { layers: "6" })).rejects.toThrow(/no feature store given has a layer axis/);
    await expect(train(`a=${fx.layered},b=${fx.flat}`, "weighted-layers")).rejects.toThrow(/takes one feature store \(a layer store\), got 2/);
    await expect(train(`audio=${fx.layered}`, "mlp", { settings: { layerNorm: true } })).rejects.toThrow(/belong to --head weighted-layers/);
    expect(existsSync(path.join(dir, "runs", "never"))).toBe(false);

    // A second layer store with other layers: training on both needs a common choice; --per-layer says which differ.
    const other = await writeStore(path.join(dir, "features", "other"), fx.ids, layerSlice(allRows(), [0, 2, 4]), s.d, "audio", "", [], [0, 6, 12]);
    await expect(train(`a=${fx.layered},b=${other}`, "concat-linear")).rejects.toThrow(/"a" and "b" hold different layers \(0,3,6,9,12 vs 0,6,12\)/);
    await expect(
      trainPerLayer({ csv: fx.csv, features: `a=${fx.layered},b=${other}`, head: "concat-linear", out: path.join(dir, "runs", "never") }),
    ).rejects.toThrow(/--per-layer: feature stores "a" and "b" hold different layers/);
    await expect(trainPerLayer({ csv: fx.csv, features: `audio=${fx.flat}`, head: "mlp", out: path.join(dir, "runs", "never") })).rejects.toThrow(
      /--per-layer needs a layer store/,
    );

    // meta.json says layers but the array is 2-D: the reader refuses, naming the shapes.
    const broken = await writeStore(path.join(dir, "features", "broken"), fx.ids, layerSlice(allRows(), [2]), s.d, "audio");
    const meta = readJson<Record<string, unknown>>(path.join(broken, "meta.json"));
    await writeFile(path.join(broken, "meta.json"), JSON.stringify({ ...meta, layers: [0, 6] }));
    await expect(readStore(broken)).rejects.toThrow(/shape \(240, 12\), meta.json describes \[N, 2, 12\]/);
  });

  it("--layers K on a layer store trains exactly as the [N, D] store of that layer", async () => {
    const a = await trainProbe({ csv: fx.csv, features: `audio=${fx.layered}`, layers: "6", head: "mlp", out: path.join(dir, "runs", "mlp-l6"), seeds: 2, settings: { epochs: 4 } });
    const b = await trainProbe({ csv: fx.csv, features: `audio=${fx.flat}`, head: "mlp", out: path.join(dir, "runs", "mlp-flat"), seeds: 2, settings: { epochs: 4 } });
    expect(a.metrics.seeds.map((x) => x.test)).toEqual(b.metrics.seeds.map((x) => x.test));
    expect(a.config.features[0].layers).toEqual([6]);
    expect(b.config.features[0].layers).toBeUndefined();
    expect(readJson<HeadLabels>(path.join(a.runDir, "labels.json")).inputs[0]).toMatchObject({ name: "audio", dim: s.d, layers: [6] });
  });

  it("--head weighted-layers: learns to weight the informative layer; layer_weights in metrics.json and a plot; head.onnx reproduces the metrics", async () => {
    superb = path.join(dir, "runs", "superb");
    const res = await trainProbe({
      csv: fx.csv,
      features: `audio=${fx.layered}`,
      head: "weighted-layers",
      out: superb,
      seeds: 2,
      // s3prl's optimiser settings move the weights too little in the few steps 120 rows give; a larger lr shows them.
      settings: { lr: 1e-2, epochs: 30 },
    });
    const m = readJson<RunMetrics>(path.join(superb, "metrics.json"));
    const lw = m.layer_weights!;
    expect(lw.layers).toEqual([0, 3, 6, 9, 12]);
    expect(lw.mean.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);
    expect(lw.std).toHaveLength(5);
    expect(lw.std.some((v) => v > 0)).toBe(true);
    // The synthetic store's class signal is strongest in hidden state 6 and weakest (per unit of noise) in 3.
    const best = lw.mean.indexOf(Math.max(...lw.mean));
    console.log(`layer weights ${lw.mean.map((v) => v.toFixed(3)).join(", ")}; test acc ${res.metrics.test.accuracy.toFixed(3)}`);
    expect(lw.layers[best]).toBe(6);
    expect(lw.mean[2]).toBeGreaterThan(0.3);
    expect(lw.mean[1]).toBeLessThan(0.2);
    for (const f of ["layer_weights.svg", "layer_weights.png", "head.onnx", "confusion.png"]) expect(existsSync(path.join(superb, f)), f).toBe(true);
    const svg = readFileSync(path.join(superb, "layer_weights.svg"), "utf8");
    for (const l of ["0", "3", "6", "9", "12"]) expect(svg).toContain(`>${l}</text>`);
    expect(res.config.settings).toMatchObject({ base: "linear", layerNorm: false, hidden: 256, batchSize: 32, weightDecay: 0 });

    // head.onnx takes the store's rows flattened ([N, L*D]) and gives the metrics of the exported seed.
    const session = await ort.InferenceSession.create(path.join(superb, "head.onnx"));
    const test = s.split.map((v, i) => (v === "test" ? i : -1)).filter((i) => i >= 0);
    const w = s.numLayers * s.d;
    const x = new Float32Array(test.length * w);
    test.forEach((r, i) => x.set(s.x.subarray(r * w, (r + 1) * w), i * w));
    const out = await session.run({ audio: new ort.Tensor("float32", x, [test.length, w]) });
    await session.release();
    const again = computeMetrics(test.map((i) => s.y[i]), argmaxRows(out.logits.data as Float32Array, test.length, 4), EMOTIONS);
    expect(again.accuracy).toBeCloseTo(m.seeds[0].test.accuracy, 10);
    expect(readJson<HeadLabels>(path.join(superb, "labels.json")).inputs[0]).toMatchObject({ dim: w, layers: [0, 3, 6, 9, 12] });
  });

  it("--per-layer: one run per layer, per_layer scores (mean +- std over seeds), the best layer chosen on validation, a plot", async () => {
    perLayer = path.join(dir, "runs", "per-layer");
    const logs: string[] = [];
    const res = await trainPerLayer({
      csv: fx.csv,
      features: `audio=${fx.layered}`,
      head: "weighted-layers",
      out: perLayer,
      seeds: 2,
      settings: { lr: 1e-2, epochs: 8 },
      log: (l) => logs.push(l),
    });
    const m = readJson<Omit<RunMetrics, "per_layer"> & { per_layer: Required<PerLayerEntry>[] }>(path.join(perLayer, "metrics.json"));
    expect(m.per_layer.map((e) => e.layer)).toEqual([0, 3, 6, 9, 12]);
    for (const e of m.per_layer) {
      const sub = readJson<RunMetrics>(path.join(perLayer, e.run, "metrics.json"));
      expect(e.run).toBe(`layers/layer-${String(e.layer).padStart(2, "0")}`);
      // mean and sample std over the sub-run's seeds
      const acc = sub.seeds.map((x) => x.test.accuracy);
      expect(e.test.accuracy).toBeCloseTo((acc[0] + acc[1]) / 2, 12);
      expect(e.test_std.accuracy).toBeCloseTo(Math.abs(acc[0] - acc[1]) / Math.SQRT2, 12);
      expect(e.test.macro_f1).toBe(sub.test.macro_f1);
      expect(e.val.macro_f1).toBe(sub.val.macro_f1);
      expect(readJson<RunConfig>(path.join(perLayer, e.run, "config.json")).features[0].layers).toEqual([e.layer]);
      expect(sub.layer_weights).toBeUndefined(); // one layer: nothing to weight
    }
    const bestVal = Math.max(...m.per_layer.map((e) => e.val.macro_f1));
    expect(m.per_layer.find((e) => e.layer === m.best_layer!.layer)!.val.macro_f1).toBe(bestVal);
    expect(m.best_layer!.layer).toBe(6);
    expect(m.test).toEqual(readJson<RunMetrics>(path.join(perLayer, "layers/layer-06", "metrics.json")).test);
    expect(res.summary).toMatch(/per layer on audio \(layers 0,3,6,9,12\).*best validation layer 6/);
    expect(logs.filter((l) => /^layer \d+ \(\d\/5\):$/.test(l))).toHaveLength(5);
    for (const f of ["per_layer.svg", "per_layer.png", "config.json", "layers/layer-06/head.onnx"]) expect(existsSync(path.join(perLayer, f)), f).toBe(true);
    const cfg = readJson<RunConfig>(path.join(perLayer, "config.json"));
    expect(cfg.per_layer!.layers).toEqual([0, 3, 6, 9, 12]);
    expect(cfg.export.file).toBeNull();
    expect((await summarizeRuns([perLayer])).rows[0].model).toBe("weighted-layers, layer 6 of --per-layer");
    await expect(predict(perLayer, [{ audio: "x" }])).rejects.toThrow(/one probe per layer; predict with one of them, e.g. --run .*layer-06/);
  });

  it("--per-layer resumes after an interruption, reusing the finished layers, with the same results", async () => {
    const out = path.join(dir, "runs", "per-layer-resumed");
    const o = { csv: fx.csv, features: `audio=${fx.layered}`, head: "weighted-layers" as const, out, seeds: 2, settings: { lr: 1e-2, epochs: 8 } };
    const first: string[] = [];
    // Stop when layer 6 would start, as Ctrl-C would.
    const stop = (l: string) => {
      first.push(l);
      if (l.startsWith("layer 6 ")) throw new Error("interrupted");
    };
    await expect(trainPerLayer({ ...o, log: stop })).rejects.toThrow("interrupted");
    expect(first.at(-1)).toMatch(/^warning: 2 of 5 layers are trained and kept in .*per-layer-resumed\.per-layer-partial; the same command resumes/);
    expect(existsSync(out)).toBe(false);
    const second: string[] = [];
    await trainPerLayer({ ...o, log: (l) => second.push(l) });
    expect(second.filter((l) => l.includes("reused"))).toEqual([
      "layer 0 (1/5): trained by an earlier, interrupted run of this command; reused",
      "layer 3 (2/5): trained by an earlier, interrupted run of this command; reused",
    ]);
    expect(second.filter((l) => /^layer \d+ \(\d\/5\):$/.test(l))).toHaveLength(3);
    // Same results as the uninterrupted run of the previous test (same data, settings and seeds).
    expect(readJson<RunMetrics>(path.join(out, "metrics.json")).per_layer).toEqual(readJson<RunMetrics>(path.join(perLayer, "metrics.json")).per_layer);
    expect(existsSync(path.join(path.dirname(out), ".per-layer-resumed.per-layer-partial"))).toBe(false);
    // Other settings never reuse another run's layers.
    first.length = 0;
    await expect(trainPerLayer({ ...o, overwrite: true, settings: { lr: 1e-2, epochs: 2 }, log: stop })).rejects.toThrow("interrupted");
    expect(first.filter((l) => l.includes("reused"))).toEqual([]);
    expect(existsSync(path.join(out, "metrics.json"))).toBe(true); // the finished run is untouched until a new one completes
  });

  it("predict feeds the head the layers it was trained on (the encoder gives every layer of the store)", async () => {
    // A stand-in for the audio encoder of a layer store: the stored [L, D] rows of the utterance named by the "file".
    const store = await readStore(fx.layered);
    let layered = true;
    registerEncoderFactory("audio", async (meta) => {
      const rowSize = () => (layered ? store.layers!.length * store.d : store.d);
      const enc = {
        modality: "audio",
        dim: meta.d,
        layers: layered ? store.layers : null,
        pooling: "mean",
        get rowSize() {
          return rowSize();
        },
        encode: async (files: readonly string[]) => {
          const w = rowSize();
          const out = new Float32Array(files.length * w);
          files.forEach((f, i) => out.set(store.embeddings.subarray(store.ids.indexOf(f) * store.layers!.length * store.d).subarray(0, w), i * w));
          return { embeddings: out, errors: files.map(() => null) };
        },
        encodeSequences: async () => {
          throw new Error("not used: pooled store");
        },
        dispose: async () => {},
      };
      // Typed loosely: the Encoder interface grows with the sequence/layer stores (repr); these are its fields.
      return enc as unknown as Encoder;
    });
    const ids = fx.ids.slice(0, 12);
    const reference = async (run: string, positions: number[]) => {
      const session = await ort.InferenceSession.create(path.join(run, "head.onnx"));
      const x = layerSlice(ids.map((id) => fx.ids.indexOf(id)), positions);
      const out = await session.run({ audio: new ort.Tensor("float32", x, [ids.length, positions.length * s.d]) });
      await session.release();
      return out.probs.data as Float32Array;
    };
    for (const [run, positions] of [
      [superb, [0, 1, 2, 3, 4]],
      [path.join(perLayer, "layers/layer-09"), [3]],
    ] as const) {
      const preds = await predict(run, ids.map((id) => ({ id, audio: id })));
      const want = await reference(run, [...positions]);
      let maxDiff = 0;
      preds.forEach((p, i) => EMOTIONS.forEach((l, j) => (maxDiff = Math.max(maxDiff, Math.abs(p.probabilities![l] - want[i * 4 + j])))));
      expect(maxDiff).toBeLessThan(1e-6);
    }
    // An encoder that cannot give the layers (e.g. last layer only) is an error that says so, not a wrong answer.
    layered = false;
    const err = await predict(superb, [{ id: "a", audio: fx.ids[0] }]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EmofeatError);
    expect((err as Error).message).toMatch(/holds 5 encoder layers of 12 values per utterance, but its encoder gave 12 values per utterance/);
  });

  it("CLI: --per-layer with --layers, --folds session, --seeds and --classes; usage errors", async () => {
    const out = path.join(dir, "runs", "cli-per-layer");
    const r = await runEmofeatInProcess(
      ["train", "--csv", fx.csv, "--features", `audio=${fx.layered}`, "--per-layer", "--layers", "3-9", "--folds", "session", "--seeds", "2", "--classes", "angry,happy,sad", "--epochs", "3", "--lr", "0.01", "--out", out, "-q"],
    );
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/weighted-layers per layer on audio \(layers 3,6,9\), 3 classes, 4-fold session CV/);
    const m = readJson<RunMetrics>(path.join(out, "metrics.json"));
    expect(m.head).toBe("weighted-layers");
    expect(m.labels).toEqual(["angry", "happy", "sad"]);
    expect(m.per_layer!.map((e) => e.layer)).toEqual([3, 6, 9]);
    const sub = readJson<RunMetrics>(path.join(out, "layers/layer-06", "metrics.json"));
    expect(sub.seeds).toHaveLength(2);
    expect(sub.seeds[0].folds).toHaveLength(4);

    const bad = await runEmofeatInProcess(["train", "--csv", fx.csv, "--features", `audio=${fx.layered}`, "--head", "mlp", "--layer-norm", "--out", path.join(dir, "runs", "x")]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^emofeat: --base and --layer-norm belong to --head weighted-layers, not --head mlp\n$/);
    const badLayers = await runEmofeatInProcess(["train", "--csv", fx.csv, "--features", `audio=${fx.layered}`, "--layers", "4-", "--out", path.join(dir, "runs", "x")]);
    expect(badLayers.code).toBe(1);
    expect(badLayers.stderr).toMatch(/"4-" is not a layer index or range/);
  });
});
