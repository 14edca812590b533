/**
 * Counter-based seeding: every random stream (initialisation, the shuffle of epoch e, the dropout
 * masks of step s) is derived from (seed, purpose, counter) alone. A checkpoint therefore only
 * needs the seed and the progress counters to reproduce the remaining randomness exactly, and no
 * stream's consumption can shift another's.
 */

export const RNG_ALGORITHM = 'sfc32/murmur3-fmix-v1';

export enum Stream {
  Init = 1,
  Shuffle = 2,
  Dropout = 3,
}

/** murmur3's 32-bit finaliser: every input bit affects every output bit. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function mix(acc: number, word: number): number {
  return fmix32((acc ^ Math.imul(word >>> 0, 0x9e3779b1)) + 0x7f4a7c15);
}

/** sfc32 (Chris Doty-Humphrey's small fast chaotic generator): passes PractRand to 2^40 bytes. */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  private spareNormal: number | null = null;

  /** Stream for (seed, purpose, ...counters); seed and counters are unsigned 32-bit integers. */
  constructor(seed: number, ...path: number[]) {
    if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff)
      throw new Error(`rng: seed must be a uint32, got ${seed}`);
    let h = mix(0x6a09e667, seed);
    for (const p of path) h = mix(h, p);
    this.a = h;
    this.b = mix(h, 1);
    this.c = mix(h, 2);
    this.d = 1;
    for (let i = 0; i < 12; i++) this.nextU32();
  }

  nextU32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform in [0, 1) with 32 random bits. */
  uniform(): number {
    return this.nextU32() / 4294967296;
  }

  /** Standard normal (Box-Muller, both variates used). */
  normal(): number {
    if (this.spareNormal !== null) {
      const s = this.spareNormal;
      this.spareNormal = null;
      return s;
    }
    let u = 0;
    while (u === 0) u = this.uniform();
    const v = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spareNormal = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /** Fisher-Yates permutation of 0..n-1. */
  permutation(n: number): Int32Array {
    const p = new Int32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    for (let i = n - 1; i > 0; i--) {
      // multiply-shift keeps the bias below 2^-32 * n without a rejection loop
      const j = Math.floor(this.uniform() * (i + 1));
      const t = p[i];
      p[i] = p[j]!;
      p[j] = t;
    }
    return p;
  }

  /**
   * Dropout keep-mask: 1 with probability 1 - p, quantised to 1/65536 (each 32-bit draw gives two
   * 16-bit uniforms; the keep rate is off by < 8e-6, far below batch-to-batch noise). The
   * generator is inlined with local state because masks are drawn for every activation of every
   * step.
   */
  fillKeepMask(out: Uint8Array, p: number): void {
    const threshold = Math.round((1 - p) * 65536);
    let a = this.a;
    let b = this.b;
    let c = this.c;
    let d = this.d;
    const n = out.length;
    for (let i = 0; i < n; i += 2) {
      const t = (((a + b) | 0) + d) | 0;
      d = (d + 1) | 0;
      a = b ^ (b >>> 9);
      b = (c + (c << 3)) | 0;
      c = (c << 21) | (c >>> 11);
      c = (c + t) | 0;
      out[i] = (t & 0xffff) < threshold ? 1 : 0;
      if (i + 1 < n) out[i + 1] = t >>> 16 < threshold ? 1 : 0;
    }
    this.a = a;
    this.b = b;
    this.c = c;
    this.d = d;
  }
}
