/**
 * AdamW as a WebAssembly SIMD kernel over parameters, gradients and moments that live in one WebAssembly
 * memory (which onnxruntime reads and writes through Float32Array views without copies).
 *
 * Why hand-written: for heads of tens of millions of parameters the optimiser runs once per batch over every
 * parameter. A JS loop costs ~4 ns per parameter (scalar float64 sqrt and division), onnxruntime's
 * elementwise kernels need a dozen memory passes for the same update, and no maintained npm package offers a
 * fused AdamW over float32 arrays. Four lanes of f32 per instruction make the pass memory-bound. The module is
 * ~200 bytes, assembled below from its instructions (there is no WebAssembly toolchain in the dependencies).
 *
 * Arithmetic is float32 throughout, as torch.optim.AdamW's CPU kernels on float32 tensors:
 *   p <- p (1 - lr wd);  m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2;
 *   p <- p - (lr / (1 - b1^t)) m / (sqrt(v) / sqrt(1 - b2^t) + eps)
 */

// The part of the WebAssembly JS API used here (TypeScript declares it only with the "dom" lib).
declare const WebAssembly: {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
  Memory: new (descriptor: { initial: number }) => { buffer: ArrayBuffer };
};

// ---------------------------------------------------------------- a minimal WebAssembly assembler

const leb = (n: number): number[] => {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
};
const sleb = (n: number): number[] => {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) return [...out, b];
    out.push(b | 0x80);
  }
};
const vec = (items: number[][]): number[] => [...leb(items.length), ...items.flat()];
const section = (id: number, body: number[]): number[] => [id, ...leb(body.length), ...body];
const name = (s: string): number[] => [...leb(s.length), ...Buffer.from(s, "utf8")];

const I32 = 0x7f;
const F32 = 0x7d;
const V128 = 0x7b;
const op = {
  block: [0x02, 0x40],
  loop: [0x03, 0x40],
  end: [0x0b],
  br: (d: number) => [0x0c, ...leb(d)],
  brIf: (d: number) => [0x0d, ...leb(d)],
  get: (i: number) => [0x20, ...leb(i)],
  set: (i: number) => [0x21, ...leb(i)],
  i32: (v: number) => [0x41, ...sleb(v)],
  i32Add: [0x6a],
  i32GeU: [0x4f],
  simd: (code: number, ...imm: number[]) => [0xfd, ...leb(code), ...imm],
};
const memarg = [4, 0]; // align 2^4 = 16 bytes, offset 0
const v128Load = op.simd(0x00, ...memarg);
const v128Store = op.simd(0x0b, ...memarg);
const f32x4 = { splat: op.simd(0x13), sqrt: op.simd(0xe3), add: op.simd(0xe4), sub: op.simd(0xe5), mul: op.simd(0xe6), div: op.simd(0xe7) };

/**
 * adamw(p, g, m, v, bytes, b1, c1, b2, c2, decay, step, k, eps): byte offsets into memory, `bytes` a multiple
 * of 16. Locals after the 13 parameters: i (i32), then the splatted scalars and temporaries (v128).
 */
function adamwBody(): number[] {
  const [P, G, M, V, N, B1, C1, B2, C2, DECAY, STEP, K, EPS] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
  const I = 13;
  const [vB1, vC1, vB2, vC2, vDecay, vStep, vK, vEps, g, m, v] = [14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24];
  const splat = (from: number, to: number) => [...op.get(from), ...f32x4.splat, ...op.set(to)];
  const at = (base: number) => [...op.get(base), ...op.get(I), ...op.i32Add];
  const code = [
    ...splat(B1, vB1), ...splat(C1, vC1), ...splat(B2, vB2), ...splat(C2, vC2),
    ...splat(DECAY, vDecay), ...splat(STEP, vStep), ...splat(K, vK), ...splat(EPS, vEps),
    ...op.i32(0), ...op.set(I),
    ...op.block, ...op.loop,
    ...op.get(I), ...op.get(N), ...op.i32GeU, ...op.brIf(1),
    // g = G[i]; m = b1 m + c1 g; v = b2 v + c2 g g
    ...at(G), ...v128Load, ...op.set(g),
    ...at(M), ...op.get(vB1), ...at(M), ...v128Load, ...f32x4.mul, ...op.get(vC1), ...op.get(g), ...f32x4.mul, ...f32x4.add, ...op.set(m),
    ...op.get(m), ...v128Store,
    ...at(V), ...op.get(vB2), ...at(V), ...v128Load, ...f32x4.mul, ...op.get(vC2), ...op.get(g), ...op.get(g), ...f32x4.mul, ...f32x4.mul, ...f32x4.add, ...op.set(v),
    ...op.get(v), ...v128Store,
    // p = p decay - step m / (sqrt(v) k + eps)
    ...at(P),
    ...at(P), ...v128Load, ...op.get(vDecay), ...f32x4.mul,
    ...op.get(vStep), ...op.get(m), ...f32x4.mul,
    ...op.get(v), ...f32x4.sqrt, ...op.get(vK), ...f32x4.mul, ...op.get(vEps), ...f32x4.add,
    ...f32x4.div, ...f32x4.sub, ...v128Store,
    ...op.get(I), ...op.i32(16), ...op.i32Add, ...op.set(I),
    ...op.br(0),
    ...op.end, ...op.end,
    ...op.end,
  ];
  const locals = vec([[1, I32], [11, V128]]);
  const body = [...locals, ...code];
  return [...leb(body.length), ...body];
}

