/**
 * Power spectra |X_k|^2 (k = 0..n/2) of real frames of any length n, in float64.
 *
 * The transforms come from fft.js (radix-4, the most used FFT on npm, no dependencies), which handles
 * power-of-two sizes only. Kaldi's fbank zero-pads its 400-sample frames to 512, but torchaudio's MFCC takes a
 * 400-point DFT (n_fft = 400); no maintained npm package does mixed-radix real FFTs, so other sizes go through
 * Bluestein's chirp-z identity, which turns a length-L DFT into a circular convolution computed with fft.js
 * transforms of the next power of two >= 2L - 1. An even-length real frame is packed into a complex sequence of
 * half its length first (even samples real, odd samples imaginary) and the spectrum untangled afterwards,
 * which halves the transform size.
 */
import FFT from "fft.js";

/** Complex DFT of any length L (interleaved re/im), X_k = sum_j x_j exp(-2 pi i jk / L), via Bluestein. */
class BluesteinDft {
  private readonly L: number;
  private readonly m: number;
  private readonly fft: FFT;
  private readonly chirp: Float64Array;
  private readonly kernel: Float64Array;
  private readonly a: Float64Array;
  private readonly b: Float64Array;

  constructor(L: number) {
    this.L = L;
    let m = 1;
    while (m < 2 * L - 1) m *= 2;
    this.m = m;
    this.fft = new FFT(m);
    // chirp w_k = exp(-i pi k^2 / L); k^2 is reduced mod 2L first so the angle stays exact for large k.
    this.chirp = new Float64Array(2 * L);
    for (let k = 0; k < L; k++) {
      const angle = (Math.PI * ((k * k) % (2 * L))) / L;
      this.chirp[2 * k] = Math.cos(angle);
      this.chirp[2 * k + 1] = -Math.sin(angle);
    }
    // kernel conj(w_j) at j and m - j, transformed once.
    const b = new Float64Array(2 * m);
    for (let k = 0; k < L; k++) {
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
    this.b = new Float64Array(2 * m);
  }

  /** `x`: L complex values (interleaved); `out`: the L complex DFT values (interleaved). */
  transform(x: Float64Array, out: Float64Array): void {
    const { L, m, a, b, chirp, kernel, fft } = this;
    a.fill(0);
    for (let j = 0; j < L; j++) {
      const xr = x[2 * j];
      const xi = x[2 * j + 1];
      a[2 * j] = xr * chirp[2 * j] - xi * chirp[2 * j + 1];
      a[2 * j + 1] = xr * chirp[2 * j + 1] + xi * chirp[2 * j];
    }
    fft.transform(b, a);
    for (let k = 0; k < m; k++) {
      const re = b[2 * k] * kernel[2 * k] - b[2 * k + 1] * kernel[2 * k + 1];
      const im = b[2 * k] * kernel[2 * k + 1] + b[2 * k + 1] * kernel[2 * k];
      b[2 * k] = re;
      b[2 * k + 1] = im;
    }
    fft.inverseTransform(a, b); // scales by 1/m
    for (let k = 0; k < L; k++) {
      out[2 * k] = a[2 * k] * chirp[2 * k] - a[2 * k + 1] * chirp[2 * k + 1];
      out[2 * k + 1] = a[2 * k] * chirp[2 * k + 1] + a[2 * k + 1] * chirp[2 * k];
    }
  }
}

export class PowerSpectrum {
  /** Frame length (the DFT size). */
  readonly n: number;
  /** Output bins: floor(n/2) + 1. */
  readonly bins: number;
  private readonly pow2: FFT | null = null;
  private readonly dft: BluesteinDft | null = null;
  private readonly z: Float64Array;
  private readonly Z: Float64Array;
  /** exp(-2 pi i k / n) for the even-n untangling. */
  private readonly twiddle: Float64Array = new Float64Array(0);

  constructor(n: number) {
    if (!Number.isInteger(n) || n < 2) throw new RangeError(`DFT size must be an integer >= 2 (got ${n})`);
    this.n = n;
    this.bins = Math.floor(n / 2) + 1;
    if ((n & (n - 1)) === 0) {
      this.pow2 = new FFT(n);
      this.z = new Float64Array(2 * n);
      this.Z = this.z;
      return;
    }
    const L = n % 2 === 0 ? n / 2 : n;
    this.dft = new BluesteinDft(L);
    this.z = new Float64Array(2 * L);
    this.Z = new Float64Array(2 * L);
    if (n % 2 === 0) {
      this.twiddle = new Float64Array(2 * (L + 1));
      for (let k = 0; k <= L; k++) {
        this.twiddle[2 * k] = Math.cos((2 * Math.PI * k) / n);
        this.twiddle[2 * k + 1] = -Math.sin((2 * Math.PI * k) / n);
      }
    }
  }

  /** Writes |X_k|^2 for k = 0..bins-1 of `frame` (length n) into `power` (length >= bins). */
  compute(frame: ArrayLike<number>, power: Float64Array): void {
    const { n, bins, z, Z } = this;
    if (frame.length !== n) throw new RangeError(`frame has ${frame.length} samples, expected ${n}`);
    if (this.pow2) {
      this.pow2.realTransform(z, frame);
      for (let k = 0; k < bins; k++) power[k] = z[2 * k] * z[2 * k] + z[2 * k + 1] * z[2 * k + 1];
      return;
    }
    const dft = this.dft!;
    if (n % 2 === 1) {
      for (let j = 0; j < n; j++) {
        z[2 * j] = frame[j];
        z[2 * j + 1] = 0;
      }
      dft.transform(z, Z);
      for (let k = 0; k < bins; k++) power[k] = Z[2 * k] * Z[2 * k] + Z[2 * k + 1] * Z[2 * k + 1];
      return;
    }
    // z_j = x_{2j} + i x_{2j+1}; with E, O the DFTs of the even and odd samples, Z = E + iO, and
    // E_k = (Z_k + conj Z_{L-k}) / 2, O_k = (Z_k - conj Z_{L-k}) / 2i, X_k = E_k + exp(-2 pi i k/n) O_k.
    const L = n / 2;
    for (let j = 0; j < L; j++) {
      z[2 * j] = frame[2 * j];
      z[2 * j + 1] = frame[2 * j + 1];
    }
    dft.transform(z, Z);
    const tw = this.twiddle;
    for (let k = 0; k <= L; k++) {
      const a = k % L;
      const b = (L - k) % L;
      const zr = Z[2 * a];
      const zi = Z[2 * a + 1];
      const cr = Z[2 * b];
      const ci = -Z[2 * b + 1];
      const er = (zr + cr) / 2;
      const ei = (zi + ci) / 2;
      // (Z_k - conj Z_{L-k}) / 2i = (dr + i di) / 2i = (di - i dr) / 2
      const or = (zi - ci) / 2;
      const oi = -(zr - cr) / 2;
      const xr = er + tw[2 * k] * or - tw[2 * k + 1] * oi;
      const xi = ei + tw[2 * k] * oi + tw[2 * k + 1] * or;
      power[k] = xr * xr + xi * xi;
    }
  }
}
