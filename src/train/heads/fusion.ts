/**
 * The fusion heads of the reference system (TACFN style), as graph-builder code: `beta-gate` (the beta-adaptive
 * gate alone), `fusion` (cross-modal blocks -> gate -> masked mean -> classifier) and `fusion-decoder`
 * (cross-modal blocks -> gate -> emotion-query decoder). The equations are those of issue #10 and
 * docs/training.md; the PyTorch reference built from torch.nn modules is bench/torch_fusion.py.
 *
 * Inputs are two stores, "a" (audio, first) and "t" (text, second), each either one vector per utterance
 * ([N, D]) or a padded sequence ([N, T, D] with a mask [N, T], 1 = real position). One vector per utterance is
 * a sequence of length 1 and is kept as a rank-2 tensor throughout: attention over a single key is the value
 * projection (softmax over one key is identically 1), so those heads are plain GEMMs, and the query and key
 * projections get no gradient (the engine still applies AdamW's weight decay to them, as torch does).
 *
 * Parameter names follow the PyTorch modules' state_dict, except that nn.MultiheadAttention's packed
 * in_proj_weight / in_proj_bias [3d, d] are kept as q_proj / k_proj / v_proj (rows 0..d, d..2d, 2d..3d).
 */
import { EmofeatError, UsageError } from "../../errors.js";
import type { GraphBuilder, ParamInit, Tensor } from "../graph/builder.js";
import type { Dim } from "../graph/shape.js";
import type { HeadArch, TrainSettings } from "../heads.js";
import { registerHead } from "./registry.js";

export const FUSION_HEADS = ["beta-gate", "fusion", "fusion-decoder"] as const;
export type FusionHeadName = (typeof FUSION_HEADS)[number];

export function isFusionHead(h: string): h is FusionHeadName {
  return (FUSION_HEADS as readonly string[]).includes(h);
}

export type GateKind = "vector" | "scalar";
/** How the gated audio and text positions are combined (see docs/training.md). */
export type FuseLength = "both" | "text";
export type FusionLoss = "ce" | "bce";

/** Command-line settings of the fusion heads (undefined = default). */
export interface FusionSettings {
  dModel?: number;
  attnHeads: number;
  blocks: number;
  gate: GateKind;
  decoderLayers: number;
  loss: FusionLoss;
  fuseLength?: FuseLength;
}

export const FUSION_DEFAULTS: FusionSettings = { attnHeads: 8, blocks: 2, gate: "vector", decoderLayers: 2, loss: "ce" };

/** Everything that fixes a fusion head's graph beyond the generic HeadArch fields. */
export interface FusionArch {
  dModel: number;
  attnHeads: number;
  /** Cross-modal blocks (0 for beta-gate). */
  blocks: number;
  gate: GateKind;
  gateHidden: number;
  decoderLayers: number;
  decoderFfn: number;
  loss: FusionLoss;
  fuseLength: FuseLength;
  dropout: number;
  /** Per input: a padded sequence with a mask (true) or one vector per utterance (false). */
  sequence: boolean[];
  /** Whether the stores are projected to dModel (their widths differ from it, or from each other). */
  project: boolean;
}

export interface FusionInputInfo {
  name: string;
  dim: number;
  sequence: boolean;
  modality?: string;
}

