/**
 * Seeded pseudo-random numbers for initialisation, shuffling and dropout masks.
 *
 * xoshiro128** (Blackman & Vigna) seeded through splitmix32. Hand-written because dropout masks need hundreds
 * of millions of draws per training run (the reference mlp: 5000 x (1536 + 256) per epoch x 50 epochs) and a
 * tight, monomorphic loop over 32-bit state is several times faster than calling a library generator through
 * its object API; the algorithm is 10 lines and its output is checked against the published reference values
 * in tests/train-rng.test.ts.
 */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    let s = seed >>> 0;
    const next = () => {
      // splitmix32
      s = (s + 0x9e3779b9) | 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = next();
    this.b = next();
    this.c = next();
    this.d = next();
  }

  /** For tests against the reference implementation: a generator with the given raw state. */
  static fromState(a: number, b: number, c: number, d: number): Rng {
    const r = new Rng(0);
    r.a = a >>> 0;
    r.b = b >>> 0;
    r.c = c >>> 0;
    r.d = d >>> 0;
    return r;
  }

  /** Next 32-bit unsigned integer. */
  nextU32(): number {
    const result = Math.imul(rotl(Math.imul(this.b, 5), 7), 9) >>> 0;
    const t = this.b << 9;
    this.c ^= this.a;
    this.d ^= this.b;
    this.b ^= this.c;
    this.a ^= this.d;
    this.c ^= t;
    this.d = rotl(this.d, 11);
    return result;
  }

  /** Uniform in [0, 1) with 32 random bits. */
  next(): number {
    return this.nextU32() / 4294967296;
  }

  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }

  /** Uniform integer in [0, n) without modulo bias (rejection sampling). */
  int(n: number): number {
    if (n <= 0 || n > 4294967296) throw new Error(`Rng.int: bad range ${n}`);
    const limit = 4294967296 - (4294967296 % n);
    let x: number;
    do x = this.nextU32();
    while (x >= limit);
    return x % n;
  }

  /** Fisher-Yates shuffle in place. */
  shuffle<T>(a: T[] | Int32Array | Uint32Array): void {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = a[i];
      a[i] = a[j];
      a[j] = t;
    }
  }

  /**
   * Fills `out` with an inverted-dropout mask: 0 with probability p, else 1/(1-p). Each 32-bit draw decides
   * two entries with 16 bits each, so p is honoured to within 2^-17 (torch's CPU bernoulli compares a
   * float32 uniform, 24 bits); the mask stream halves the generator calls, which dominate mask cost.
   */
  fillDropoutMask(out: Float32Array | Float64Array, p: number): void {
    const keep = 1 / (1 - p);
    const threshold = Math.round(p * 65536);
    const n = out.length;
    // The generator step is inlined on local copies of the state: V8 keeps them in registers, which makes
    // this loop ~3x faster than calling nextU32().
    let a = this.a, b = this.b, c = this.c, d = this.d;
    for (let i = 0; i < n; i += 2) {
      const r = Math.imul(rotl(Math.imul(b, 5), 7), 9);
      const t = b << 9;
      c ^= a;
      d ^= b;
      b ^= c;
      a ^= d;
      c ^= t;
      d = (d << 11) | (d >>> 21);
      // Branch-free select ((x - threshold) >>> 31 is 1 exactly when x < threshold): the outcome is random,
      // so a branch would be mispredicted often.
      out[i] = (((r & 0xffff) - threshold) >>> 31 ^ 1) * keep;
      if (i + 1 < n) out[i + 1] = (((r >>> 16) - threshold) >>> 31 ^ 1) * keep;
    }
    this.a = a >>> 0;
    this.b = b >>> 0;
    this.c = c >>> 0;
    this.d = d >>> 0;
  }

  /** Derives an independent generator (for a sub-task such as one fold) from this one's stream. */
  fork(): Rng {
    return new Rng(this.nextU32());
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}
