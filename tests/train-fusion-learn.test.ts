/**
 * The learning test of issue #10: two modalities whose label is an interaction between them (an XOR of signs
 * carried by audio and text; scripts/gen/fusion_fixtures.py), which no linear function of [a; t] separates.
 * `fusion` must clearly beat `concat-linear` and reach PyTorch's test accuracy (the same head from torch.nn
 * modules, same settings, 5 seeds) within a tolerance set by the seed-to-seed spread of both.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { readNpy } from "../src/store/npy.js";
import { Evaluator, trainHead, type Dataset } from "../src/train/engine.js";
import { HEAD_DEFAULTS, type HeadArch } from "../src/train/heads.js";
import { resolveFusionArch } from "../src/train/heads/fusion.js";
import { FUSION_FIXTURES } from "./helpers/fusion-fixtures.js";

const mean = (a: number[]) => a.reduce((p, q) => p + q, 0) / a.length;
const std = (a: number[]) => Math.sqrt(a.reduce((p, q) => p + (q - mean(a)) ** 2, 0) / (a.length - 1));
const labels = ["c0", "c1", "c2", "c3"];

describe("learning an interaction between modalities", () => {
  it("fusion beats concat-linear clearly and matches PyTorch's fusion accuracy", async () => {
    const ref = JSON.parse(readFileSync(path.join(FUSION_FIXTURES, "interaction.json"), "utf8"));
    const a = await readNpy(path.join(FUSION_FIXTURES, "interaction_a.npy"));
    const t = await readNpy(path.join(FUSION_FIXTURES, "interaction_t.npy"));
    const d = a.shape[1];
    const split = (which: string): Dataset => {
      const idx = (ref.split as string[]).flatMap((s, i) => (s === which ? [i] : []));
      const take = (m: Float32Array) => {
        const out = new Float32Array(idx.length * d);
        idx.forEach((r, i) => out.set(m.subarray(r * d, r * d + d), i * d));
        return out;
      };
      return { x: [take(a.data), take(t.data)], y: Int32Array.from(idx, (i) => ref.y[i]), n: idx.length };
    };
    const [train, val, test] = ["train", "val", "test"].map(split);
    const inputs = [
      { name: "audio", dim: d },
      { name: "text", dim: d },
    ];
    const s = ref.settings;
    const fusionArch: HeadArch = {
      head: "fusion",
      inputs,
      numClasses: 4,
      hidden: 0,
      dropoutIn: s.dropout,
      dropoutHidden: s.dropout,
      fusion: resolveFusionArch("fusion", inputs.map((i) => ({ ...i, sequence: false })), { dModel: s.d_model, attnHeads: s.heads, blocks: s.blocks }, s.dropout),
    };
    const concatArch: HeadArch = { head: "concat-linear", inputs, numClasses: 4, hidden: 0, dropoutIn: 0, dropoutHidden: 0 };
    const accuracy = async (arch: HeadArch, settings: Parameters<typeof trainHead>[3]) => {
      const accs: number[] = [];
      const ev = await Evaluator.create(arch, 1);
      for (const seed of [0, 1, 2, 3, 4]) {
        const res = await trainHead(arch, train, val, { ...settings, seed });
        accs.push((await ev.evaluate(res.params, test, labels)).metrics.accuracy);
      }
      await ev.release();
      return accs;
    };
    const fusion = await accuracy(fusionArch, { epochs: s.epochs, batchSize: s.batch_size, lr: s.lr, weightDecay: s.weight_decay, select: "best-val-accuracy", seed: 0, labels, threads: 1 });
    const concat = await accuracy(concatArch, { ...HEAD_DEFAULTS["concat-linear"], seed: 0, labels, threads: 1 });
    const torch = ref.torch_fusion;
    const nRef = torch.runs.length;
    // Two-sample bound from both sides' seed-to-seed spread, plus 1 point for the test set's granularity
    // (1/300 per utterance) and small systematic differences (float32 rounding, RNG streams).
    const tol = 3 * Math.sqrt(std(fusion) ** 2 / fusion.length + torch.test_accuracy_std ** 2 / nRef) + 0.01;
    console.log(
      `fusion ${mean(fusion).toFixed(4)} +- ${std(fusion).toFixed(4)}, concat-linear ${mean(concat).toFixed(4)} +- ${std(concat).toFixed(4)}, ` +
        `PyTorch fusion ${torch.test_accuracy_mean.toFixed(4)} +- ${torch.test_accuracy_std.toFixed(4)} (5 seeds each), tolerance ${tol.toFixed(4)}`,
    );
    expect(mean(concat)).toBeLessThan(0.4); // chance is 0.25: the linear probe cannot separate the classes
    expect(mean(fusion) - mean(concat)).toBeGreaterThan(0.3);
    expect(Math.min(...fusion)).toBeGreaterThan(Math.max(...concat));
    expect(Math.abs(mean(fusion) - torch.test_accuracy_mean)).toBeLessThanOrEqual(tol);
  });
});
