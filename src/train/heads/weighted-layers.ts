/**
 * `--head weighted-layers`: the SUPERB featurizer (s3prl's `Featurizer`) on a layer store, then a classifier.
 *
 *   x [N, L, D] (fed flattened as [N, L*D])
 *   -> LayerNorm over D of every layer, without affine parameters (--layer-norm; s3prl's `normalize`,
 *      F.layer_norm(x, (D,)), eps 1e-5)
 *   -> sum_l softmax(w)_l x_l, w [L] learnable, initialised to zeros (equal weights), as s3prl
 *   -> --base linear (default): Linear(D, hidden) -> Linear(hidden, C), s3prl's emotion downstream
 *      (projector to 256, UtteranceLevel mean pooling, a linear classifier; on a pooled store the mean
 *      over frames has already been taken, see docs/training.md); --hidden 0 drops the projector.
 *      --base mlp: the `mlp` head (LayerNorm, Dropout, Linear(D, hidden), ReLU, Dropout, Linear(hidden, C)).
 *
 * With one layer the softmax weight is 1 and no weight is trained (s3prl does the same): the head is then
 * its base on that layer, which is what `--per-layer` trains on each layer alone.
 */
import { EmofeatError } from "../../errors.js";
import type { GraphBuilder, Tensor } from "../graph/builder.js";
import { BATCH, buildHeadForward, HEAD_DEFAULTS, linearParams, type HeadArch, type TrainSettings } from "../heads.js";
import { layerWeightsSvg } from "../layer-plots.js";
import { sampleStd } from "../aggregate.js";
import { registerHead } from "./registry.js";

export const LAYER_WEIGHTS_PARAM = "featurizer.weights";

/**
 * s3prl's emotion recipe (downstream/emotion/config.yaml): Adam lr 1e-4 (AdamW with weight decay 0 is the
 * same update), 4 utterances x 8 accumulation steps = 32 per update, projector 256. It trains 30,000 updates
 * (~270 passes over an IEMOCAP fold) with gradient clipping at norm 1 and keeps the best dev accuracy; here
 * 100 epochs and the best validation macro-F1 (docs/training.md says why).
 */
const SUPERB_LINEAR: TrainSettings = {
  epochs: 100,
  batchSize: 32,
  lr: 1e-4,
  weightDecay: 0,
  hidden: 256,
  dropoutIn: 0,
  dropoutHidden: 0,
  select: "best-val-macro-f1",
  base: "linear",
  layerNorm: false,
};

function defaults(overrides: Partial<TrainSettings>): TrainSettings {
  const base = overrides.base ?? "linear";
  if (base !== "linear" && base !== "mlp") throw new EmofeatError(`--base must be linear or mlp, got "${base}"`);
  const d = base === "linear" ? SUPERB_LINEAR : { ...HEAD_DEFAULTS.mlp, base, layerNorm: false };
  return { ...d, ...overrides };
}

function check(a: HeadArch): void {
  if (a.inputs.length !== 1)
    throw new EmofeatError(
      `--head weighted-layers takes one feature store (a layer store), got ${a.inputs.length} (${a.inputs.map((i) => i.name).join(", ")})`,
    );
  const inp = a.inputs[0];
  if (!inp.layers || inp.layers.length === 0)
    throw new EmofeatError(
      `feature store "${inp.name}" holds one vector per utterance (no layer axis), and --head weighted-layers learns a weighted sum ` +
        `of encoder layers: extract a layer store with --layers all (e.g. emofeat extract audio ... --layers all --out features/audio-layers)`,
    );
  if (inp.dim % inp.layers.length !== 0) throw new Error(`internal: input width ${inp.dim} is not a multiple of ${inp.layers.length} layers`);
  if (a.numClasses < 2) throw new EmofeatError(`need at least 2 classes to train a classifier, got ${a.numClasses}`);
  if (a.base !== "linear" && a.base !== "mlp") throw new EmofeatError(`--base must be linear or mlp, got "${a.base}"`);
  if (a.base === "mlp" && !(a.hidden >= 1)) throw new EmofeatError(`--hidden must be a positive integer with --base mlp`);
  if (a.base === "linear" && !(Number.isInteger(a.hidden) && a.hidden >= 0))
    throw new EmofeatError(`--hidden must be 0 (no projector) or a positive integer with --base linear`);
  for (const p of [a.dropoutIn, a.dropoutHidden]) if (!(p >= 0 && p < 1)) throw new EmofeatError(`dropout must be in [0, 1), got ${p}`);
}

