import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { AdamWMemory } from "../src/train/adamw-kernel.js";
import { initParams, trainHead } from "../src/train/engine.js";
import { buildTrainingModel, HEAD_DEFAULTS, type HeadArch } from "../src/train/heads.js";
import { Rng } from "../src/train/rng.js";
import { loadSynth, synthSplit, TRAIN_FIXTURES } from "./helpers/synth.js";

const labels = ["c0", "c1", "c2", "c3"];

describe("training loop against PyTorch", () => {
  it("reproduces PyTorch's parameters after 3 epochs of AdamW (same init, no dropout, data order)", async () => {
    const ref = JSON.parse(readFileSync(path.join(TRAIN_FIXTURES, "trajectory.json"), "utf8"));
    const s = await loadSynth();
    const arch: HeadArch = { head: "mlp", inputs: [{ name: "x", dim: s.d }], numClasses: 4, hidden: ref.hidden, dropoutIn: 0, dropoutHidden: 0 };
    const init = new Map(Object.entries(ref.init as Record<string, number[]>).map(([k, v]) => [k, Float32Array.from(v)]));
    const res = await trainHead(arch, synthSplit(s, "train"), synthSplit(s, "val"), {
      epochs: ref.epochs,
      batchSize: ref.batch_size,
      lr: ref.lr,
      weightDecay: ref.weight_decay,
      select: "last",
      seed: 0,
      labels,
      initParams: init,
      shuffle: false,
    });
    res.epochs.forEach((e, i) => expect(e.train_loss).toBeCloseTo(ref.train_loss[i], 5));
    let maxErr = 0;
    let maxMove = 0;
    for (const [name, want] of Object.entries(ref.final as Record<string, number[]>)) {
      const got = res.params.get(name)!;
      expect(got.length).toBe(want.length);
      for (let i = 0; i < want.length; i++) {
        maxErr = Math.max(maxErr, Math.abs(got[i] - want[i]));
        maxMove = Math.max(maxMove, Math.abs(want[i] - ref.init[name][i]));
      }
    }
    // 6 AdamW steps of lr 1e-3 move parameters by up to ~6e-3; float32 rounding differences stay far below.
    console.log(`trajectory: max |ours - torch| ${maxErr.toExponential(2)}, max parameter movement ${maxMove.toExponential(2)}`);
    expect(maxMove).toBeGreaterThan(3e-3);
    expect(maxErr).toBeLessThan(1e-5);
  });

  it("reaches PyTorch's test accuracy on the synthetic set (reference mlp settings, several seeds)", async () => {
    const s = await loadSynth();
    const arch: HeadArch = { head: "mlp", inputs: [{ name: "x", dim: s.d }], numClasses: 4, hidden: 256, dropoutIn: 0.1, dropoutHidden: 0.3 };
    const [train, val, test] = (["train", "val", "test"] as const).map((w) => synthSplit(s, w));
    const accs: number[] = [];
    const { Evaluator } = await import("../src/train/engine.js");
    const ev = await Evaluator.create(arch, 1);
    for (const seed of [0, 1, 2, 3, 4]) {
      const res = await trainHead(arch, train, val, { ...HEAD_DEFAULTS.mlp, seed, labels, threads: 1 });
      accs.push((await ev.evaluate(res.params, test, labels)).metrics.accuracy);
    }
    await ev.release();
    const mean = (a: number[]) => a.reduce((p, q) => p + q, 0) / a.length;
    const std = (a: number[]) => Math.sqrt(a.reduce((p, q) => p + (q - mean(a)) ** 2, 0) / (a.length - 1));
    const ref = s.reference;
    const nRef = ref.runs.length;
    // Two-sample bound from the seed-to-seed spread of both sides, plus 1 point for the finite test set's
    // granularity (1/350 per utterance) and small systematic differences (float32 rounding, RNG streams).
    const tol = 3 * Math.sqrt(std(accs) ** 2 / accs.length + ref.test_accuracy_std ** 2 / nRef) + 0.01;
    console.log(`ours ${mean(accs).toFixed(4)} +- ${std(accs).toFixed(4)} (n=${accs.length}), torch ${ref.test_accuracy_mean.toFixed(4)} +- ${ref.test_accuracy_std.toFixed(4)} (n=${nRef}), tolerance ${tol.toFixed(4)}`);
    expect(Math.abs(mean(accs) - ref.test_accuracy_mean)).toBeLessThanOrEqual(tol);
    expect(ref.test_accuracy_mean).toBeGreaterThan(0.5); // the task is learnable ...
    expect(ref.test_accuracy_mean).toBeLessThan(0.95); // ... and not trivial
  });

  it("is repeatable for a seed and differs across seeds", async () => {
    const s = await loadSynth();
    const arch: HeadArch = { head: "mlp", inputs: [{ name: "x", dim: s.d }], numClasses: 4, hidden: 32, dropoutIn: 0.1, dropoutHidden: 0.3 };
    const run = (seed: number) =>
      trainHead(arch, synthSplit(s, "train"), synthSplit(s, "val"), { ...HEAD_DEFAULTS.mlp, epochs: 3, seed, labels });
    const [a, b, c] = [await run(7), await run(7), await run(8)];
    expect(a.epochs.map((e) => e.train_loss)).toEqual(b.epochs.map((e) => e.train_loss));
    expect(Array.from(a.params.get("fc2.weight")!)).toEqual(Array.from(b.params.get("fc2.weight")!));
    expect(a.epochs[0].train_loss).not.toEqual(c.epochs[0].train_loss);
  });

  it("selects the checkpoint with the best validation macro-F1 (first maximum) or the last epoch", async () => {
    const s = await loadSynth();
    const arch: HeadArch = { head: "linear", inputs: [{ name: "x", dim: s.d }], numClasses: 4, hidden: 0, dropoutIn: 0, dropoutHidden: 0 };
    const best = await trainHead(arch, synthSplit(s, "train"), synthSplit(s, "val"), { ...HEAD_DEFAULTS.linear, epochs: 12, seed: 3, labels });
    const f1 = best.epochs.map((e) => e.val_macro_f1);
    expect(best.selectedEpoch).toBe(f1.indexOf(Math.max(...f1)) + 1);
    const last = await trainHead(arch, synthSplit(s, "train"), synthSplit(s, "val"), { ...HEAD_DEFAULTS["concat-linear"], epochs: 4, seed: 3, labels });
    expect(last.selectedEpoch).toBe(4);
  });
});