/** scale(p, bytes, factor): p <- p * factor over `bytes` (a multiple of 16). */
function scaleBody(): number[] {
  const [P, N, F] = [0, 1, 2];
  const [I, vF] = [3, 4];
  const code = [
    ...op.get(F), ...f32x4.splat, ...op.set(vF),
    ...op.i32(0), ...op.set(I),
    ...op.block, ...op.loop,
    ...op.get(I), ...op.get(N), ...op.i32GeU, ...op.brIf(1),
    ...op.get(P), ...op.get(I), ...op.i32Add,
    ...op.get(P), ...op.get(I), ...op.i32Add, ...v128Load, ...op.get(vF), ...f32x4.mul, ...v128Store,
    ...op.get(I), ...op.i32(16), ...op.i32Add, ...op.set(I),
    ...op.br(0),
    ...op.end, ...op.end,
    ...op.end,
  ];
  const body = [...vec([[1, I32], [1, V128]]), ...code];
  return [...leb(body.length), ...body];
}

function moduleBytes(): Uint8Array {
  const adamwType = [0x60, ...vec([[I32], [I32], [I32], [I32], [I32], [F32], [F32], [F32], [F32], [F32], [F32], [F32], [F32]]), ...vec([])];
  const scaleType = [0x60, ...vec([[I32], [I32], [F32]]), ...vec([])];
  const bytes = [
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec([adamwType, scaleType])),
    ...section(2, vec([[...name("env"), ...name("memory"), 0x02, 0x00, ...leb(1)]])), // memory import, min 1 page
    ...section(3, vec([[0], [1]])),
    ...section(7, vec([[...name("adamw"), 0x00, 0], [...name("scale"), 0x00, 1]])),
    ...section(10, vec([adamwBody(), scaleBody()])),
  ];
  return Uint8Array.from(bytes);
}

let compiled: object | undefined;

// ---------------------------------------------------------------- the optimiser state in one memory

export interface AdamWSettings {
  lr: number;
  weightDecay: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
}

/**
 * Parameters (`size` floats, the first `trainable` of which have gradients), their gradients and the two
 * moments in one WebAssembly memory; `params` and `grads` are Float32Array views onnxruntime can be fed from
 * and write into.
 */
export class AdamWMemory {
  readonly params: Float32Array;
  readonly grads: Float32Array;
  private readonly m: Float32Array;
  private readonly v: Float32Array;
  private readonly trainable: number;
  private readonly kernel: { adamw: (...a: number[]) => void; scale: (p: number, n: number, f: number) => void };
  private readonly lr: number;
  private readonly weightDecay: number;
  private readonly beta1: number;
  private readonly beta2: number;
  private readonly eps: number;
  private t = 0;

  constructor(size: number, trainable: number, o: AdamWSettings) {
    compiled ??= new WebAssembly.Module(moduleBytes());
    // Regions rounded up to 16 bytes (4 floats) so the kernel runs whole vectors; padding stays zero.
    const round = (n: number) => Math.ceil(n / 4) * 4;
    const [sP, sT] = [round(size), round(trainable)];
    const bytes = 4 * (sP + 3 * sT);
    if (bytes > 4 * 1024 ** 3 - 65536) throw new Error(`AdamW state of ${size} parameters exceeds the 4 GiB of a WebAssembly memory`);
    const memory = new WebAssembly.Memory({ initial: Math.max(1, Math.ceil(bytes / 65536)) });
    const inst = new WebAssembly.Instance(compiled, { env: { memory } });
    this.kernel = inst.exports as unknown as AdamWMemory["kernel"];
    const buf = memory.buffer;
    this.params = new Float32Array(buf, 0, size);
    this.grads = new Float32Array(buf, 4 * sP, trainable);
    this.m = new Float32Array(buf, 4 * (sP + sT), sT);
    this.v = new Float32Array(buf, 4 * (sP + 2 * sT), sT);
    this.trainable = trainable;
    this.lr = o.lr;
    this.weightDecay = o.weightDecay;
    this.beta1 = o.beta1 ?? 0.9;
    this.beta2 = o.beta2 ?? 0.999;
    this.eps = o.eps ?? 1e-8;
  }

  get steps(): number {
    return this.t;
  }

  /** One AdamW step with the gradients in `grads`; parameters past `trainable` are only decayed. */
  step(): void {
    this.t++;
    const { lr, beta1: b1, beta2: b2 } = this;
    const decay = 1 - lr * this.weightDecay;
    const round = (n: number) => Math.ceil(n / 4) * 4;
    const pOff = this.params.byteOffset;
    this.kernel.adamw(
      pOff,
      this.grads.byteOffset,
      this.m.byteOffset,
      this.v.byteOffset,
      4 * round(this.trainable),
      b1,
      1 - b1,
      b2,
      1 - b2,
      decay,
      lr / (1 - b1 ** this.t),
      1 / Math.sqrt(1 - b2 ** this.t),
      this.eps,
    );
    // Without a gradient path m and v stay 0, and AdamW reduces to the decay: p <- p (1 - lr wd).
    const rest = this.params.length - this.trainable;
    if (rest > 0) {
      const start = round(this.trainable);
      // The vector pass over the trainable region already decayed the (at most 3) floats up to `start`
      // with zero moments, which is the same update.
      if (this.params.length > start) this.kernel.scale(pOff + 4 * start, 4 * round(this.params.length - start), decay);
    }
  }
}
