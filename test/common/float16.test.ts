import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeFloat16, encodeFloat16, float32ToHalfBits, halfBitsToFloat32 } from '../../activities/common/float16.ts';

test('every finite float16 value survives float16 -> float32 -> float16', () => {
  for (let h = 0; h < 0x10000; h++) {
    const f = halfBitsToFloat32(h);
    if (Number.isNaN(f)) {
      assert.ok(Number.isNaN(halfBitsToFloat32(float32ToHalfBits(f))));
      continue;
    }
    assert.equal(float32ToHalfBits(f), h, `bits ${h.toString(16)}`);
  }
});

test('rounding: nearest, ties to even, overflow to infinity, underflow through subnormals', () => {
  const cases: Array<[number, number]> = [
    [1, 0x3c00],
    [-2, 0xc000],
    [65504, 0x7bff],
    [65519, 0x7bff], // just under the halfway point to 65536
    [65520, 0x7c00], // the halfway point rounds to even: infinity
    [1 + 2 ** -11, 0x3c00], // tie between 1 and 1+2^-10: even mantissa (1) wins
    [1 + 3 * 2 ** -11, 0x3c02], // tie between 1+2^-10 and 1+2^-9: even (1+2^-9) wins
    [2 ** -24, 0x0001], // smallest subnormal
    [2 ** -25, 0x0000], // exactly half of it: ties to even (zero)
    [3 * 2 ** -26, 0x0001],
    [2 ** -14, 0x0400], // smallest normal
    [-0, 0x8000],
    [Infinity, 0x7c00],
    [1e-9, 0],
  ];
  for (const [v, bits] of cases) assert.equal(float32ToHalfBits(v), bits, String(v));
  assert.equal(float32ToHalfBits(NaN) & 0x7c00, 0x7c00);
});

test('little-endian blobs round trip', () => {
  const v = Float32Array.from([0.5, -1.25, 3.140625, 1024]);
  const blob = encodeFloat16(v);
  assert.deepEqual([...blob.slice(0, 2)], [0x00, 0x38]);
  assert.deepEqual(decodeFloat16(blob), v);
  assert.throws(() => decodeFloat16(new Uint8Array(3)), /odd byte length/);
});
