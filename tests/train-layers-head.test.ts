/**
 * The weighted-layers head against PyTorch (s3prl's Featurizer + emotion downstream written with torch
 * modules in scripts/gen/layers_fixtures.py), and its gradients against finite differences.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { Evaluator, trainHead, type Dataset } from "../src/train/engine.js";
import { createSession, floatTensor } from "../src/train/graph/session.js";
import { buildTrainingModel, checkArch, headSettings, type HeadArch } from "../src/train/heads.js";
import { layerWeights, softmax } from "../src/train/heads/weighted-layers.js";
import { Rng } from "../src/train/rng.js";
import { LAYER_FIXTURES, loadLayerSynth, type LayerSynth, type LayerTrajectory } from "./helpers/layer-data.js";
import { EMOTIONS } from "./helpers/probe-data.js";

const archOf = (s: LayerSynth, t: Pick<LayerTrajectory, "base" | "layer_norm" | "hidden">): HeadArch => ({
  head: "weighted-layers",
  inputs: [{ name: "audio", dim: s.numLayers * s.d, layers: s.layers }],
  numClasses: s.numClasses,
  hidden: t.hidden,
  dropoutIn: 0,
  dropoutHidden: 0,
  base: t.base,
  layerNorm: t.layer_norm,
});

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

describe("weighted-layers head vs PyTorch (s3prl Featurizer + downstream, shared initial parameters)", async () => {
  const s = await loadLayerSynth();
  const all: Dataset = { x: [s.x], y: Int32Array.from(s.y), n: s.n };
  const trainIdx = s.split.map((v, i) => (v === "train" ? i : -1)).filter((i) => i >= 0);
  for (const t of s.trajectories) {
    it(`${t.name}: logits before and after 3 AdamW steps, and the parameters, within 1e-5`, async () => {
      const arch = archOf(s, t);
      checkArch(arch);
      const rows = trainIdx.slice(0, t.train_rows);
      const w = s.numLayers * s.d;
      const x = new Float32Array(rows.length * w);
      rows.forEach((r, i) => x.set(s.x.subarray(r * w, (r + 1) * w), i * w));
      const train: Dataset = { x: [x], y: Int32Array.from(rows, (r) => s.y[r]), n: rows.length };
      const init = new Map(Object.entries(t.init).map(([k, v]) => [k, Float32Array.from(v)]));
      const ev = await Evaluator.create(arch, 1);
      const logitsInit = await ev.logits(init, all);
      const res = await trainHead(arch, train, undefined, {
        epochs: 1,
        batchSize: t.batch_size,
        lr: t.lr,
        weightDecay: t.weight_decay,
        select: "last",
        seed: 0,
        labels: EMOTIONS,
        initParams: init,
        shuffle: false,
        threads: 1,
      });
      const logitsFinal = await ev.logits(res.params, all);
      await ev.release();

      expect([...res.params.keys()].sort()).toEqual(Object.keys(t.final).sort());
      let paramErr = 0;
      let moved = 0;
      for (const [name, want] of Object.entries(t.final)) {
        paramErr = Math.max(paramErr, maxAbsDiff(res.params.get(name)!, want));
        moved = Math.max(moved, maxAbsDiff(want, t.init[name]));
      }
      const eInit = maxAbsDiff(logitsInit, t.logits_init);
      const eFinal = maxAbsDiff(logitsFinal, t.logits_final);
      const eSoft = maxAbsDiff(softmax(res.params.get("featurizer.weights")!), t.softmax_final);
      console.log(
        `${t.name}: logits ${eInit.toExponential(2)} (init) / ${eFinal.toExponential(2)} (after 3 steps), params ${paramErr.toExponential(2)}, ` +
          `layer weights ${eSoft.toExponential(2)}; max movement ${moved.toExponential(2)}`,
      );
      // 3 steps of lr >= 5e-3 move some parameter by >= 1.4e-2: the comparison is not vacuous.
      expect(moved).toBeGreaterThan(1e-2);
      expect(eInit).toBeLessThan(1e-5);
      expect(eFinal).toBeLessThan(1e-5);
      expect(paramErr).toBeLessThan(1e-5);
      expect(eSoft).toBeLessThan(1e-5);
      expect(res.epochs[0].train_loss).toBeCloseTo(t.losses.reduce((a, b) => a + b, 0) / t.losses.length, 5);
    });
  }

  it("on pooled vectors it equals s3prl's frame-level probe without --layer-norm, and differs with it", async () => {
    const f = readFileSync(path.join(LAYER_FIXTURES, "layers.json"), "utf8");
    const frames = JSON.parse(f).frames as {
      lengths: number[];
      pooled: number[];
      plain: { params: Record<string, number[]>; logits: number[] };
      layer_norm: { params: Record<string, number[]>; logits: number[] };
    };
    const n = frames.lengths.length;
    const pooled: Dataset = { x: [Float32Array.from(frames.pooled)], y: new Int32Array(n), n };
    const diff = async (layerNorm: boolean, ref: { params: Record<string, number[]>; logits: number[] }) => {
      const ev = await Evaluator.create(archOf(s, { base: "linear", layer_norm: layerNorm, hidden: 8 }), 1);
      const logits = await ev.logits(new Map(Object.entries(ref.params).map(([k, v]) => [k, Float32Array.from(v)])), pooled);
      await ev.release();
      return maxAbsDiff(logits, ref.logits);
    };
    const plain = await diff(false, frames.plain);
    const ln = await diff(true, frames.layer_norm);
    console.log(`pooled store vs s3prl on ${n} utterances of ${Math.min(...frames.lengths)}-${Math.max(...frames.lengths)} frames: ` +
      `max |logit difference| ${plain.toExponential(2)} without --layer-norm, ${ln.toExponential(2)} with it`);
    expect(plain).toBeLessThan(1e-5);
    expect(ln).toBeGreaterThan(1e-2);
  });

  it("layer_weights: mean and sample std of the softmax weights over trainings", () => {
    const a = new Map([["featurizer.weights", Float32Array.from([0, 0, Math.log(2)])]]);
    const b = new Map([["featurizer.weights", Float32Array.from([Math.log(2), 0, 0])]]);
    const lw = layerWeights([0, 6, 12], [a, b]);
    expect(lw.layers).toEqual([0, 6, 12]);
    // softmax([0,0,ln2]) = [.25,.25,.5]; softmax([ln2,0,0]) = [.5,.25,.25]
    [0.375, 0.25, 0.375].forEach((v, i) => expect(lw.mean[i]).toBeCloseTo(v, 6));
    [0.25 / Math.SQRT2, 0, 0.25 / Math.SQRT2].forEach((v, i) => expect(lw.std[i]).toBeCloseTo(v, 6));
  });

  it("defaults: s3prl's probe and optimiser for --base linear, the mlp head's for --base mlp; overrides win", () => {
    expect(headSettings("weighted-layers")).toMatchObject({ base: "linear", hidden: 256, lr: 1e-4, weightDecay: 0, batchSize: 32, layerNorm: false });
    expect(headSettings("weighted-layers", { base: "mlp" })).toMatchObject({ base: "mlp", hidden: 256, lr: 1e-3, weightDecay: 0.01, batchSize: 256, dropoutIn: 0.1 });
    expect(headSettings("weighted-layers", { layerNorm: true, lr: 3e-4 })).toMatchObject({ layerNorm: true, lr: 3e-4, base: "linear" });
    expect(() => headSettings("mlp", { base: "linear" })).toThrow(/belong to --head weighted-layers/);
  });
});

/**
 * Gradients of the whole training model (loss w.r.t. every parameter) against central differences of the
 * loss, in float64, for each variant of the head. Inputs are sized so that every op sees several rows.
 */