/** Resolves and checks the settings of a fusion head for its two inputs. */
export function resolveFusionArch(head: FusionHeadName, inputs: FusionInputInfo[], s: Partial<FusionSettings>, dropout: number): FusionArch {
  if (inputs.length !== 2)
    throw new EmofeatError(
      `--head ${head} takes exactly two feature stores, audio first and text second (e.g. --features audio=DIR1,text=DIR2); ` +
        `got ${inputs.length}${inputs.length > 0 ? ` (${inputs.map((i) => i.name).join(", ")})` : ""}`,
    );
  if (inputs[0].modality === "text" && inputs[1].modality === "audio")
    throw new EmofeatError(
      `--head ${head}: the first store is "a" (audio) and the second "t" (text), but "${inputs[0].name}" holds text and "${inputs[1].name}" audio; swap them in --features`,
    );
  const o = { ...FUSION_DEFAULTS, ...Object.fromEntries(Object.entries(s).filter(([, v]) => v !== undefined)) } as FusionSettings;
  const [da, dt] = [inputs[0].dim, inputs[1].dim];
  const dModel = o.dModel ?? Math.min(da, dt);
  const posInt = (v: number, flag: string, min = 1) => {
    if (!(Number.isInteger(v) && v >= min)) throw new UsageError(`${flag} must be an integer >= ${min}, got ${v}`);
  };
  posInt(dModel, "--d-model");
  posInt(o.attnHeads, "--attn-heads");
  if (head !== "beta-gate" && dModel % o.attnHeads !== 0) throw new UsageError(`--d-model ${dModel} must be divisible by --attn-heads ${o.attnHeads}`);
  if (head === "beta-gate") {
    if (s.blocks !== undefined && s.blocks !== 0) throw new UsageError(`--blocks does not apply to --head beta-gate (the gate alone); use --head fusion`);
  } else posInt(o.blocks, "--blocks", 0);
  if (head === "fusion-decoder") posInt(o.decoderLayers, "--decoder-layers");
  else if (s.decoderLayers !== undefined) throw new UsageError(`--decoder-layers applies to --head fusion-decoder only`);
  if (!(dropout >= 0 && dropout < 1)) throw new UsageError(`--dropout must be in [0, 1), got ${dropout}`);
  const sequence = inputs.map((i) => i.sequence);
  return {
    dModel,
    attnHeads: o.attnHeads,
    blocks: head === "beta-gate" ? 0 : o.blocks,
    gate: o.gate,
    gateHidden: 256,
    decoderLayers: head === "fusion-decoder" ? o.decoderLayers : 0,
    decoderFfn: 2048,
    loss: o.loss,
    // One vector per store is one aligned position each: fused = w a_n + (1 - w) t_n (the equation).
    fuseLength: o.fuseLength ?? (sequence.some(Boolean) ? "both" : "text"),
    dropout,
    sequence,
    project: !(da === dModel && dt === dModel),
  };
}

/** Positions of one stream: one vector per utterance ([B, d]) or a padded sequence ([B, T, d] + mask [B, T]). */
interface Seq {
  x: Tensor;
  mask?: Tensor;
  single: boolean;
}

/** Collects attention maps (averaged over heads) for `predict --explain`. */
export type AttentionSink = (name: string, weights: Tensor) => void;

const linearBound = (fanIn: number): ParamInit => ({ kind: "uniform", bound: 1 / Math.sqrt(fanIn) });
const ZERO: ParamInit = { kind: "constant", value: 0 };
const ONE: ParamInit = { kind: "constant", value: 1 };

class FusionGraph {
  constructor(
    readonly g: GraphBuilder,
    readonly f: FusionArch,
    readonly sink?: AttentionSink,
  ) {}

  /** torch.nn.Linear (weight and bias U(+-1/sqrt(fan_in))) unless inits are given. */
  linear(name: string, x: Tensor, inDim: number, outDim: number, init?: { w: ParamInit; b: ParamInit }): Tensor {
    const w = this.g.param(`${name}.weight`, [outDim, inDim], init?.w ?? linearBound(inDim));
    const b = this.g.param(`${name}.bias`, [outDim], init?.b ?? linearBound(inDim));
    return this.g.linear(x, w, b);
  }

  layerNorm(name: string, x: Tensor): Tensor {
    const d = this.f.dModel;
    return this.g.layerNorm(x, this.g.param(`${name}.weight`, [d], ONE), this.g.param(`${name}.bias`, [d], ZERO), 1e-5);
  }

  drop(x: Tensor, name: string): Tensor {
    return this.g.dropout(x, this.f.dropout, `drop.${name}`);
  }

