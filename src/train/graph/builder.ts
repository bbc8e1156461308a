/**
 * A small typed builder for ONNX graphs with reverse-mode differentiation.
 *
 * Why: training runs as ONNX graphs in onnxruntime-node (forward and backward in one model, AdamW in JS),
 * which on this machine is ~10x faster than Float32Array loops and faster than PyTorch on CPU for the probe
 * sizes. onnxruntime-node has no training API (that is onnxruntime-training, a separate native build), so
 * the backward graph is written here: every op below emits its forward ONNX node(s) and, while the graph is
 * being built, records a backward rule; `gradients()` walks that tape in reverse and emits the gradient
 * nodes (hand-derived rules, checked against finite differences in tests/train-graph.test.ts). Composite
 * layers (gelu, reduceMean, softmax cross-entropy, linear over sequences) are built from the primitives and
 * get their gradients by composition.
 *
 * Shapes are tracked statically (with symbolic batch dimensions) so that broadcasting can be undone in the
 * backward pass and the emitted models carry exact value infos.
 */
import { ONNX_DTYPE, type AttrValue, type OnnxElemType, type OnnxInitializer, type OnnxModelSpec, type OnnxNode, type OnnxValueInfo } from "../onnx/proto.js";
import { broadcastShapes, normAxis, shapeToString, staticSize, type Dim, type Shape } from "./shape.js";

export type FloatType = "float32" | "float64";

export interface Tensor {
  readonly name: string;
  readonly shape: Shape;
  readonly elemType: OnnxElemType;
}

export type ParamInit = { kind: "uniform"; bound: number } | { kind: "constant"; value: number };

export interface ParamSpec {
  name: string;
  shape: number[];
  init: ParamInit;
}

/** A dropout mask fed at run time: entries are 0 or 1/(1-p), shape like the tensor it masks. */
export interface MaskSpec {
  name: string;
  shape: Shape;
  p: number;
}

export interface BuilderOptions {
  dtype?: FloatType;
  /** "train": dropout masks are graph inputs. "infer": dropout is the identity. */
  mode: "train" | "infer";
  /** When given (infer mode), parameters become initializers with these values (a self-contained model). */
  paramValues?: ReadonlyMap<string, Float32Array | Float64Array>;
}

type FloatArray = Float32Array | Float64Array;

interface TapeEntry {
  op: string;
  inputs: Tensor[];
  outputs: Tensor[];
  /** Gradients of the inputs that `need` one, given the outputs' gradients (undefined = zero). */
  backward(gOut: (Tensor | undefined)[], need: boolean[]): (Tensor | undefined)[];
}

const ints = (value: number[]): AttrValue => ({ kind: "ints", value });
const int = (value: number): AttrValue => ({ kind: "int", value });
const float = (value: number): AttrValue => ({ kind: "float", value });

export class GraphBuilder {
  readonly dtype: FloatType;
  readonly mode: "train" | "infer";
  readonly params: ParamSpec[] = [];
  /** The tensors of `params`, same order. */
  readonly paramTensors: Tensor[] = [];
  readonly masks: MaskSpec[] = [];
  private readonly paramValues?: ReadonlyMap<string, FloatArray>;
  private readonly nodes: OnnxNode[] = [];
  private readonly inputs: OnnxValueInfo[] = [];
  private readonly outputs: OnnxValueInfo[] = [];
  private readonly initializers: OnnxInitializer[] = [];
  private readonly tape: TapeEntry[] = [];
  private readonly requiresGrad = new Set<string>();
  private readonly names = new Set<string>();
  private readonly constCache = new Map<string, Tensor>();
  private taping = true;
  private counter = 0;

  constructor(options: BuilderOptions) {
    this.dtype = options.dtype ?? "float32";
    this.mode = options.mode;
    this.paramValues = options.paramValues;
  }

  // ---------------------------------------------------------------- graph inputs, params, outputs