describe("AdamW (WebAssembly SIMD kernel)", () => {
  it("matches torch.optim.AdamW's update on a hand-computed step", () => {
    // One step from p=1, g=0.5, lr=0.1, wd=0.01: p <- p(1 - lr wd) - lr * m_hat / (sqrt(v_hat) + eps)
    // m_hat = g, v_hat = g^2, so the Adam part is lr * g / (|g| + eps) = 0.1 * (1 - 2e-8).
    const opt = new AdamWMemory(2, 2, { lr: 0.1, weightDecay: 0.01 });
    opt.params.set([1, -2]);
    opt.grads.set([0.5, -0.25]);
    opt.step();
    expect(opt.params[0]).toBeCloseTo(1 * (1 - 0.001) - 0.1 * (0.5 / (0.5 + 1e-8)), 6);
    expect(opt.params[1]).toBeCloseTo(-2 * (1 - 0.001) + 0.1 * (0.25 / (0.25 + 1e-8)), 6);
  });

  it("follows torch's formulas over many steps, including the vector tail and decay-only parameters", () => {
    const [n, trainable, lr, wd, b1, b2, eps] = [1003, 997, 1e-2, 0.1, 0.9, 0.999, 1e-8];
    const opt = new AdamWMemory(n, trainable, { lr, weightDecay: wd });
    const p = Float64Array.from({ length: n }, (_, i) => Math.sin(i));
    opt.params.set(p);
    const m = new Float64Array(trainable);
    const v = new Float64Array(trainable);
    for (let t = 1; t <= 7; t++) {
      const g = Float32Array.from({ length: trainable }, (_, i) => Math.cos(i * t) * 0.1 * (i % 5));
      opt.grads.set(g);
      opt.step();
      for (let i = 0; i < n; i++) {
        p[i] *= 1 - lr * wd;
        if (i >= trainable) continue;
        m[i] = b1 * m[i] + (1 - b1) * g[i];
        v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
        p[i] -= (lr / (1 - b1 ** t)) * (m[i] / (Math.sqrt(v[i]) / Math.sqrt(1 - b2 ** t) + eps));
      }
    }
    let err = 0;
    for (let i = 0; i < n; i++) err = Math.max(err, Math.abs(opt.params[i] - p[i]));
    expect(err).toBeLessThan(2e-6);
    let moved = 0;
    for (let i = 0; i < trainable; i++) moved = Math.max(moved, Math.abs(opt.params[i] - Math.sin(i)));
    expect(moved).toBeGreaterThan(0.03); // 7 steps of up to lr each
    expect(opt.steps).toBe(7);
  });
});

describe("initialisation", () => {
  it("follows torch: Linear U(+-1/sqrt(fan_in)) for weight and bias, LayerNorm 1 and 0", () => {
    const { params } = buildTrainingModel({ head: "mlp", inputs: [{ name: "x", dim: 64 }], numClasses: 3, hidden: 100, dropoutIn: 0.1, dropoutHidden: 0.3 });
    const p = initParams(params, new Rng(1));
    expect([...p.get("norm.weight")!].every((v) => v === 1)).toBe(true);
    expect([...p.get("norm.bias")!].every((v) => v === 0)).toBe(true);
    for (const [name, fanIn] of [["fc1.weight", 64], ["fc1.bias", 64], ["fc2.weight", 100], ["fc2.bias", 100]] as const) {
      const a = [...p.get(name)!];
      const bound = 1 / Math.sqrt(fanIn);
      expect(Math.max(...a.map(Math.abs))).toBeLessThanOrEqual(bound);
      if (a.length < 300) continue;
      // Uniform on (-b, b): the draws reach both ends of the range and the variance is b^2/3.
      expect(Math.max(...a)).toBeGreaterThan(0.95 * bound);
      expect(Math.min(...a)).toBeLessThan(-0.95 * bound);
      const variance = a.reduce((q, v) => q + v * v, 0) / a.length;
      expect(variance).toBeGreaterThan(0.85 * (bound * bound) / 3);
      expect(variance).toBeLessThan(1.15 * (bound * bound) / 3);
    }
    expect(p.get("fc1.weight")!.length).toBe(100 * 64);
  });
});
