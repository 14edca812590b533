/**
 * IEEE 754 half precision without Float16Array (Node 20 lacks it): cached sequences are stored as
 * little-endian float16 to halve their size. Rounding is to nearest, ties to even, as numpy's
 * astype(np.float16) and torch's .half() do, so readers in any language decode the same values.
 */

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

export function float32ToHalfBits(value: number): number {
  f32[0] = value;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 | (mant >>> 13) : 0); // NaN keeps a quiet bit
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign; // below half the smallest subnormal: rounds to zero
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    const rest = mant & ((1 << shift) - 1);
    let out = mant >>> shift;
    if (rest > half || (rest === half && (out & 1) === 1)) out++;
    return sign | out;
  }
  const rest = mant & 0x1fff;
  let out = (e << 10) | (mant >>> 13);
  // a carry out of the mantissa correctly bumps the exponent (and overflows to infinity at the top)
  if (rest > 0x1000 || (rest === 0x1000 && (out & 1) === 1)) out++;
  return sign | out;
}

export function halfBitsToFloat32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** float32 values -> little-endian float16 bytes (2 per value). */
export function encodeFloat16(values: Float32Array): Uint8Array {
  const out = new Uint8Array(values.length * 2);
  const view = new DataView(out.buffer);
  for (let i = 0; i < values.length; i++) view.setUint16(i * 2, float32ToHalfBits(values[i]), true);
  return out;
}

/** Little-endian float16 bytes -> float32 values. */
export function decodeFloat16(bytes: Uint8Array): Float32Array {
  if (bytes.length % 2 !== 0) throw new RangeError(`float16 blob has an odd byte length ${bytes.length}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(bytes.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = halfBitsToFloat32(view.getUint16(i * 2, true));
  return out;
}