  input(name: string, shape: Shape, opts: { elemType?: OnnxElemType; grad?: boolean } = {}): Tensor {
    const t = this.declare(name, shape, opts.elemType ?? this.dtype);
    this.inputs.push({ name, elemType: t.elemType, shape: [...shape] });
    if (opts.grad) this.requiresGrad.add(name);
    return t;
  }

  /** A trainable parameter: a graph input while training, an initializer in a self-contained inference model. */
  param(name: string, shape: number[], init: ParamInit): Tensor {
    this.params.push({ name, shape, init });
    const values = this.paramValues?.get(name);
    if (this.mode === "infer" && values) {
      if (values.length !== staticSize(shape, name)) throw new Error(`param ${name}: ${values.length} values for shape ${shapeToString(shape)}`);
      const t = this.declare(name, shape, this.dtype);
      this.initializers.push({ name, elemType: this.dtype, dims: shape, data: values });
      this.paramTensors.push(t);
      return t;
    }
    const t = this.input(name, shape, { grad: this.mode === "train" });
    this.paramTensors.push(t);
    return t;
  }

  /** Names a tensor as a graph output. */
  output(t: Tensor, name: string): Tensor {
    let out = t;
    if (t.name !== name) {
      out = this.declare(name, t.shape, t.elemType);
      this.nodes.push({ opType: "Identity", inputs: [t.name], outputs: [name] });
    }
    this.outputs.push({ name, elemType: out.elemType, shape: [...out.shape] });
    return out;
  }

  constant(values: ArrayLike<number>, shape: number[], elemType: OnnxElemType = this.dtype): Tensor {
    const key = values.length <= 16 ? `${elemType}|${shape.join("x")}|${Array.from(values).join(",")}` : undefined;
    const hit = key !== undefined ? this.constCache.get(key) : undefined;
    if (hit) return hit;
    const t = this.declare(this.fresh("const"), shape, elemType);
    let data: OnnxInitializer["data"];
    if (elemType === "int64") data = BigInt64Array.from(Array.from(values, (v) => BigInt(v)));
    else if (elemType === "float64") data = Float64Array.from(values);
    else if (elemType === "float32") data = Float32Array.from(values);
    else throw new Error(`constant of type ${elemType} not supported`);
    this.initializers.push({ name: t.name, elemType, dims: shape, data });
    if (key !== undefined) this.constCache.set(key, t);
    return t;
  }

  scalar(v: number): Tensor {
    return this.constant([v], []);
  }

  private ints64(v: number[]): Tensor {
    return this.constant(v, [v.length], "int64");
  }

  toModel(graphName: string, extra: Partial<Pick<OnnxModelSpec, "docString" | "metadata" | "producerVersion">> = {}): OnnxModelSpec {
    return {
      graphName,
      nodes: [...this.nodes],
      inputs: [...this.inputs],
      outputs: [...this.outputs],
      initializers: [...this.initializers],
      ...extra,
    };
  }

  // ---------------------------------------------------------------- plumbing

  private fresh(prefix: string): string {
    let name: string;
    do name = `${prefix}_${this.counter++}`;
    while (this.names.has(name));
    return name;
  }

  private declare(name: string, shape: Shape, elemType: OnnxElemType): Tensor {
    if (this.names.has(name)) throw new Error(`graph: tensor name "${name}" used twice`);
    this.names.add(name);
    return { name, shape: [...shape], elemType };
  }

  /** Emits one node; outputs get fresh names. */
  private node(opType: string, inputs: Tensor[], outShapes: Shape[], attrs?: Record<string, AttrValue>, outTypes?: OnnxElemType[]): Tensor[] {
    const outs = outShapes.map((s, i) => this.declare(this.fresh(opType.toLowerCase()), s, outTypes?.[i] ?? this.dtype));
    this.nodes.push({ opType, inputs: inputs.map((t) => t.name), outputs: outs.map((t) => t.name), attrs });
    return outs;
  }

