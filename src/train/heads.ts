/**
 * The probe heads and their reference training settings, and the ONNX models built from them:
 * a training model (inputs, targets, row weights, parameters, dropout masks -> loss, logits, gradients)
 * and an inference model (inputs -> logits, probabilities), with the parameters either as inputs (for
 * evaluation during training) or baked in as initializers (the exported head).
 */
import { EmofeatError, EXIT, UsageError } from "../errors.js";
import { GraphBuilder, type FloatType, type MaskSpec, type ParamSpec, type Tensor } from "./graph/builder.js";
import { isFusionHead, type AttentionSink, type FusionArch, type FusionSettings } from "./heads/fusion.js";
import type { OnnxModelSpec } from "./onnx/proto.js";
import { formatLayers } from "./layer-select.js";
import { headModule, moduleHeadNames, type ModuleHeadName } from "./heads/registry.js";
// Heads in their own modules register themselves on import.
import "./heads/weighted-layers.js";
import "./heads/fusion.js";

export const HEAD_NAMES = ["mlp", "linear", "concat-linear", "concat-mlp"] as const;
type BuiltinHeadName = (typeof HEAD_NAMES)[number];
export type HeadName = BuiltinHeadName | ModuleHeadName;

/** Every head `--head` accepts: the built-in ones above and the registered head modules. */
export function headNames(): HeadName[] {
  return [...HEAD_NAMES, ...moduleHeadNames()];
}

/** Which checkpoint is evaluated: the epoch with the best validation macro-F1 or accuracy, or the last epoch. */
export type Selection = "best-val-macro-f1" | "best-val-accuracy" | "last";

export interface TrainSettings {
  epochs: number;
  batchSize: number;
  lr: number;
  weightDecay: number;
  /** Hidden width (mlp heads). */
  hidden: number;
  /** Dropout before the first layer and after the hidden activation (mlp heads). */
  dropoutIn: number;
  dropoutHidden: number;
  select: Selection;
  /** weighted-layers: the classifier on the weighted sum of layers. */
  base?: "linear" | "mlp";
  /** weighted-layers: LayerNorm (no affine parameters) of each layer before the weighted sum. */
  layerNorm?: boolean;
  /** Fusion heads (heads/fusion.ts): their own settings; the dropout p is dropoutIn (= dropoutHidden). */
  fusion?: Partial<FusionSettings>;
}

/** The reference's settings per head (the table). */
export const HEAD_DEFAULTS: Record<BuiltinHeadName, TrainSettings> = {
  mlp: { epochs: 50, batchSize: 256, lr: 1e-3, weightDecay: 0.01, hidden: 256, dropoutIn: 0.1, dropoutHidden: 0.3, select: "best-val-macro-f1" },
  linear: { epochs: 50, batchSize: 256, lr: 1e-3, weightDecay: 0.01, hidden: 0, dropoutIn: 0, dropoutHidden: 0, select: "best-val-macro-f1" },
  "concat-linear": { epochs: 10, batchSize: 64, lr: 1e-3, weightDecay: 1e-2, hidden: 0, dropoutIn: 0, dropoutHidden: 0, select: "last" },
  "concat-mlp": { epochs: 50, batchSize: 256, lr: 1e-3, weightDecay: 0.01, hidden: 256, dropoutIn: 0.1, dropoutHidden: 0.3, select: "best-val-macro-f1" },
};

/** A head's settings: its defaults with the user's overrides applied. */
export function headSettings(head: HeadName, overrides: Partial<TrainSettings> = {}): TrainSettings {
  const mod = headModule(head);
  if (mod) return mod.defaults(overrides);
  const base = HEAD_DEFAULTS[head as BuiltinHeadName];
  if (!base) throw new EmofeatError(`unknown head "${head}" (choose one of ${headNames().join(", ")})`);
  if (overrides.base !== undefined || overrides.layerNorm)
    throw new EmofeatError(`--base and --layer-norm belong to --head weighted-layers, not --head ${head}`, { exitCode: EXIT.usage });
  return { ...base, ...overrides };
}

export interface HeadInput {
  /** Feature store name as given on the command line (e.g. "text"); also the ONNX input name. */
  name: string;
  /** Values per row: D, or L * D for L layers of a layer store (the row-major flattening of [L, D]). */
  dim: number;
  /** Layer stores: the hidden-state indices this input holds, in order. */
  layers?: number[];
  /** A padded sequence per utterance ([N, T, dim] + mask [N, T]) instead of one vector (fusion heads). */
  sequence?: boolean;
}