  /**
   * torch.nn.MultiheadAttention(d, heads, dropout) on (query q, key = value kv, key_padding_mask from kv's
   * mask): xavier_uniform q/k/v projections with zero biases, scaled dot product, masked softmax, dropout on the
   * attention weights, output projection (Linear init, zero bias). The result has q's layout.
   */
  mha(name: string, q: Seq, kv: Seq): Tensor {
    const { g } = this;
    const d = this.f.dModel;
    const h = this.f.attnHeads;
    const dh = d / h;
    const xavier: ParamInit = { kind: "uniform", bound: Math.sqrt(6 / (d + 3 * d)) };
    const proj = { w: xavier, b: ZERO };
    const outInit = { w: linearBound(d), b: ZERO };
    if (kv.single) {
      // One key: every weight is 1 (dropout still drops whole heads per query), so the output is the value
      // projection of the key; q/k projections exist (same parameters as torch) but take no part.
      for (const p of ["q_proj", "k_proj"]) {
        g.param(`${name}.${p}.weight`, [d, d], xavier);
        g.param(`${name}.${p}.bias`, [d], ZERO);
      }
      const v = this.linear(`${name}.v_proj`, kv.x, d, d, proj); // [B, d]
      if (q.single) {
        const keep = g.dropoutMask(["N", h, 1], this.f.dropout, `drop.${name}.attn`);
        const vd = keep ? g.reshape(g.mul(g.reshape(v, ["N", h, dh]), keep), ["N", d]) : v;
        return this.linear(`${name}.out_proj`, vd, d, d, outInit);
      }
      const tq = q.x.shape[1];
      const keep = g.dropoutMask(["N", tq, h, 1], this.f.dropout, `drop.${name}.attn`);
      if (!keep) return g.unsqueeze(this.linear(`${name}.out_proj`, v, d, d, outInit), [1]); // [B, 1, d], broadcast over q
      const vq = g.mul(g.reshape(v, ["N", 1, h, dh]), keep); // [B, Tq, H, dh]
      return this.linear(`${name}.out_proj`, g.reshape(vq, ["N", tq, d]), d, d, outInit);
    }
    const qx = q.single ? g.unsqueeze(q.x, [1]) : q.x;
    const tq = qx.shape[1];
    const tk = kv.x.shape[1];
    const heads = (x: Tensor, t: Dim, perm: number[]) => g.transpose(g.reshape(x, ["N", t, h, dh]), perm);
    const Q = heads(this.linear(`${name}.q_proj`, qx, d, d, proj), tq, [0, 2, 1, 3]); // [B, H, Tq, dh]
    const K = heads(this.linear(`${name}.k_proj`, kv.x, d, d, proj), tk, [0, 2, 3, 1]); // [B, H, dh, Tk]
    const V = heads(this.linear(`${name}.v_proj`, kv.x, d, d, proj), tk, [0, 2, 1, 3]); // [B, H, Tk, dh]
    const scores = g.matmul(g.scale(Q, 1 / Math.sqrt(dh)), K); // [B, H, Tq, Tk]
    let w = kv.mask ? g.maskedSoftmax(scores, g.unsqueeze(kv.mask, [1, 2]), -1) : g.softmax(scores, -1);
    this.sink?.(name, g.reduceMean(w, [1], false)); // [B, Tq, Tk], averaged over heads as torch's need_weights
    w = g.dropout(w, this.f.dropout, `drop.${name}.attn`);
    const o = g.reshape(g.transpose(g.matmul(w, V), [0, 2, 1, 3]), ["N", tq, d]); // [B, Tq, d]
    const out = this.linear(`${name}.out_proj`, o, d, d, outInit);
    return q.single ? g.squeeze(out, [1]) : out;
  }

  /** FFN(x) = Linear(d, 4d) -> ReLU -> Linear(4d, d). */
  ffn(name: string, x: Tensor): Tensor {
    const d = this.f.dModel;
    return this.linear(`${name}.lin2`, this.g.relu(this.linear(`${name}.lin1`, x, d, 4 * d)), 4 * d, d);
  }

  /** x + Drop(y); y is [B, 1, d] against x [B, T, d] only without dropout (one key, broadcast over the queries). */
  residual(x: Tensor, y: Tensor, dropName: string): Tensor {
    return this.g.add(x, this.drop(y, dropName));
  }

  /** One cross-modal block: intra-modal self-attention, then audio attends to text and text to audio, FFNs. */
  block(i: number, a: Seq, t: Seq): [Seq, Seq] {
    const P = `blocks.${i}`;
    const a1: Seq = { ...a, x: this.layerNorm(`${P}.norm_a1`, this.residual(a.x, this.mha(`${P}.self_a`, a, a), `${P}.self_a`)) };
    const t1: Seq = { ...t, x: this.layerNorm(`${P}.norm_t1`, this.residual(t.x, this.mha(`${P}.self_t`, t, t), `${P}.self_t`)) };
    const a2 = this.layerNorm(`${P}.norm_a2`, this.residual(a1.x, this.mha(`${P}.a_to_t`, a1, t1), `${P}.a_to_t`));
    const a3 = this.layerNorm(`${P}.norm_a3`, this.residual(a2, this.ffn(`${P}.ffn_a`, a2), `${P}.ffn_a`));
    const t2 = this.layerNorm(`${P}.norm_t2`, this.residual(t1.x, this.mha(`${P}.t_to_a`, t1, a1), `${P}.t_to_a`));
    const t3 = this.layerNorm(`${P}.norm_t3`, this.residual(t2, this.ffn(`${P}.ffn_t`, t2), `${P}.ffn_t`));
    return [{ ...a, x: a3 }, { ...t, x: t3 }];
  }

  /** Mean over real positions ([B, T, d] -> [B, d]); a row without any gives zeros. */
  maskedMean(s: Seq): Tensor {
    if (s.single) return s.x;
    const { g } = this;
    const m = s.mask!;
    const sum = g.reduceSum(g.mul(s.x, g.unsqueeze(m, [2])), [1], false);
    return g.div(sum, g.clampMin(g.reduceSum(m, [1], true), 1));
  }