  private record(op: string, inputs: Tensor[], outputs: Tensor[], backward: TapeEntry["backward"]): void {
    if (!this.taping) return;
    if (!inputs.some((t) => this.requiresGrad.has(t.name))) return;
    for (const o of outputs) this.requiresGrad.add(o.name);
    this.tape.push({ op, inputs, outputs, backward });
  }

  /** Sums `g` (shaped like the op's output) down to `target`'s shape, undoing broadcasting. */
  private unbroadcast(g: Tensor, target: Shape): Tensor {
    const lead = g.shape.length - target.length;
    let t = g;
    if (lead > 0) t = this.rawReduceSum(t, [...Array(lead).keys()], false);
    const keep: number[] = [];
    for (let i = 0; i < target.length; i++) if (target[i] === 1 && t.shape[i] !== 1) keep.push(i);
    if (keep.length > 0) t = this.rawReduceSum(t, keep, true);
    return t;
  }

  private rawReduceSum(x: Tensor, axes: number[], keepdims: boolean): Tensor {
    const ax = axes.map((a) => normAxis(a, x.shape.length));
    const shape = x.shape.flatMap((d, i) => (ax.includes(i) ? (keepdims ? [1] : []) : [d]));
    return this.node("ReduceSum", [x, this.ints64(ax)], [shape], { keepdims: int(keepdims ? 1 : 0) })[0];
  }

  private shapeOf(x: Tensor): Tensor {
    return this.node("Shape", [x], [[x.shape.length]], undefined, ["int64"])[0];
  }

  // ---------------------------------------------------------------- elementwise

  add(a: Tensor, b: Tensor): Tensor {
    const [y] = this.node("Add", [a, b], [broadcastShapes(a.shape, b.shape, "add")]);
    this.record("Add", [a, b], [y], ([g], need) => [
      need[0] && g ? this.unbroadcast(g, a.shape) : undefined,
      need[1] && g ? this.unbroadcast(g, b.shape) : undefined,
    ]);
    return y;
  }

  sub(a: Tensor, b: Tensor): Tensor {
    const [y] = this.node("Sub", [a, b], [broadcastShapes(a.shape, b.shape, "sub")]);
    this.record("Sub", [a, b], [y], ([g], need) => [
      need[0] && g ? this.unbroadcast(g, a.shape) : undefined,
      need[1] && g ? this.unbroadcast(this.neg(g), b.shape) : undefined,
    ]);
    return y;
  }

  mul(a: Tensor, b: Tensor): Tensor {
    const [y] = this.node("Mul", [a, b], [broadcastShapes(a.shape, b.shape, "mul")]);
    this.record("Mul", [a, b], [y], ([g], need) => [
      need[0] && g ? this.unbroadcast(this.mul(g, b), a.shape) : undefined,
      need[1] && g ? this.unbroadcast(this.mul(g, a), b.shape) : undefined,
    ]);
    return y;
  }

  div(a: Tensor, b: Tensor): Tensor {
    const [y] = this.node("Div", [a, b], [broadcastShapes(a.shape, b.shape, "div")]);
    // d(a/b)/da = 1/b, d(a/b)/db = -a/b^2 = -y/b
    this.record("Div", [a, b], [y], ([g], need) => [
      need[0] && g ? this.unbroadcast(this.div(g, b), a.shape) : undefined,
      need[1] && g ? this.unbroadcast(this.neg(this.div(this.mul(g, y), b)), b.shape) : undefined,
    ]);
    return y;
  }

  neg(x: Tensor): Tensor {
    const [y] = this.node("Neg", [x], [x.shape]);
    this.record("Neg", [x], [y], ([g]) => [g ? this.neg(g) : undefined]);
    return y;
  }

  /** x * c for a constant c. */
  scale(x: Tensor, c: number): Tensor {
    return this.mul(x, this.scalar(c));
  }

