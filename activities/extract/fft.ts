/**
 * A mixed-radix complex FFT (recursive Cooley-Tukey over the prime factors of n, any n) in float64,
 * like numpy's rfft (test/extract/whisper-features.test.ts checks it against the direct DFT). Written
 * here rather than taken from a package: Whisper's window is 400 = 2^4 * 5^2 samples, which the small
 * well-known JS FFTs (radix-2 only) do not take.
 */
export class Fft {
  private readonly cos: Float64Array;
  private readonly sin: Float64Array;
  private readonly factors: number[] = [];
  private readonly outRe: Float64Array;
  private readonly outIm: Float64Array;

  constructor(readonly n: number) {
    if (!Number.isInteger(n) || n < 1) throw new Error(`FFT size must be a positive integer, got ${n}`);
    this.cos = new Float64Array(n);
    this.sin = new Float64Array(n);
    for (let k = 0; k < n; k++) {
      this.cos[k] = Math.cos((2 * Math.PI * k) / n);
      this.sin[k] = Math.sin((2 * Math.PI * k) / n);
    }
    let m = n;
    for (const p of [4, 2, 3, 5]) {
      while (m % p === 0) {
        this.factors.push(p);
        m /= p;
      }
    }
    for (let p = 7; m > 1; p += 2) {
      while (m % p === 0) {
        this.factors.push(p);
        m /= p;
      }
    }
    this.outRe = new Float64Array(n);
    this.outIm = new Float64Array(n);
  }

  /**
   * X[k] = sum_j x[j] exp(-2 pi i j k / n) of real input, for k = 0..n/2 (the one-sided spectrum);
   * written into re/im, which need floor(n/2) + 1 entries.
   */
  realForward(x: Float64Array, re: Float64Array, im: Float64Array): void {
    this.rec(x, 0, 1, this.n, 0, 0);
    const half = Math.floor(this.n / 2);
    for (let k = 0; k <= half; k++) {
      re[k] = this.outRe[k];
      im[k] = this.outIm[k];
    }
  }

  /** Transforms x[off + j*stride], j < len, into out[outOff .. outOff+len). */
  private rec(x: Float64Array, off: number, stride: number, len: number, outOff: number, f: number): void {
    const { outRe, outIm } = this;
    if (len === 1) {
      outRe[outOff] = x[off];
      outIm[outOff] = 0;
      return;
    }
    const p = this.factors[f];
    const m = len / p;
    for (let q = 0; q < p; q++) this.rec(x, off + q * stride, stride * p, m, outOff + q * m, f + 1);
    // combine the p sub-transforms: X[k + s*m] = sum_q W_len^(q(k + s*m)) Y_q[k]
    const step = this.n / len;
    const tr = new Float64Array(p);
    const ti = new Float64Array(p);
    for (let k = 0; k < m; k++) {
      for (let q = 0; q < p; q++) {
        const yr = outRe[outOff + q * m + k];
        const yi = outIm[outOff + q * m + k];
        const e = (q * k * step) % this.n;
        const c = this.cos[e];
        const s = -this.sin[e];
        tr[q] = yr * c - yi * s;
        ti[q] = yr * s + yi * c;
      }
      for (let sIdx = 0; sIdx < p; sIdx++) {
        let ar = 0;
        let ai = 0;
        for (let q = 0; q < p; q++) {
          const e = (((q * sIdx * m) % len) * step) % this.n;
          const c = this.cos[e];
          const s = -this.sin[e];
          ar += tr[q] * c - ti[q] * s;
          ai += tr[q] * s + ti[q] * c;
        }
        outRe[outOff + sIdx * m + k] = ar;
        outIm[outOff + sIdx * m + k] = ai;
      }
    }
  }
}
