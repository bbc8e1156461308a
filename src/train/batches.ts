/**
 * Mini-batches for the training engine: the rows of a batch gathered from in-memory matrices ([n, D] per
 * store) or read from sequence stores and padded to the batch's longest member ([b, T, D] plus a mask [b, T],
 * 1 = real position). Sequence rows are read from disk per batch, so training never holds every sequence
 * in memory; buffers are reused, one set per slot so the next batch can be read while the current one runs.
 */
import type ort from "onnxruntime-node";
import { floatTensor } from "./graph/session.js";
import { maskInput, seqDim, type HeadArch } from "./heads.js";

/** What the engine needs of a sequence store (src/store's SequenceStoreReader satisfies it). */
export interface SequenceSource {
  /** Feature width. */
  readonly d: number;
  /** Positions (frames or tokens) per stored row. */
  readonly lengths: Int32Array;
  /** One row-major [T_i, d] array per requested stored row. */
  read(rows: number[]): Promise<Float32Array[]>;
}

/** A sequence input of a dataset: the store, and which stored row each dataset row is. */
export interface SequenceInput {
  source: SequenceSource;
  rows: Int32Array;
}

/** One input of a dataset: a row-major [n, D] matrix, or rows of a sequence store. */
export type DatasetInput = Float32Array | SequenceInput;

/** Rows of one split: one input per head input, and class ids. */
export interface Dataset {
  x: DatasetInput[];
  y: Int32Array;
  n: number;
}

export function isSequenceInput(x: DatasetInput): x is SequenceInput {
  return !(x instanceof Float32Array);
}

export interface Batch {
  feeds: Record<string, ort.Tensor>;
  /** Run-time sizes of the symbolic dimensions ("N" and each sequence input's length). */
  dims: Map<string, number>;
}

/** Grows-on-demand buffer. */
class Buf {
  data = new Float32Array(0);
  get(n: number): Float32Array {
    if (this.data.length < n) this.data = new Float32Array(Math.max(n, Math.ceil(this.data.length * 1.25)));
    return this.data.subarray(0, n);
  }
}

export function checkDataset(arch: HeadArch, d: Dataset, what: string): void {
  if (d.x.length !== arch.inputs.length) throw new Error(`${what}: ${d.x.length} inputs for ${arch.inputs.length} head inputs`);
  d.x.forEach((m, i) => {
    const inp = arch.inputs[i];
    if (isSequenceInput(m)) {
      if (!inp.sequence) throw new Error(`${what}: input ${inp.name} is a sequence store, the head expects one vector per row`);
      if (m.source.d !== inp.dim) throw new Error(`${what}: input ${inp.name} has width ${m.source.d}, expected ${inp.dim}`);
      if (m.rows.length !== d.n) throw new Error(`${what}: input ${inp.name} has ${m.rows.length} rows, expected ${d.n}`);
    } else {
      if (inp.sequence) throw new Error(`${what}: input ${inp.name} is a matrix, the head expects sequences`);
      if (m.length !== d.n * inp.dim) throw new Error(`${what}: input ${inp.name} has ${m.length} values, expected ${d.n} x ${inp.dim}`);
    }
  });
  for (let i = 0; i < d.n; i++)
    if (!(d.y[i] >= 0 && d.y[i] < arch.numClasses)) throw new Error(`${what}: class id ${d.y[i]} at row ${i} out of range`);
}

/**
 * Rows per forward pass of a sequence head when only evaluating (no gradients): bounded so that an attention map
 * [rows, heads, T, T] stays near 4 M values whatever the lengths (a whole 256-row chunk of 10 s clips at d 768
 * would otherwise ask for gigabytes), at most 64.
 */
export function sequenceRowsPerRun(maxLen: number, attnHeads: number): number {
  return Math.max(1, Math.min(64, Math.floor(4_000_000 / (maxLen * maxLen * attnHeads))));
}

/** Largest number of positions of any row of a sequence input (1 for matrices). */
export function maxLength(x: DatasetInput): number {
  if (!isSequenceInput(x)) return 1;
  let m = 1;
  for (const r of x.rows) m = Math.max(m, x.source.lengths[r]);
  return m;
}

export class BatchFeeder {
  private readonly slots: { x: Buf[]; mask: Buf[] }[];

  constructor(
    private readonly arch: HeadArch,
    private readonly data: Dataset,
    slots = 2,
  ) {
    this.slots = Array.from({ length: slots }, () => ({ x: arch.inputs.map(() => new Buf()), mask: arch.inputs.map(() => new Buf()) }));
  }

  /** The head inputs of dataset rows `rows` (in this order), in the buffers of `slot`. */
  async load(rows: ArrayLike<number>, slot = 0): Promise<Batch> {
    const b = rows.length;
    const feeds: Record<string, ort.Tensor> = {};
    const dims = new Map<string, number>([["N", b]]);
    const bufs = this.slots[slot];
    await Promise.all(
      this.arch.inputs.map(async (inp, k) => {
        const src = this.data.x[k];
        const d = inp.dim;
        if (!isSequenceInput(src)) {
          const dst = bufs.x[k].get(b * d);
          for (let r = 0; r < b; r++) dst.set(src.subarray(rows[r] * d, rows[r] * d + d), r * d);
          feeds[inp.name] = floatTensor(dst, [b, d]);
          return;
        }
        const stored = Array.from(rows, (r) => src.rows[r]);
        const seqs = await src.source.read(stored);
        let t = 1;
        for (const s of seqs) t = Math.max(t, s.length / d);
        const dst = bufs.x[k].get(b * t * d);
        const mask = bufs.mask[k].get(b * t);
        for (let r = 0; r < b; r++) {
          const s = seqs[r];
          const len = s.length / d;
          if (!Number.isInteger(len) || len !== src.source.lengths[stored[r]])
            throw new Error(`sequence store row ${stored[r]} of input ${inp.name}: read ${s.length} values, expected ${src.source.lengths[stored[r]]} x ${d}`);
          dst.set(s, r * t * d);
          dst.fill(0, r * t * d + s.length, (r + 1) * t * d);
          mask.fill(1, r * t, r * t + len);
          mask.fill(0, r * t + len, (r + 1) * t);
        }
        feeds[inp.name] = floatTensor(dst, [b, t, d]);
        feeds[maskInput(inp.name)] = floatTensor(mask, [b, t]);
        dims.set(seqDim(inp.name), t);
      }),
    );
    return { feeds, dims };
  }
}