  relu(x: Tensor): Tensor {
    const [y] = this.node("Relu", [x], [x.shape]);
    // Subgradient 0 at x == 0, as torch.
    this.record("Relu", [x], [y], ([g]) => {
      if (!g) return [undefined];
      const [pos] = this.node("Greater", [x, this.scalar(0)], [x.shape], undefined, ["bool"]);
      const [m] = this.node("Cast", [pos], [x.shape], { to: int(ONNX_DTYPE[this.dtype]) });
      return [this.mul(g, m)];
    });
    return y;
  }

  sigmoid(x: Tensor): Tensor {
    const [y] = this.node("Sigmoid", [x], [x.shape]);
    this.record("Sigmoid", [x], [y], ([g]) => [g ? this.mul(g, this.mul(y, this.sub(this.scalar(1), y))) : undefined]);
    return y;
  }

  tanh(x: Tensor): Tensor {
    const [y] = this.node("Tanh", [x], [x.shape]);
    this.record("Tanh", [x], [y], ([g]) => [g ? this.mul(g, this.sub(this.scalar(1), this.mul(y, y))) : undefined]);
    return y;
  }

  exp(x: Tensor): Tensor {
    const [y] = this.node("Exp", [x], [x.shape]);
    this.record("Exp", [x], [y], ([g]) => [g ? this.mul(g, y) : undefined]);
    return y;
  }

  erf(x: Tensor): Tensor {
    let y: Tensor;
    if (this.dtype === "float64") {
      // onnxruntime has no double Erf kernel; the value goes through float32 (gradients stay double).
      const [xf] = this.node("Cast", [x], [x.shape], { to: int(ONNX_DTYPE.float32) }, ["float32"]);
      const [yf] = this.node("Erf", [xf], [x.shape], undefined, ["float32"]);
      [y] = this.node("Cast", [yf], [x.shape], { to: int(ONNX_DTYPE.float64) });
    } else [y] = this.node("Erf", [x], [x.shape]);
    // d erf(x)/dx = 2/sqrt(pi) * exp(-x^2)
    this.record("Erf", [x], [y], ([g]) => {
      if (!g) return [undefined];
      const [e] = this.node("Exp", [this.neg(this.mul(x, x))], [x.shape]);
      return [this.mul(g, this.scale(e, 2 / Math.sqrt(Math.PI)))];
    });
    return y;
  }

  /** Exact (erf) GELU, torch.nn.GELU's default: 0.5 x (1 + erf(x / sqrt 2)). */
  gelu(x: Tensor): Tensor {
    const inner = this.erf(this.scale(x, Math.SQRT1_2));
    return this.mul(this.scale(x, 0.5), this.add(inner, this.scalar(1)));
  }

  // ---------------------------------------------------------------- linear algebra

  /** Batched matrix product with numpy semantics for ranks >= 2 (the batch dims broadcast). */
  matmul(a: Tensor, b: Tensor): Tensor {
    if (a.shape.length < 2 || b.shape.length < 2) throw new Error("matmul: operands must have rank >= 2");
    const [m, k] = a.shape.slice(-2);
    const [k2, n] = b.shape.slice(-2);
    if (k !== k2) throw new Error(`matmul: inner sizes differ: ${shapeToString(a.shape)} x ${shapeToString(b.shape)}`);
    const batch = broadcastShapes(a.shape.slice(0, -2), b.shape.slice(0, -2), "matmul");
    const [y] = this.node("MatMul", [a, b], [[...batch, m, n]]);
    this.record("MatMul", [a, b], [y], ([g], need) => [
      need[0] && g ? this.unbroadcast(this.matmul(g, this.swapLast(b)), a.shape) : undefined,
      need[1] && g ? this.unbroadcast(this.matmul(this.swapLast(a), g), b.shape) : undefined,
    ]);
    return y;
  }

  private swapLast(x: Tensor): Tensor {
    const r = x.shape.length;
    const perm = [...Array(r).keys()];
    [perm[r - 2], perm[r - 1]] = [perm[r - 1], perm[r - 2]];
    return this.transpose(x, perm);
  }

