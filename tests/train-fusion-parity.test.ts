/**
 * The fusion heads against PyTorch (bench/torch_fusion.py: torch.nn modules written from the equations,
 * outputs by scripts/gen/fusion_fixtures.py): same initial parameters, dropout off; logits and betas on every
 * row, and parameters after 3 AdamW steps, within 1e-5. Utterance-level heads and padded sequence batches.
 *
 * Exception: parameters the loss does not depend on at all (key-projection biases, as softmax is shift
 * invariant; under cross-entropy a bias added to every logit) have float32 gradients that are rounding noise
 * in torch as here, and Adam turns noise into steps of up to lr in any direction. The generator finds them by
 * float64 gradients (zero) and lists them; they are held to the band such steps can reach.
 */
import { describe, expect, it } from "vitest";
import { Evaluator, trainHead } from "../src/train/engine.js";
import { buildTrainingModel } from "../src/train/heads.js";
import { loadParityCase, PARITY_CASES, parityArch, parityDataset } from "./helpers/fusion-fixtures.js";

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

describe("fusion heads reproduce PyTorch", () => {
  for (const name of PARITY_CASES) {
    it(name, async () => {
      const c = await loadParityCase(name);
      const arch = parityArch(c);
      const { params } = buildTrainingModel(arch);
      // Same parameters (names and shapes) as the torch modules.
      expect(params.map((p) => p.name).sort()).toEqual([...c.names].sort());
      for (const p of params) expect(p.shape).toEqual(c.shapes[c.names.indexOf(p.name)]);

      const data = parityDataset(c);
      const labels = Array.from({ length: c.num_classes }, (_, i) => `c${i}`);
      const ev = await Evaluator.create(arch, 1);
      const out = await ev.logits(c.init, data);
      await ev.release();
      const logitErr = maxAbsDiff(out.logits, c.logits);
      const betaErr = maxAbsDiff(out.beta!, c.beta);

      const res = await trainHead(arch, data, undefined, {
        epochs: 1,
        batchSize: c.batch_size,
        lr: c.lr,
        weightDecay: c.weight_decay,
        select: "last",
        seed: 0,
        labels,
        threads: 1,
        initParams: c.init,
        shuffle: false,
        maxSteps: c.steps,
      });
      expect(res.profile.steps).toBe(3);
      let paramErr = 0;
      let invariantErr = 0;
      for (const [k, want] of c.final) {
        const err = maxAbsDiff(res.params.get(k)!, want);
        if (c.invariant.includes(k)) invariantErr = Math.max(invariantErr, err);
        else paramErr = Math.max(paramErr, err);
      }
      expect(invariantErr).toBeLessThanOrEqual(2 * c.steps * c.lr * 1.01);
      // Mean of the three batch losses, weighted by batch size, is the epoch's train loss.
      const sizes = [0, 1, 2].map((s) => Math.min(c.n, (s + 1) * c.batch_size) - s * c.batch_size);
      const meanLoss = c.losses.reduce((a, l, i) => a + l * sizes[i], 0) / c.n;
      console.log(`${name}: logits ${logitErr.toExponential(2)}, beta ${betaErr.toExponential(2)}, params after 3 steps ${paramErr.toExponential(2)} (${c.invariant.length} loss-invariant tensors: ${invariantErr.toExponential(2)})`);
      expect(logitErr).toBeLessThan(1e-5);
      expect(betaErr).toBeLessThan(1e-5);
      expect(paramErr).toBeLessThan(1e-5);
      expect(res.epochs[0].train_loss).toBeCloseTo(meanLoss, 5);
    });
  }
});
