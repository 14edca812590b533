/**
 * IEEE 754 binary16 <-> float32 for the little-endian float16 sequence blobs of feature shards
 * (schemas/features.ts), written by the extract stage and read by compress and train. Decoding goes through a 65,536-entry table: one lookup per value, which keeps
 * reading a shard's visual tokens (about 0.6 M values per utterance) far below the cost of VSC itself.
 */

let table: Float32Array | null = null;

/** binary16 bits -> the float value they encode. */
export function halfBitsToFloat32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 0x1f) return frac === 0 ? sign * Infinity : NaN;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

function lookup(): Float32Array {
  if (!table) {
    table = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) table[h] = halfBitsToFloat32(h);
  }
  return table;
}

/** Decodes `bytes` (little-endian binary16, any byte alignment) into `out` (fresh when omitted). */
export function decodeFloat16(bytes: Uint8Array, out?: Float32Array): Float32Array {
  if (bytes.length % 2 !== 0) throw new RangeError(`float16 blob has an odd byte length (${bytes.length})`);
  const n = bytes.length / 2;
  const dst = out ?? new Float32Array(n);
  if (dst.length < n) throw new RangeError(`float16 decode: output holds ${dst.length} values, blob has ${n}`);
  const t = lookup();
  for (let i = 0, j = 0; i < n; i++, j += 2) dst[i] = t[bytes[j] | (bytes[j + 1] << 8)]!;
  return dst;
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** float32 -> binary16 bits, rounding to nearest even; overflow gives infinity, NaN stays NaN. */
export function float32ToHalfBits(value: number): number {
  f32[0] = value;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    // Subnormal half: shift the full significand (with its implicit 1) into place, rounding to nearest even.
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    const rest = mant & ((1 << shift) - 1);
    let h = mant >>> shift;
    if (rest > half || (rest === half && h & 1)) h++;
    return sign | h;
  }
  const rest = mant & 0x1fff;
  let h = (e << 10) | (mant >>> 13);
  if (rest > 0x1000 || (rest === 0x1000 && h & 1)) h++;
  // A carry out of the mantissa correctly bumps the exponent, up to infinity.
  return sign | h;
}

/** Encodes float32 values as a little-endian binary16 blob (what the extract stage stores). */
export function encodeFloat16(values: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(values.length * 2);
  for (let i = 0; i < values.length; i++) {
    const h = float32ToHalfBits(values[i]);
    out[2 * i] = h & 0xff;
    out[2 * i + 1] = h >>> 8;
  }
  return out;
}

/** The name the compress stage's code and tests use. */
export const floatToHalfBits = float32ToHalfBits;