  /**
   * torch.nn.Linear: y = x W^T + b with W [out, in]. Rank-2 inputs use one Gemm node (and Gemm-based
   * gradients); higher ranks (sequences) compose MatMul and Add.
   */
  linear(x: Tensor, w: Tensor, b?: Tensor): Tensor {
    const [out, inn] = w.shape;
    if (x.shape[x.shape.length - 1] !== inn) throw new Error(`linear: input ${shapeToString(x.shape)} does not match weight ${shapeToString(w.shape)}`);
    if (x.shape.length !== 2) {
      const y = this.matmul(x, this.transpose(w, [1, 0]));
      return b ? this.add(y, b) : y;
    }
    const ins = b ? [x, w, b] : [x, w];
    const [y] = this.node("Gemm", ins, [[x.shape[0], out]], { transB: int(1) });
    this.record("Gemm", ins, [y], ([g], need) => {
      if (!g) return [undefined, undefined, undefined];
      const dx = need[0] ? this.node("Gemm", [g, w], [x.shape])[0] : undefined;
      const dw = need[1] ? this.node("Gemm", [g, x], [w.shape], { transA: int(1) })[0] : undefined;
      const db = b && need[2] ? this.rawReduceSum(g, [0], false) : undefined;
      return [dx, dw, db];
    });
    return y;
  }

  // ---------------------------------------------------------------- shape ops

  transpose(x: Tensor, perm: number[]): Tensor {
    if (perm.length !== x.shape.length) throw new Error(`transpose: perm ${perm} for rank ${x.shape.length}`);
    const [y] = this.node("Transpose", [x], [perm.map((p) => x.shape[p])], { perm: ints(perm) });
    const inv = perm.map((_, i) => perm.indexOf(i));
    this.record("Transpose", [x], [y], ([g]) => [g ? this.transpose(g, inv) : undefined]);
    return y;
  }

  /** Reshape to `shape`; at most one symbolic dimension, which is inferred (-1). */
  reshape(x: Tensor, shape: Dim[]): Tensor {
    const sym = shape.filter((d) => typeof d !== "number");
    if (sym.length > 1) throw new Error(`reshape: at most one symbolic dimension, got ${shapeToString(shape)}`);
    const target = this.ints64(shape.map((d) => (typeof d === "number" ? d : -1)));
    const [y] = this.node("Reshape", [x, target], [shape]);
    this.record("Reshape", [x], [y], ([g]) => [g ? this.node("Reshape", [g, this.shapeOf(x)], [x.shape])[0] : undefined]);
    return y;
  }

  concat(xs: Tensor[], axis: number): Tensor {
    if (xs.length === 1) return xs[0];
    const r = xs[0].shape.length;
    const ax = normAxis(axis, r);
    const sizes = xs.map((t) => {
      const d = t.shape[ax];
      if (typeof d !== "number") throw new Error("concat: the concatenated dimension must be static");
      return d;
    });
    const shape = [...xs[0].shape];
    shape[ax] = sizes.reduce((p, q) => p + q, 0);
    const [y] = this.node("Concat", xs, [shape], { axis: int(ax) });
    this.record("Concat", xs, [y], ([g], need) => {
      if (!g || !need.some(Boolean)) return xs.map(() => undefined);
      const parts = this.node("Split", [g, this.ints64(sizes)], xs.map((t) => t.shape), { axis: int(ax) });
      return parts.map((p, i) => (need[i] ? p : undefined));
    });
    return y;
  }

  // ---------------------------------------------------------------- reductions and normalisation

