/**
 * Whole fusion heads against finite differences (float64 training graphs): the gradient of the loss with
 * respect to entries of every parameter tensor, at utterance level and on padded sequence batches (rows of
 * different lengths, a row of length 1), with dropout masks in place.
 */
import { describe, expect, it } from "vitest";
import { createSession, floatTensor } from "../src/train/graph/session.js";
import { resolveDim } from "../src/train/graph/shape.js";
import { buildTrainingModel, maskInput, type HeadArch } from "../src/train/heads.js";
import { resolveFusionArch, type FusionHeadName } from "../src/train/heads/fusion.js";
import { Rng } from "../src/train/rng.js";

async function headGradCheck(
  head: FusionHeadName,
  sequence: boolean,
  o: { loss?: "ce" | "bce"; fuseLength?: "both" | "text"; gate?: "vector" | "scalar"; pooledAudio?: boolean } = {},
) {
  const inputs = [
    { name: "audio", dim: 5, sequence: sequence && !o.pooledAudio },
    { name: "text", dim: 3, sequence },
  ];
  const fusion = resolveFusionArch(
    head,
    inputs,
    { dModel: 4, attnHeads: 2, ...(head !== "beta-gate" ? { blocks: 1 } : {}), ...(head === "fusion-decoder" ? { decoderLayers: 1 } : {}), loss: o.loss, fuseLength: o.fuseLength, gate: o.gate },
    0.2,
  );
  fusion.decoderFfn = 6;
  fusion.gateHidden = 5;
  const arch: HeadArch = { head, inputs, numClasses: 3, hidden: 0, dropoutIn: 0.2, dropoutHidden: 0.2, fusion };
  const { model, params, masks } = buildTrainingModel(arch, "float64");
  const session = await createSession(model, { threads: 1 });
  const rng = new Rng(5);
  const b = 3;
  const lengths = { audio: [4, 1, 2], text: [2, 3, 1] };
  const dims = new Map<string, number>([["N", b]]);
  const feeds: Record<string, ReturnType<typeof floatTensor>> = {};
  for (const inp of inputs) {
    const t = inp.sequence ? Math.max(...lengths[inp.name as "audio" | "text"]) : 1;
    if (inp.sequence) dims.set(`T_${inp.name}`, t);
    const x = Float64Array.from({ length: b * t * inp.dim }, () => rng.uniform(-1.5, 1.5));
    feeds[inp.name] = floatTensor(x, inp.sequence ? [b, t, inp.dim] : [b, inp.dim]);
    if (inp.sequence) {
      const m = new Float64Array(b * t);
      lengths[inp.name as "audio" | "text"].forEach((len, r) => m.fill(1, r * t, r * t + len));
      feeds[maskInput(inp.name)] = floatTensor(m, [b, t]);
    }
  }
  feeds.targets = floatTensor(Float64Array.from([1, 0, 0, 0, 0, 1, 0, 1, 0]), [b, 3]);
  feeds.weights = floatTensor(Float64Array.from([1 / 3, 1 / 3, 1 / 3]), [b]);
  for (const m of masks) {
    const shape = m.shape.map((d) => resolveDim(d, dims));
    const a = new Float64Array(shape.reduce((p, q) => p * q, 1));
    rng.fillDropoutMask(a, m.p);
    feeds[m.name] = floatTensor(a, shape);
  }
  const values = params.map((p) => Float64Array.from({ length: p.shape.reduce((x, y) => x * y, 1) }, () => rng.uniform(-0.8, 0.8)));
  params.forEach((p, i) => (feeds[p.name] = floatTensor(values[i], p.shape)));
  const base = await session.run(feeds);
  const loss = async () => Number((await session.run(feeds, ["loss"])).loss.data[0]);
  const failures: string[] = [];
  let checked = 0;
  let maxGrad = 0;
  const eps = 1e-6;
  for (let i = 0; i < params.length; i++) {
    const grad = base[`grad.${params[i].name}`]?.data as Float64Array | undefined;
    if (!grad) continue; // no gradient path (checked below)
    const v = values[i];
    for (const k of [0, v.length - 1].filter((k, j, a) => a.indexOf(k) === j)) {
      const orig = v[k];
      v[k] = orig + eps;
      const lp = await loss();
      v[k] = orig - eps;
      const lm = await loss();
      v[k] = orig;
      const numeric = (lp - lm) / (2 * eps);
      checked++;
      maxGrad = Math.max(maxGrad, Math.abs(grad[k]));
      if (!(Math.abs(grad[k] - numeric) <= 1e-7 + 1e-5 * Math.abs(numeric))) failures.push(`${params[i].name}[${k}]: analytic ${grad[k]}, numeric ${numeric}`);
    }
  }
  await session.release();
  return { failures, checked, maxGrad, noGrad: params.filter((p) => !(`grad.${p.name}` in base)).map((p) => p.name) };
}

describe("fusion heads: whole-head gradients against finite differences (float64, dropout masks on)", () => {
  const cases: [string, FusionHeadName, boolean, Parameters<typeof headGradCheck>[2]][] = [
    ["beta-gate, one vector per utterance", "beta-gate", false, {}],
    ["beta-gate, padded sequences, scalar gate", "beta-gate", true, { gate: "scalar" }],
    ["fusion, one vector per utterance", "fusion", false, {}],
    ["fusion, padded sequences", "fusion", true, {}],
    ["fusion, padded sequences, --fuse-length text", "fusion", true, { fuseLength: "text" }],
    ["fusion, pooled audio with text sequences, --fuse-length text", "fusion", true, { pooledAudio: true, fuseLength: "text" }],
    ["fusion-decoder, one vector per utterance", "fusion-decoder", false, {}],
    ["fusion-decoder, padded sequences, bce", "fusion-decoder", true, { loss: "bce" }],
    // The fused positions are "1+T_text" long (the pooled audio's one beside the tokens): dropout masks over them.
    ["fusion-decoder, pooled audio with text sequences", "fusion-decoder", true, { pooledAudio: true }],
  ];
  for (const [name, head, seq, o] of cases) {
    it(name, async () => {
      const r = await headGradCheck(head, seq, o);
      expect(r.failures).toEqual([]);
      expect(r.checked).toBeGreaterThan(15);
      expect(r.maxGrad).toBeGreaterThan(1e-3);
      // Over one key (one vector per utterance) attention's query/key projections take no part; otherwise all do.
      if (seq && !o?.pooledAudio) expect(r.noGrad).toEqual([]);
      else expect(r.noGrad.every((n) => /\.(q|k)_proj\./.test(n))).toBe(true);
    });
  }
});
