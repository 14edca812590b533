import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeFloat16, encodeFloat16, floatToHalfBits } from '../../activities/common/float16.ts';
import { Rng } from '../../activities/model/rng.ts';

describe('float16', () => {
  test('known bit patterns', () => {
    const cases: Array<[number, number]> = [
      [0, 0x0000],
      [-0, 0x8000],
      [1, 0x3c00],
      [-2, 0xc000],
      [65504, 0x7bff], // largest finite half
      [65520, 0x7c00], // rounds up to infinity
      [Infinity, 0x7c00],
      [-Infinity, 0xfc00],
      [2 ** -14, 0x0400], // smallest normal
      [2 ** -24, 0x0001], // smallest subnormal
      [2 ** -25, 0x0000], // exactly half of it: ties to even (zero)
      [1.5 * 2 ** -25, 0x0001],
      [1 + 2 ** -11, 0x3c00], // tie between 1 and the next half: even mantissa wins
      [1 + 3 * 2 ** -11, 0x3c02],
      [0.1, 0x2e66],
    ];
    for (const [value, bits] of cases) assert.equal(floatToHalfBits(value), bits, `${value}`);
    assert.equal(floatToHalfBits(NaN) & 0x7c00, 0x7c00);
    assert.ok(floatToHalfBits(NaN) & 0x3ff);
  });

  test('every half value survives decode -> encode, at any byte alignment', () => {
    const bytes = new Uint8Array(65536 * 2 + 1);
    for (let h = 0; h < 65536; h++) {
      bytes[1 + 2 * h] = h & 0xff;
      bytes[2 + 2 * h] = h >>> 8;
    }
    const decoded = decodeFloat16(bytes.subarray(1));
    const back = encodeFloat16(decoded);
    for (let h = 0; h < 65536; h++) {
      const isNaN = (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;
      if (isNaN) assert.ok(Number.isNaN(decoded[h]));
      else assert.equal(back[2 * h] | (back[2 * h + 1] << 8), h, `0x${h.toString(16)}`);
    }
    assert.throws(() => decodeFloat16(new Uint8Array(3)), /odd byte/);
  });

  test('relative rounding error of normal values is at most 2^-11', () => {
    const rng = new Rng(16, 1);
    for (let i = 0; i < 10000; i++) {
      const x = (rng.uniform() - 0.5) * 2 ** (Math.floor(rng.uniform() * 28) - 12);
      if (Math.abs(x) < 2 ** -14) continue;
      const y = decodeFloat16(encodeFloat16([x]))[0];
      assert.ok(Math.abs(y - x) <= Math.abs(x) * 2 ** -11, `${x} -> ${y}`);
    }
  });
});