  reduceSum(x: Tensor, axes: number[], keepdims = false): Tensor {
    const y = this.rawReduceSum(x, axes, keepdims);
    const ax = axes.map((a) => normAxis(a, x.shape.length));
    this.record("ReduceSum", [x], [y], ([g]) => {
      if (!g) return [undefined];
      const gk = keepdims ? g : this.node("Unsqueeze", [g, this.ints64(ax)], [x.shape.map((d, i) => (ax.includes(i) ? 1 : d))])[0];
      return [this.node("Expand", [gk, this.shapeOf(x)], [x.shape])[0]];
    });
    return y;
  }

  /** Mean over static axes (a batch mean is a weighted sum; see softmaxCrossEntropy). */
  reduceMean(x: Tensor, axes: number[], keepdims = false): Tensor {
    const count = staticSize(axes.map((a) => x.shape[normAxis(a, x.shape.length)]), "reduceMean");
    return this.scale(this.reduceSum(x, axes, keepdims), 1 / count);
  }

  /** torch.nn.LayerNorm over the last dimension (biased variance, eps inside the square root). */
  layerNorm(x: Tensor, w: Tensor, b: Tensor, eps = 1e-5): Tensor {
    const d = x.shape[x.shape.length - 1];
    if (w.shape.length !== 1 || w.shape[0] !== d || b.shape.length !== 1 || b.shape[0] !== d)
      throw new Error(`layerNorm: weight/bias must be [${d}]`);
    const statShape = [...x.shape.slice(0, -1), 1];
    let y: Tensor, mean: Tensor, rstd: Tensor;
    let xhat: Tensor | undefined;
    if (this.dtype === "float32") {
      [y, mean, rstd] = this.node("LayerNormalization", [x, w, b], [x.shape, statShape, statShape], { axis: int(-1), epsilon: float(eps) });
    } else {
      // onnxruntime has no double LayerNormalization kernel: the same statistics from primitives.
      [mean] = this.node("ReduceMean", [x], [statShape], { axes: ints([-1]), keepdims: int(1) });
      const [xc] = this.node("Sub", [x, mean], [x.shape]);
      const [sq] = this.node("Mul", [xc, xc], [x.shape]);
      const [vr] = this.node("ReduceMean", [sq], [statShape], { axes: ints([-1]), keepdims: int(1) });
      const [ve] = this.node("Add", [vr, this.scalar(eps)], [statShape]);
      const [sd] = this.node("Sqrt", [ve], [statShape]);
      [rstd] = this.node("Reciprocal", [sd], [statShape]);
      [xhat] = this.node("Mul", [xc, rstd], [x.shape]);
      const [xw] = this.node("Mul", [xhat, w], [x.shape]);
      [y] = this.node("Add", [xw, b], [x.shape]);
    }
    this.record("LayerNorm", [x, w, b], [y], ([g], need) => {
      if (!g) return [undefined, undefined, undefined];
      const xh = xhat ?? this.node("Mul", [this.node("Sub", [x, mean], [x.shape])[0], rstd], [x.shape])[0];
      const lead = [...Array(x.shape.length - 1).keys()];
      const dw = need[1] ? this.rawReduceSum(this.mul(g, xh), lead, false) : undefined;
      const db = need[2] ? this.rawReduceSum(g, lead, false) : undefined;
      let dx: Tensor | undefined;
      if (need[0]) {
        // dx = rstd * (gh - mean(gh) - xhat * mean(gh * xhat)), gh = g * w, means over the last axis
        const gh = this.mul(g, w);
        const [m1] = this.node("ReduceMean", [gh], [statShape], { axes: ints([-1]), keepdims: int(1) });
        const [m2] = this.node("ReduceMean", [this.mul(gh, xh)], [statShape], { axes: ints([-1]), keepdims: int(1) });
        dx = this.mul(this.sub(this.sub(gh, m1), this.mul(xh, m2)), rstd);
      }
      return [dx, dw, db];
    });
    return y;
  }

  softmax(x: Tensor, axis = -1): Tensor {
    const ax = normAxis(axis, x.shape.length);
    const [y] = this.node("Softmax", [x], [x.shape], { axis: int(ax) });
    // dx = y * (g - sum(g * y))
    this.record("Softmax", [x], [y], ([g]) => [g ? this.mul(y, this.sub(g, this.rawReduceSum(this.mul(g, y), [ax], true))) : undefined]);
    return y;
  }