  /** The beta gate: normalised streams, the gate w [B, d] (vector) or [B, 1] (scalar), and beta [B]. */
  gate(a: Seq, t: Seq): { an: Seq; tn: Seq; w: Tensor; beta: Tensor } {
    const { g, f } = this;
    const d = f.dModel;
    const vector = f.gate === "vector";
    const an: Seq = vector ? { ...a, x: this.layerNorm("gate.norm_a", a.x) } : a;
    const tn: Seq = vector ? { ...t, x: this.layerNorm("gate.norm_t", t.x) } : t;
    const ab = this.maskedMean(an);
    const tb = this.maskedMean(tn);
    const feats = g.concat([ab, tb, g.abs(g.sub(ab, tb)), g.mul(ab, tb)], 1); // [B, 4d]
    const hidden = g.relu(this.linear("gate.fc1", feats, 4 * d, f.gateHidden));
    const w = g.sigmoid(this.linear("gate.fc2", hidden, f.gateHidden, vector ? d : 1));
    const beta = vector ? g.reduceMean(w, [1], false) : g.squeeze(w, [1]);
    return { an, tn, w, beta };
  }

  /** As a length-1 sequence with an all-ones mask. */
  asSequence(s: Seq): Seq {
    if (!s.single) return s;
    const { g } = this;
    const ones = g.expand(g.constant([1], [1, 1]), ["N", 1], g.shapeTensor([{ of: s.x, axis: 0 }, 1]));
    return { x: g.unsqueeze(s.x, [1]), mask: ones, single: false };
  }

  /** w * a_n + (1 - w) * t_n by the length rule (see FuseLength). */
  fuse(an: Seq, tn: Seq, w: Tensor): Seq {
    const { g, f } = this;
    const oneMinus = g.sub(g.scalar(1), w);
    if (an.single && tn.single && f.fuseLength === "text") return { x: g.add(g.mul(w, an.x), g.mul(oneMinus, tn.x)), single: true };
    const a = this.asSequence(an);
    const t = this.asSequence(tn);
    const w3 = g.unsqueeze(w, [1]);
    const m3 = g.unsqueeze(oneMinus, [1]);
    if (f.fuseLength === "both")
      return { x: g.concat([g.mul(w3, a.x), g.mul(m3, t.x)], 1), mask: g.concat([a.mask!, t.mask!], 1), single: false };
    // The reference's rule: audio position i is fused with token i over the text's length; audio positions
    // past the audio's own end count as zero.
    const len = g.dimOf(t.x, 1);
    const aFit = g.fitLength(g.mul(a.x, g.unsqueeze(a.mask!, [2])), 1, len, t.x.shape[1]);
    return { x: g.add(g.mul(w3, aFit), g.mul(m3, t.x)), mask: t.mask, single: false };
  }

  classifier(x: Tensor, numClasses: number): Tensor {
    const d = this.f.dModel;
    const h = this.g.relu(this.linear("classifier.fc1", this.layerNorm("classifier.norm", x), d, d));
    return this.linear("classifier.fc2", this.drop(h, "classifier"), d, numClasses);
  }

  /** C learnable queries through nn.TransformerDecoderLayer-style layers over the fused positions -> C logits. */
  decoder(fused: Seq, numClasses: number): Tensor {
    const { g, f } = this;
    const d = f.dModel;
    const queries = g.param("decoder.queries", [numClasses, d], { kind: "normal", std: 1 });
    let q: Seq = { x: g.expand(queries, ["N", numClasses, d], g.shapeTensor([{ of: fused.x, axis: 0 }, numClasses, d])), single: false };
    for (let l = 0; l < f.decoderLayers; l++) {
      const P = `decoder.layers.${l}`;
      q = { ...q, x: this.layerNorm(`${P}.norm1`, this.residual(q.x, this.mha(`${P}.self_attn`, q, q), `${P}.self_attn`)) };
      q = { ...q, x: this.layerNorm(`${P}.norm2`, this.residual(q.x, this.mha(`${P}.multihead_attn`, q, fused), `${P}.multihead_attn`)) };
      const hidden = this.drop(g.relu(this.linear(`${P}.linear1`, q.x, d, f.decoderFfn)), `${P}.ffn_hidden`);
      q = { ...q, x: this.layerNorm(`${P}.norm3`, this.residual(q.x, this.linear(`${P}.linear2`, hidden, f.decoderFfn, d), `${P}.ffn`)) };
    }
    return g.squeeze(this.linear("decoder.out", q.x, d, 1), [2]); // [B, C]
  }
}

