/**
 * Finite-difference gradient checks for graph-builder ops: the analytic gradients emitted by
 * GraphBuilder.gradients() are compared with central differences of the forward graph, both run by
 * onnxruntime. The loss is sum(op(inputs) * R) for a fixed random R, so every output element matters.
 */
import { GraphBuilder, type FloatType, type Tensor } from "../../src/train/graph/builder.js";
import { resolveDim, type Dim, type Shape } from "../../src/train/graph/shape.js";
import { createSession, floatTensor, type FloatArray } from "../../src/train/graph/session.js";
import { Rng } from "../../src/train/rng.js";

export interface GradCheckCase {
  /** Shapes of the inputs as fed. */
  shapes: number[][];
  /** Shapes as declared in the graph, when some dimensions are symbolic (sizes come from `shapes`). */
  declared?: Dim[][];
  build(g: GraphBuilder, xs: Tensor[]): Tensor;
  /** Value generator per input element (default uniform(-1.5, 1.5)). */
  value?(rng: Rng, input: number): number;
  /** Inputs not to differentiate (e.g. one-hot targets) keep their values but are not checked. */
  noGrad?: number[];
  /** Fixed values for some inputs (e.g. one-hot targets), by input position. */
  fixed?: Record<number, number[]>;
}

export interface GradCheckResult {
  maxAbsErr: number;
  maxRelErr: number;
  checked: number;
  /** Largest |analytic| seen, to show the check is not vacuous. */
  maxAbsGrad: number;
  failures: string[];
}

export async function gradCheck(
  c: GradCheckCase,
  opts: {
    dtype: FloatType;
    eps: number;
    atol: number;
    rtol: number;
    seed?: number;
    maxPerInput?: number;
    /** Test hook: distorts the analytic gradient, to show the tolerances catch a small error. */
    corrupt?: (analytic: number) => number;
  },
): Promise<GradCheckResult> {
  const rng = new Rng(opts.seed ?? 1234);
  const g = new GraphBuilder({ dtype: opts.dtype, mode: "train" });
  const xs = c.shapes.map((s, i) => g.input(`x${i}`, c.declared?.[i] ?? s, { grad: !(c.noGrad ?? []).includes(i) }));
  const out = c.build(g, xs);
  // Run-time sizes of symbolic dimensions, from the fed shapes ("a+b" and "a*b" symbols are resolved too).
  const sizes = new Map<string, number>();
  c.declared?.forEach((d, i) => d.forEach((v, k) => typeof v === "string" && sizes.set(v, c.shapes[i][k])));
  const concrete = (s: Shape) => s.map((d) => resolveDim(d, sizes));
  const r = g.input("R", out.shape);
  const prod = g.mul(out, r);
  const loss = out.shape.length === 0 ? prod : g.reduceSum(prod, [...out.shape.keys()], false);
  g.output(loss, "loss");
  const diff = xs.filter((_, i) => !(c.noGrad ?? []).includes(i));
  const grads = g.gradients(loss, diff);
  grads.forEach((t, i) => g.output(t, `grad_${diff[i].name}`));
  const session = await createSession(g.toModel("gradcheck"), { threads: 1 });

  const Arr = opts.dtype === "float64" ? Float64Array : Float32Array;
  const size = (s: Shape) => concrete(s).reduce((a, d) => a * d, 1);
  const fill = (n: number, f: (k: number) => number): FloatArray => {
    const a = new Arr(n);
    for (let k = 0; k < n; k++) a[k] = f(k);
    return a;
  };
  const values = c.shapes.map((s, i) =>
    fill(size(s), (k) => (c.fixed?.[i] ? c.fixed[i][k] : c.value ? c.value(rng, i) : rng.uniform(-1.5, 1.5))),
  );
  const rVals = fill(size(out.shape), () => rng.uniform(-1, 1));
  const maskVals = g.masks.map((m) => {
    const a = new Arr(size(m.shape));
    rng.fillDropoutMask(a, m.p);
    return a;
  });

  const run = async (vals: FloatArray[]) => {
    const feeds: Record<string, ReturnType<typeof floatTensor>> = { R: floatTensor(rVals, concrete(out.shape)) };
    vals.forEach((v, i) => (feeds[`x${i}`] = floatTensor(v, c.shapes[i])));
    g.masks.forEach((m, i) => (feeds[m.name] = floatTensor(maskVals[i], concrete(m.shape))));
    return session.run(feeds);
  };
  const base = await run(values);
  const res: GradCheckResult = { maxAbsErr: 0, maxRelErr: 0, checked: 0, maxAbsGrad: 0, failures: [] };
  for (const x of diff) {
    const i = Number(x.name.slice(1));
    const analytic = base[`grad_${x.name}`].data as FloatArray;
    if (analytic.length !== values[i].length) throw new Error(`gradient of ${x.name} has ${analytic.length} values, input has ${values[i].length}`);
    const n = values[i].length;
    const idx = [...Array(n).keys()];
    const pick = opts.maxPerInput && n > opts.maxPerInput ? (rng.shuffle(idx), idx.slice(0, opts.maxPerInput)) : idx;
    for (const k of pick) {
      const orig = values[i][k];
      values[i][k] = orig + opts.eps;
      const lp = Number((await run(values)).loss.data[0]);
      values[i][k] = orig - opts.eps;
      const lm = Number((await run(values)).loss.data[0]);
      values[i][k] = orig;
      const numeric = (lp - lm) / (2 * opts.eps);
      const a = opts.corrupt ? opts.corrupt(analytic[k]) : analytic[k];
      const err = Math.abs(a - numeric);
      res.maxAbsErr = Math.max(res.maxAbsErr, err);
      res.maxRelErr = Math.max(res.maxRelErr, err / Math.max(Math.abs(numeric), 1e-12));
      res.maxAbsGrad = Math.max(res.maxAbsGrad, Math.abs(a));
      res.checked++;
      if (!(err <= opts.atol + opts.rtol * Math.abs(numeric)))
        res.failures.push(`${x.name}[${k}]: analytic ${a}, numeric ${numeric}`);
    }
  }
  await session.release();
  return res;
}