  logSoftmax(x: Tensor, axis = -1): Tensor {
    const ax = normAxis(axis, x.shape.length);
    const [y] = this.node("LogSoftmax", [x], [x.shape], { axis: int(ax) });
    // dx = g - softmax(x) * sum(g)
    this.record("LogSoftmax", [x], [y], ([g]) => {
      if (!g) return [undefined];
      const [p] = this.node("Exp", [y], [x.shape]);
      return [this.sub(g, this.mul(p, this.rawReduceSum(g, [ax], true)))];
    });
    return y;
  }

  /**
   * Cross-entropy of softmax(logits) [N, C] against target distributions [N, C] (one-hot for hard labels),
   * each row weighted by `weights` [N]: loss = -sum_i w_i sum_c t_ic log p_ic. With w_i = 1/N this is
   * torch's CrossEntropyLoss (mean reduction); weights are an input so the last, smaller batch is exact.
   */
  softmaxCrossEntropy(logits: Tensor, targets: Tensor, weights: Tensor): Tensor {
    const rowLoss = this.reduceSum(this.mul(targets, this.logSoftmax(logits, -1)), [-1], false);
    return this.neg(this.reduceSum(this.mul(rowLoss, weights), [0], false));
  }

  /** Inverted dropout with the mask as a run-time input (so a seeded JS RNG decides it); identity when inferring. */
  dropout(x: Tensor, p: number, name?: string): Tensor {
    if (this.mode === "infer" || p <= 0) return x;
    if (p >= 1) throw new Error(`dropout probability must be < 1, got ${p}`);
    const maskName = name ?? `dropout_mask_${this.masks.length}`;
    const mask = this.input(maskName, x.shape);
    this.masks.push({ name: maskName, shape: [...x.shape], p });
    return this.mul(x, mask);
  }

  // ---------------------------------------------------------------- differentiation

  /**
   * Emits the gradient of scalar `loss` with respect to each of `wrt` (zeros where there is no path).
   * Gradient contributions from several consumers are summed.
   */
  gradients(loss: Tensor, wrt: Tensor[]): Tensor[] {
    if (loss.shape.length !== 0) throw new Error(`gradients: loss must be a scalar, got ${shapeToString(loss.shape)}`);
    const acc = new Map<string, Tensor[]>();
    acc.set(loss.name, [this.constant([1], [])]);
    const total = (t: Tensor): Tensor | undefined => {
      const parts = acc.get(t.name);
      if (!parts || parts.length === 0) return undefined;
      if (parts.length === 1) return parts[0];
      const [s] = this.node("Sum", parts, [t.shape]);
      acc.set(t.name, [s]);
      return s;
    };
    this.taping = false;
    try {
      for (let i = this.tape.length - 1; i >= 0; i--) {
        const e = this.tape[i];
        const gOut = e.outputs.map(total);
        if (gOut.every((g) => g === undefined)) continue;
        const need = e.inputs.map((t) => this.requiresGrad.has(t.name));
        const gIn = e.backward(gOut, need);
        e.inputs.forEach((t, k) => {
          const g = gIn[k];
          if (!g || !need[k]) return;
          if (g.shape.length !== t.shape.length || g.shape.some((d, j) => d !== t.shape[j] && typeof d === "number" && typeof t.shape[j] === "number"))
            throw new Error(`internal: ${e.op} gradient ${shapeToString(g.shape)} for input ${shapeToString(t.shape)}`);
          const list = acc.get(t.name) ?? [];
          list.push(g);
          acc.set(t.name, list);
        });
      }
      return wrt.map((t) => total(t) ?? this.node("Mul", [t, this.scalar(0)], [t.shape])[0]);
    } finally {
      this.taping = true;
    }
  }
}