/** The featurizer: [N, L*D] -> [N, D]. */
function featurize(g: GraphBuilder, x: Tensor, layers: number, d: number, layerNorm: boolean): Tensor {
  if (layers === 1 && !layerNorm) return x;
  let h = g.reshape(x, [BATCH, layers, d]);
  // F.layer_norm without weight and bias = LayerNorm with constant weight 1 and bias 0 (not trained).
  if (layerNorm) h = g.layerNorm(h, g.constant(new Array(d).fill(1), [d]), g.constant(new Array(d).fill(0), [d]), 1e-5);
  if (layers === 1) return g.reshape(h, [BATCH, d]);
  const w = g.param(LAYER_WEIGHTS_PARAM, [layers], { kind: "constant", value: 0 });
  // [1, L] x [N, L, D] -> [N, 1, D]: the weighted sum as one batched MatMul, no [N, L, D] product tensor.
  const p = g.reshape(g.softmax(w, -1), [1, layers]);
  return g.reshape(g.matmul(p, h), [BATCH, d]);
}

function forward(g: GraphBuilder, arch: HeadArch, xs: Tensor[]): Tensor {
  const inp = arch.inputs[0];
  const layers = inp.layers!.length;
  const d = inp.dim / layers;
  const h = featurize(g, xs[0], layers, d, arch.layerNorm ?? false);
  if (arch.base === "mlp") return buildHeadForward(g, { ...arch, head: "mlp", inputs: [{ name: inp.name, dim: d }] }, [h]);
  if (arch.hidden === 0) {
    const fc = linearParams(g, "classifier", d, arch.numClasses);
    return g.linear(h, fc.w, fc.b);
  }
  const proj = linearParams(g, "projector", d, arch.hidden);
  const fc = linearParams(g, "classifier", arch.hidden, arch.numClasses);
  return g.linear(g.linear(h, proj.w, proj.b), fc.w, fc.b);
}

export function softmax(w: ArrayLike<number>): number[] {
  const m = Math.max(...Array.from(w));
  const e = Array.from(w, (v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

export interface LayerWeights {
  /** Hidden-state indices, in the store's order. */
  layers: number[];
  /** softmax-normalised weights: mean and sample standard deviation over every trained (seed, fold). */
  mean: number[];
  std: number[];
}

export function layerWeights(layers: number[], trained: ReadonlyMap<string, Float32Array>[]): LayerWeights {
  const per = trained.map((p) => softmax(p.get(LAYER_WEIGHTS_PARAM)!));
  return {
    layers: [...layers],
    mean: layers.map((_, l) => per.reduce((a, w) => a + w[l], 0) / per.length),
    std: layers.map((_, l) => sampleStd(per.map((w) => w[l]))),
  };
}

registerHead({
  name: "weighted-layers",
  help: () => {
    const s = SUPERB_LINEAR;
    return (
      `softmax-weighted sum of a layer store's layers (SUPERB; weights start equal; --layer-norm normalises each layer first), then ` +
      `--base linear (default): Linear(D, ${s.hidden}) -> Linear(${s.hidden}, C) as s3prl's emotion downstream, AdamW lr ${s.lr}, weight decay ${s.weightDecay}, ` +
      `batch ${s.batchSize}, ${s.epochs} epochs, tests the best validation macro-F1 epoch; --base mlp: the mlp head with its settings`
    );
  },
  defaults,
  check,
  forward,
  report(arch, trained, title) {
    const layers = arch.inputs[0].layers!;
    if (layers.length < 2 || trained.length === 0) return undefined;
    const lw = layerWeights(layers, trained);
    return { metrics: { layer_weights: lw }, plots: [{ name: "layer_weights", svg: layerWeightsSvg(lw, `${title}: learned layer weights`, trained.length) }] };
  },
});
