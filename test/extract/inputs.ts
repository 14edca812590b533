/**
 * Inputs shared with scripts/extract/make_tiny_models.py, generated with integer arithmetic only so
 * both languages produce bit-identical samples and pixels, and the expected outputs it wrote.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { encodeWav } from '../../activities/common/wav.ts';

export const MODELS = fileURLToPath(new URL('../fixtures/models/', import.meta.url));
export const TINY = {
  text: `${MODELS}tiny-bert`,
  audio: `${MODELS}tiny-wav2vec2`,
  visual: `${MODELS}tiny-swin`,
} as const;

/** `lcg_samples` of the generator: LCG noise plus a triangle wave, int16. */
export function lcgSamples(n: number, seed: number): Int16Array {
  const out = new Int16Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    // mod 2^31 of the product only depends on its low 32 bits, which Math.imul gives exactly
    x = (Math.imul(1103515245, x) + 12345) & 0x7fffffff;
    const noise = ((x >>> 16) % 4001) - 2000;
    let tri = (i * 7 + seed) % 400;
    tri = (tri < 200 ? tri : 400 - tri) * 60 - 6000;
    out[i] = noise + tri;
  }
  return out;
}

/** `frames_rgb` of the generator: [count, size, size, 3] uint8. */
export function framesRgb(count: number, seed: number, size = 224): Uint8Array {
  const out = new Uint8Array(count * size * size * 3);
  let o = 0;
  for (let f = 0; f < count; f++) {
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        out[o++] = (x * 3 + y * 5 + f * 41 + seed * 7) % 256;
        out[o++] = (x * y + f * 13 + seed) % 256;
        out[o++] = (Math.floor(x / 8) * Math.floor(y / 8) * 17 + f * 29 + seed * 3) % 256;
      }
    }
  }
  return out;
}

export interface ExpectedCase {
  name: string;
  shape: number[];
  sequence: number[];
  pooled: number[];
}
export interface Expected {
  torch: string;
  text: Array<
    ExpectedCase & { text: string; context: string[]; ids: number[]; typeIds: number[]; utteranceStart: number }
  >;
  audio: { receptiveField: number; cases: Array<ExpectedCase & { samples: number; seed: number }> };
  visual: Array<ExpectedCase & { frames: number; seed: number }>;
}

export const expected = JSON.parse(readFileSync(`${MODELS}expected.json`, 'utf8')) as Expected;

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** Canonical 44-byte-header 16 kHz mono 16-bit WAV, as the segment stage writes. */
export function wavBytes(samples: Int16Array, sampleRate = 16000, channels = 1): Uint8Array {
  const buf = encodeWav(samples, sampleRate, channels);
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.length);
}