/** Everything that fixes the head's graph. */
export interface HeadArch {
  head: HeadName;
  /** In concatenation order. */
  inputs: HeadInput[];
  numClasses: number;
  hidden: number;
  dropoutIn: number;
  dropoutHidden: number;
  /** weighted-layers options (see TrainSettings). */
  base?: "linear" | "mlp";
  layerNorm?: boolean;
  /** Fusion heads: the resolved settings (heads/fusion.ts). */
  fusion?: FusionArch;
}

export function isConcatHead(h: HeadName): boolean {
  return h.startsWith("concat-");
}

export function checkArch(a: HeadArch): void {
  if (a.inputs.length === 0) throw new EmofeatError("no feature stores given");
  if (isFusionHead(a.head) !== (a.fusion !== undefined)) throw new Error(`internal: head ${a.head} with${a.fusion ? "" : "out"} fusion settings`);
  const seq = a.inputs.find((i) => i.sequence);
  if (seq && !isFusionHead(a.head))
    throw new EmofeatError(
      `--head ${a.head} takes one vector per utterance, but store "${seq.name}" holds sequences (pooling none); use a fusion head (beta-gate, fusion, fusion-decoder) or a pooled store`,
    );
  const mod = headModule(a.head);
  if (mod) return mod.check(a);
  for (const i of a.inputs)
    if (i.layers && i.layers.length > 1)
      throw new EmofeatError(
        `feature store "${i.name}" holds ${i.layers.length} encoder layers (hidden states ${formatLayers(i.layers)}) and --head ${a.head} takes one vector per utterance: ` +
          `pick a layer with --layers K, train one probe per layer with --per-layer, or learn a weighted sum of the layers with --head weighted-layers`,
      );
  if (!isConcatHead(a.head) && a.inputs.length > 1)
    throw new EmofeatError(
      `--head ${a.head} takes one feature store, got ${a.inputs.length} (${a.inputs.map((i) => i.name).join(", ")}); ` +
        `use --head concat-${a.head} to concatenate them`,
    );
  if (a.numClasses < 2) throw new EmofeatError(`need at least 2 classes to train a classifier, got ${a.numClasses}`);
  if ((a.head === "mlp" || a.head === "concat-mlp") && !(a.hidden >= 1)) throw new UsageError(`--hidden must be a positive integer`);
  for (const p of [a.dropoutIn, a.dropoutHidden]) if (!(p >= 0 && p < 1)) throw new EmofeatError(`dropout must be in [0, 1), got ${p}`);
}

/** torch.nn.Linear's default initialisation: kaiming_uniform(a=sqrt(5)) = U(+-1/sqrt(fan_in)) for weight and bias. */
export function linearParams(g: GraphBuilder, name: string, inDim: number, outDim: number): { w: Tensor; b: Tensor } {
  const bound = 1 / Math.sqrt(inDim);
  return {
    w: g.param(`${name}.weight`, [outDim, inDim], { kind: "uniform", bound }),
    b: g.param(`${name}.bias`, [outDim], { kind: "uniform", bound }),
  };
}

/** The head's forward pass: inputs -> logits [N, C]. */
export function buildHeadForward(g: GraphBuilder, arch: HeadArch, xs: Tensor[]): Tensor {
  const mod = headModule(arch.head);
  if (mod) return mod.forward(g, arch, xs);
  const x = g.concat(xs, 1);
  const d = arch.inputs.reduce((a, i) => a + i.dim, 0);
  if (arch.head === "linear" || arch.head === "concat-linear") {
    const fc = linearParams(g, "fc", d, arch.numClasses);
    return g.linear(x, fc.w, fc.b);
  }
  // LayerNorm(D) -> Dropout -> Linear(D, H) -> ReLU -> Dropout -> Linear(H, C)
  const ln = {
    w: g.param("norm.weight", [d], { kind: "constant", value: 1 }),
    b: g.param("norm.bias", [d], { kind: "constant", value: 0 }),
  };
  const fc1 = linearParams(g, "fc1", d, arch.hidden);
  const fc2 = linearParams(g, "fc2", arch.hidden, arch.numClasses);
  let h = g.dropout(g.layerNorm(x, ln.w, ln.b, 1e-5), arch.dropoutIn, "dropout_in");
  h = g.relu(g.linear(h, fc1.w, fc1.b));
  h = g.dropout(h, arch.dropoutHidden, "dropout_hidden");
  return g.linear(h, fc2.w, fc2.b);
}

export const BATCH = "N";

