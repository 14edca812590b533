/** The near-zero-variance check of a fold's training features (activities/train/variance.ts). */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { FeatureSet } from '../../activities/model/data.ts';
import { checkModalityVariance, meanVariance } from '../../activities/train/variance.ts';

const DIMS = { text: 3, audio: 2, visual: 2, frames: 4 };

/** n = 3 samples; valid visual frames 2, 4, 1 (7 in all), padding zero. */
function set(
  t: (i: number, d: number) => number,
  a: (i: number, d: number) => number,
  v: (i: number, f: number, d: number) => number,
): FeatureSet {
  const n = 3;
  const lengths = Int32Array.from([2, 4, 1]);
  const fill = (w: number, f: (i: number, d: number) => number) =>
    Float32Array.from({ length: n * w }, (_, k) => f(Math.floor(k / w), k % w));
  const vis = new Float32Array(n * DIMS.frames * DIMS.visual);
  for (let i = 0; i < n; i++)
    for (let f = 0; f < lengths[i]; f++)
      for (let d = 0; d < DIMS.visual; d++) vis[(i * DIMS.frames + f) * DIMS.visual + d] = v(i, f, d);
  return {
    n,
    labels: Int32Array.from([0, 1, 0]),
    t: fill(DIMS.text, t),
    a: fill(DIMS.audio, a),
    v: vis,
    vLengths: lengths,
  };
}

describe('checkModalityVariance', () => {
  test('the mean over dimensions of the per-dimension population variance', () => {
    // dimension 0: 1, 3 (variance 1); dimension 1: 0, 0 (variance 0)
    const s = meanVariance(Float32Array.from([1, 0, 3, 0]), 2);
    assert.deepEqual(s, { variance: 0.5, meanSquare: 0.5 + (4 + 0) / 2, rows: 2 });
  });

  test('varied features: variances recorded, no warning', () => {
    const r = checkModalityVariance(
      set(
        (i, d) => i + d,
        (i, d) => i * d - 1,
        (i, f, d) => i + f * d,
      ),
      ['t', 'a', 'v'],
      DIMS,
    );
    assert.deepEqual(r.warnings, []);
    assert.ok(r.modalityVariance.t! > 0 && r.modalityVariance.a! > 0 && r.modalityVariance.v! > 0);
    assert.ok(Math.abs(r.modalityVariance.t! - 2 / 3) < 1e-12);
  });

  test('a constant modality warns; visual padding does not count as variation', () => {
    const r = checkModalityVariance(
      set(
        (i, d) => i - d,
        () => 0,
        (_i, _f, d) => 0.3 + d,
      ),
      ['t', 'a', 'v'],
      DIMS,
    );
    assert.deepEqual(
      r.warnings.map((w) => [w.modality, w.variance, w.message]),
      [
        ['a', 0, 'audio carries no information in this corpus (variance 0 over 3 training utterances)'],
        [
          'v',
          0,
          'visual carries no information in this corpus (variance 0 over 3 training utterances, 7 valid frames)',
        ],
      ],
    );
    assert.equal(r.modalityVariance.v, 0);
  });

  test('relative to the features’ scale: small real variation passes, variation at float32 resolution of a large value warns', () => {
    const small = checkModalityVariance(
      set(
        (i) => 1e-5 * i,
        (i) => 1e-5 * (2 - i),
        () => 0,
      ),
      ['t', 'a'],
      DIMS,
    );
    assert.deepEqual(small.warnings, []);
    const large = checkModalityVariance(
      set(
        (i) => 1e3 + (i % 2) * 1e-4,
        () => 1,
        () => 0,
      ),
      ['t'],
      DIMS,
    );
    assert.deepEqual(
      large.warnings.map((w) => w.modality),
      ['t'],
    );
  });

  test('only the modalities asked for are checked', () => {
    const r = checkModalityVariance(
      set(
        (i) => i,
        () => 0,
        () => 0,
      ),
      ['t'],
      DIMS,
    );
    assert.deepEqual(Object.keys(r.modalityVariance), ['t']);
    assert.deepEqual(r.warnings, []);
  });
});
