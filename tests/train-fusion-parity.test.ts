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
import { BatchFeeder } from "../src/train/batches.js";
import { Evaluator, trainHead } from "../src/train/engine.js";
import { createSession } from "../src/train/graph/session.js";
import { buildInferenceModel, buildTrainingModel } from "../src/train/heads.js";
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
      const out = await ev.outputs(c.init, data);
      await ev.release();
      const logitErr = maxAbsDiff(out.logits, c.logits);
      const betaErr = maxAbsDiff(out.beta!, c.beta);

      // Attention maps (predict --explain): the head's attn.* outputs against torch's need_weights, real query rows.
      let attnErr = 0;
      let maps = Object.entries(c.attention);
      if (c.sequence && maps.length + c.blocks + c.decoder_layers > 0) {
        expect(maps.length).toBe(2 * c.blocks + c.decoder_layers);
        const { model, attention } = buildInferenceModel(arch, c.init, {}, { attention: true });
        // Attention over a pooled store (one key) is not output: torch's weights there are all 1.
        for (const [k, want] of maps.filter(([k]) => !attention.includes(k))) {
          expect(c.sequence_inputs[k.endsWith("t_to_a") ? 0 : 1]).toBe(false);
          expect(want.every((v) => v === 1)).toBe(true);
        }
        maps = maps.filter(([k]) => attention.includes(k));
        const session = await createSession(model, { threads: 1 });
        const { feeds } = await new BatchFeeder(arch, data, 1).load(Array.from({ length: c.n }, (_, i) => i));
        const r = await session.run(feeds, maps.map(([k]) => k));
        await session.release();
        const la = c.a.map((x) => x.length / c.da); // 1 for a pooled audio store
        const lt = c.t.map((x) => x.length / c.dt);
        const qLen = (k: string) => (k.endsWith("a_to_t") ? la : k.endsWith("t_to_a") ? lt : la.map(() => c.num_classes));
        for (const [k, want] of maps) {
          const got = r[k].data as Float32Array;
          expect(got.length).toBe(want.length);
          const [, tq, tk] = r[k].dims as number[];
          for (let b = 0; b < c.n; b++)
            for (let q = 0; q < qLen(k)[b]; q++)
              for (let j = 0; j < tk; j++) attnErr = Math.max(attnErr, Math.abs(got[(b * tq + q) * tk + j] - want[(b * tq + q) * tk + j]));
        }
      } else expect(maps).toEqual([]); // one vector per utterance: attention over one key is 1
      expect(attnErr).toBeLessThan(1e-5);

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
      console.log(`${name}: logits ${logitErr.toExponential(2)}, beta ${betaErr.toExponential(2)}, attention ${c.sequence ? attnErr.toExponential(2) : "-"}, params after 3 steps ${paramErr.toExponential(2)} (${c.invariant.length} loss-invariant tensors: ${invariantErr.toExponential(2)})`);
      expect(logitErr).toBeLessThan(1e-5);
      expect(betaErr).toBeLessThan(1e-5);
      expect(paramErr).toBeLessThan(1e-5);
      expect(res.epochs[0].train_loss).toBeCloseTo(meanLoss, 5);
    });
  }
});