export interface TrainingModel {
  model: OnnxModelSpec;
  params: ParamSpec[];
  masks: MaskSpec[];
  /** Parameters without a gradient path (AdamW then only decays them, as torch does with zero gradients). */
  noGrad: string[];
}

/** The run-time length of a sequence input, and the name of its mask input. */
export const seqDim = (input: string) => `T_${input}`;
export const maskInput = (input: string) => `${input}.mask`;

/** Graph inputs of the head: [N, D] per store, or [N, T, D] and its mask [N, T] for sequence stores. */
function declareInputs(g: GraphBuilder, arch: HeadArch): { xs: Tensor[]; masks: (Tensor | undefined)[] } {
  const xs: Tensor[] = [];
  const masks: (Tensor | undefined)[] = [];
  for (const i of arch.inputs) {
    xs.push(g.input(i.name, i.sequence ? [BATCH, seqDim(i.name), i.dim] : [BATCH, i.dim]));
    masks.push(i.sequence ? g.input(maskInput(i.name), [BATCH, seqDim(i.name)]) : undefined);
  }
  return { xs, masks };
}

function forward(g: GraphBuilder, arch: HeadArch, xs: Tensor[], masks: (Tensor | undefined)[], sink?: AttentionSink): { logits: Tensor; beta?: Tensor } {
  const mod = headModule(arch.head);
  if (mod?.forwardWithMasks) return mod.forwardWithMasks(g, arch, xs, masks, sink);
  return { logits: buildHeadForward(g, arch, xs) };
}

/** Whether the head is trained with one sigmoid per class (binary cross-entropy) instead of a softmax. */
export function usesSigmoid(arch: HeadArch): boolean {
  return arch.fusion?.loss === "bce";
}

/**
 * inputs..., targets [N, C] (one-hot), weights [N], params..., masks... -> loss, logits, (beta), grad.<param>...
 * Parameters the loss does not depend on get no gradient output and are listed in `noGrad`.
 */
export function buildTrainingModel(arch: HeadArch, dtype: FloatType = "float32"): TrainingModel {
  const g = new GraphBuilder({ dtype, mode: "train" });
  const { xs, masks } = declareInputs(g, arch);
  const targets = g.input("targets", [BATCH, arch.numClasses]);
  const weights = g.input("weights", [BATCH]);
  const { logits, beta } = forward(g, arch, xs, masks);
  const loss = usesSigmoid(arch) ? g.bceWithLogits(logits, targets, weights) : g.softmaxCrossEntropy(logits, targets, weights);
  g.output(loss, "loss");
  g.output(logits, "logits");
  if (beta) g.output(beta, "beta");
  const grads = g.gradientsOrNone(loss, g.paramTensors);
  const noGrad: string[] = [];
  grads.forEach((t, i) => (t ? g.output(t, `grad.${g.params[i].name}`) : noGrad.push(g.params[i].name)));
  return { model: g.toModel(`${arch.head}_train`), params: [...g.params], masks: [...g.masks], noGrad };
}

/**
 * inputs... (and params... unless `paramValues` bakes them in) -> logits [N, C], probs [N, C] (softmax, or one
 * sigmoid per class for bce heads), and for gated heads beta [N]. With `attention`, also every attention map
 * averaged over heads as `attn.<module>` [N, Tq, Tk] (sequence heads, for predict --explain).
 */
export function buildInferenceModel(
  arch: HeadArch,
  paramValues?: ReadonlyMap<string, Float32Array>,
  extra: { docString?: string; metadata?: Record<string, string>; producerVersion?: string } = {},
  o: { attention?: boolean } = {},
): { model: OnnxModelSpec; params: ParamSpec[]; attention: string[] } {
  const g = new GraphBuilder({ dtype: "float32", mode: "infer", paramValues });
  const { xs, masks } = declareInputs(g, arch);
  const maps: { name: string; t: Tensor }[] = [];
  const { logits, beta } = forward(g, arch, xs, masks, o.attention ? (name, t) => maps.push({ name: `attn.${name}`, t }) : undefined);
  g.output(logits, "logits");
  g.output(usesSigmoid(arch) ? g.sigmoid(logits) : g.softmax(logits, -1), "probs");
  if (beta) g.output(beta, "beta");
  for (const m of maps) g.output(m.t, m.name);
  if (paramValues) {
    const missing = g.params.filter((p) => !paramValues.has(p.name)).map((p) => p.name);
    if (missing.length > 0) throw new Error(`internal: no values for parameter(s) ${missing.join(", ")}`);
  }
  return { model: g.toModel(`${arch.head}_head`, extra), params: [...g.params], attention: maps.map((m) => m.name) };
}
