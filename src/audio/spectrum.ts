/**
 * Power spectra |X_k|^2 (k = 0..n/2) of real frames of any length n, in float64.
 *
 * The transforms come from fft.js (radix-4, the most used FFT on npm, no dependencies), which handles
 * power-of-two sizes only. Kaldi's fbank zero-pads its 400-sample frames to 512, but torchaudio's MFCC takes a
 * 400-point DFT (n_fft = 400); no maintained npm package does mixed-radix real FFTs, so other sizes go through
 * Bluestein's chirp-z identity, which turns a length-n DFT into a circular convolution computed with fft.js
 * transforms of the next power of two >= 2n - 1.
 */
import FFT from "fft.js";

export class PowerSpectrum {
  /** Frame length (the DFT size). */
  readonly n: number;
  /** Output bins: n/2 + 1 (floor). */
  readonly bins: number;
  private readonly pow2: FFT | null = null;
  private readonly out: Float64Array;
  // Bluestein state (n not a power of two).
  private readonly m: number = 0;
  private readonly fft: FFT | null = null;
  private readonly chirp: Float64Array = new Float64Array(0);
  private readonly kernel: Float64Array = new Float64Array(0);
  private readonly a: Float64Array = new Float64Array(0);
  private readonly c: Float64Array = new Float64Array(0);

  constructor(n: number) {
    if (!Number.isInteger(n) || n < 2) throw new RangeError(`DFT size must be an integer >= 2 (got ${n})`);
    this.n = n;
    this.bins = Math.floor(n / 2) + 1;
    if ((n & (n - 1)) === 0) {
      this.pow2 = new FFT(n);
      this.out = new Float64Array(2 * n);
      return;
    }
    let m = 1;
    while (m < 2 * n - 1) m *= 2;
    this.m = m;
    this.fft = new FFT(m);
    this.out = new Float64Array(2 * m);
    // chirp w_k = exp(-i pi k^2 / n); k^2 is reduced mod 2n first so the angle stays exact for large k.
    this.chirp = new Float64Array(2 * n);
    for (let k = 0; k < n; k++) {
      const angle = (Math.PI * ((k * k) % (2 * n))) / n;
      this.chirp[2 * k] = Math.cos(angle);
      this.chirp[2 * k + 1] = -Math.sin(angle);
    }
    // kernel b_j = conj(w_j) at j and m - j, transformed once.
    const b = new Float64Array(2 * m);
    for (let k = 0; k < n; k++) {
      b[2 * k] = this.chirp[2 * k];
      b[2 * k + 1] = -this.chirp[2 * k + 1];
      if (k > 0) {
        b[2 * (m - k)] = b[2 * k];
        b[2 * (m - k) + 1] = b[2 * k + 1];
      }
    }
    this.kernel = new Float64Array(2 * m);
    this.fft.transform(this.kernel, b);
    this.a = new Float64Array(2 * m);
    this.c = new Float64Array(2 * m);
  }

  /** Writes |X_k|^2 for k = 0..bins-1 of `frame` (length n) into `power` (length >= bins). */
  compute(frame: ArrayLike<number>, power: Float64Array): void {
    const { n, bins, out } = this;
    if (frame.length !== n) throw new RangeError(`frame has ${frame.length} samples, expected ${n}`);
    if (this.pow2) {
      this.pow2.realTransform(out, frame);
      for (let k = 0; k < bins; k++) power[k] = out[2 * k] * out[2 * k] + out[2 * k + 1] * out[2 * k + 1];
      return;
    }
    const { a, c, chirp, kernel } = this;
    const fft = this.fft!;
    a.fill(0);
    for (let j = 0; j < n; j++) {
      a[2 * j] = frame[j] * chirp[2 * j];
      a[2 * j + 1] = frame[j] * chirp[2 * j + 1];
    }
    fft.transform(out, a);
    for (let k = 0; k < this.m; k++) {
      const re = out[2 * k] * kernel[2 * k] - out[2 * k + 1] * kernel[2 * k + 1];
      const im = out[2 * k] * kernel[2 * k + 1] + out[2 * k + 1] * kernel[2 * k];
      out[2 * k] = re;
      out[2 * k + 1] = im;
    }
    fft.inverseTransform(c, out); // scales by 1/m
    // X_k = w_k * c_k; |w_k| = 1, so the power is |c_k|^2.
    for (let k = 0; k < bins; k++) power[k] = c[2 * k] * c[2 * k] + c[2 * k + 1] * c[2 * k + 1];
  }
}