export interface FusionForward {
  logits: Tensor;
  /** Mean gate value per utterance [N]. */
  beta: Tensor;
}

/**
 * The head's forward pass. `xs`: per input [N, D] or [N, T, D]; `masks`: per sequence input [N, T] (1 = real).
 */
export function buildFusionForward(
  g: GraphBuilder,
  head: FusionHeadName,
  f: FusionArch,
  dims: number[],
  numClasses: number,
  xs: Tensor[],
  masks: (Tensor | undefined)[],
  sink?: AttentionSink,
): FusionForward {
  const fg = new FusionGraph(g, f, sink);
  const d = f.dModel;
  let [a, t]: Seq[] = xs.map((x, i) => ({ x, mask: masks[i], single: !f.sequence[i] }));
  if (f.project) {
    a = { ...a, x: fg.linear("proj_a", a.x, dims[0], d) };
    t = { ...t, x: fg.linear("proj_t", t.x, dims[1], d) };
  }
  for (let i = 0; i < f.blocks; i++) [a, t] = fg.block(i, a, t);
  const { an, tn, w, beta } = fg.gate(a, t);
  const fused = fg.fuse(an, tn, w);
  const logits = head === "fusion-decoder" ? fg.decoder(fused, numClasses) : fg.classifier(fg.maskedMean(fused), numClasses);
  return { logits, beta };
}

/** The reference's training settings per head (issue #10); the dropout p is dropoutIn = dropoutHidden. */
export const FUSION_TRAINING: Record<FusionHeadName, TrainSettings> = {
  "beta-gate": { epochs: 30, batchSize: 64, lr: 1e-4, weightDecay: 1e-2, hidden: 0, dropoutIn: 0.2, dropoutHidden: 0.2, select: "best-val-accuracy" },
  fusion: { epochs: 30, batchSize: 64, lr: 1e-4, weightDecay: 1e-2, hidden: 0, dropoutIn: 0.2, dropoutHidden: 0.2, select: "best-val-accuracy" },
  "fusion-decoder": { epochs: 15, batchSize: 8, lr: 1e-4, weightDecay: 1e-2, hidden: 0, dropoutIn: 0.1, dropoutHidden: 0.1, select: "best-val-accuracy" },
};

const HELP: Record<FusionHeadName, string> = {
  "beta-gate": "beta gate on the two stores -> LayerNorm -> Linear(d, d) -> ReLU -> Dropout -> Linear(d, C)",
  fusion: "cross-modal blocks -> beta gate -> masked mean -> classifier as beta-gate",
  "fusion-decoder": "cross-modal blocks -> beta gate -> C emotion queries through decoder layers -> Linear(d, 1) each",
};

for (const name of FUSION_HEADS) {
  const t = FUSION_TRAINING[name];
  registerHead({
    name,
    help: () =>
      `${HELP[name]}; two stores (audio first, then text), one vector per utterance or sequences; dropout ${t.dropoutIn}; ` +
      `AdamW lr ${t.lr}, weight decay ${t.weightDecay}, batch ${t.batchSize}, ${t.epochs} epochs, tests the best validation accuracy epoch`,
    defaults: (overrides) => {
      if (overrides.base !== undefined || overrides.layerNorm) throw new UsageError(`--base and --layer-norm belong to --head weighted-layers, not --head ${name}`);
      if (overrides.hidden !== undefined) throw new UsageError(`--hidden belongs to the mlp heads; --head ${name} works at --d-model width throughout`);
      return { ...t, ...overrides };
    },
    check: (a: HeadArch) => {
      if (!a.fusion) throw new Error(`internal: --head ${name} without its fusion settings`);
      const layered = a.inputs.find((i) => i.layers && i.layers.length > 1);
      if (layered)
        throw new EmofeatError(
          `feature store "${layered.name}" holds ${layered.layers!.length} encoder layers and --head ${name} takes one vector (or one sequence) per utterance and store: pick a layer with --layers K`,
        );
      if (a.numClasses < 2) throw new EmofeatError(`need at least 2 classes to train a classifier, got ${a.numClasses}`);
    },
    forward: (g, a, xs) => buildFusionForward(g, name, a.fusion!, a.inputs.map((i) => i.dim), a.numClasses, xs, xs.map(() => undefined)).logits,
    forwardWithMasks: (g, a, xs, masks, sink) => buildFusionForward(g, name, a.fusion!, a.inputs.map((i) => i.dim), a.numClasses, xs, masks, sink),
  });
}