describe("weighted-layers head: finite-difference gradient checks", () => {
  const variants: { name: string; base: "linear" | "mlp"; layerNorm: boolean; hidden: number; layers: number }[] = [
    { name: "linear base", base: "linear", layerNorm: false, hidden: 5, layers: 4 },
    { name: "linear base, --layer-norm", base: "linear", layerNorm: true, hidden: 5, layers: 4 },
    { name: "no projector (--hidden 0), --layer-norm", base: "linear", layerNorm: true, hidden: 0, layers: 3 },
    { name: "mlp base, --layer-norm", base: "mlp", layerNorm: true, hidden: 5, layers: 3 },
    { name: "one layer, --layer-norm (no weights)", base: "linear", layerNorm: true, hidden: 4, layers: 1 },
  ];
  for (const dtype of ["float64", "float32"] as const)
    for (const v of variants) {
      it(`${v.name} (${dtype})`, async () => {
        const n = 6;
        const d = 5;
        const c = 3;
        const arch: HeadArch = {
          head: "weighted-layers",
          inputs: [{ name: "x", dim: v.layers * d, layers: Array.from({ length: v.layers }, (_, i) => i * 2) }],
          numClasses: c,
          hidden: v.hidden,
          dropoutIn: 0,
          dropoutHidden: 0,
          base: v.base,
          layerNorm: v.layerNorm,
        };
        const { model, params, masks } = buildTrainingModel(arch, dtype);
        expect(masks).toEqual([]);
        expect(params.some((p) => p.name === "featurizer.weights")).toBe(v.layers > 1);
        const session = await createSession(model, { threads: 1 });
        const Arr = dtype === "float64" ? Float64Array : Float32Array;
        const rng = new Rng(5);
        const rand = (len: number, lo: number, hi: number) => {
          const a = new Arr(len);
          for (let i = 0; i < len; i++) a[i] = rng.uniform(lo, hi);
          return a;
        };
        // Layers of different scales, as in real encoders (and so that --layer-norm changes something).
        const x = rand(n * v.layers * d, -1, 1);
        for (let i = 0; i < x.length; i++) x[i] *= 1 + (Math.floor(i / d) % v.layers);
        const targets = new Arr(n * c);
        for (let i = 0; i < n; i++) targets[i * c + (i % c)] = 1;
        const values = params.map((p) => rand(p.shape.reduce((a, b) => a * b, 1), -0.8, 0.8));
        const feeds = () => {
          const f: Record<string, ReturnType<typeof floatTensor>> = {
            x: floatTensor(x, [n, v.layers * d]),
            targets: floatTensor(targets, [n, c]),
            weights: floatTensor(new Arr(n).fill(1 / n), [n]),
          };
          params.forEach((p, k) => (f[p.name] = floatTensor(values[k], p.shape)));
          return f;
        };
        const base = await session.run(feeds());
        const eps = dtype === "float64" ? 1e-6 : 1e-2;
        const [atol, rtol] = dtype === "float64" ? [1e-8, 1e-6] : [2e-3, 1e-2];
        let checked = 0;
        let maxGrad = 0;
        const failures: string[] = [];
        for (const [k, p] of params.entries()) {
          const analytic = base[`grad.${p.name}`].data as Float32Array | Float64Array;
          for (let i = 0; i < values[k].length; i++) {
            const orig = values[k][i];
            values[k][i] = orig + eps;
            const lp = Number((await session.run(feeds(), ["loss"])).loss.data[0]);
            values[k][i] = orig - eps;
            const lm = Number((await session.run(feeds(), ["loss"])).loss.data[0]);
            values[k][i] = orig;
            const numeric = (lp - lm) / (2 * eps);
            maxGrad = Math.max(maxGrad, Math.abs(analytic[i]));
            checked++;
            if (!(Math.abs(analytic[i] - numeric) <= atol + rtol * Math.abs(numeric))) failures.push(`${p.name}[${i}]: ${analytic[i]} vs ${numeric}`);
          }
        }
        await session.release();
        expect(failures).toEqual([]);
        expect(checked).toBeGreaterThan(20);
        expect(maxGrad).toBeGreaterThan(1e-3);
      });
    }
});
