import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { contentKey } from '../../activities/common/hash.ts';
import { effectiveVscParams, vscKey } from '../../activities/compress/key.ts';
import { compressFrame } from '../../activities/compress/vsc.ts';
import { RunConfigSchema } from '../../schemas/config.ts';
import { VSC_CODE_VERSION, VscParamsSchema, mergeWeight, vscParams } from '../../schemas/compress.ts';

/**
 * `compress.keepWeight` is the reference's `alpha` (the weight a kept token keeps). It replaced our
 * `alpha` (the weight of the merged tokens, 1 - keepWeight) without changing a sequence or a key.
 */
describe('compress.keepWeight', () => {
  test("the default is the paper's 0.9, and the merged tokens weigh exactly 0.1 as before", () => {
    assert.equal(vscParams().keepWeight, 0.9);
    assert.equal(mergeWeight(0.9), 0.1);
    assert.equal(mergeWeight(0.75), 0.25);
    assert.equal(mergeWeight(1), 0);
    assert.equal(mergeWeight(0), 1);
  });

  test('cache keys are those of the alpha era: the key names the merged weight alpha', () => {
    // The key object as schemas/compress.ts defined it before the rename (alpha 0.1 = keepWeight 0.9).
    const before = contentKey({
      stage: 'compress/vsc',
      code: VSC_CODE_VERSION,
      params: {
        enabled: true,
        topK: 16,
        mergeThreshold: 0.6,
        alpha: 0.1,
        mergeMode: 'accumulate',
        temporalThreshold: 0.97,
        maxFrames: 15,
        cap: 'merge',
        guidance: 'none',
      },
      visual: 'features/visual/abc',
    });
    assert.equal(vscKey(vscParams(), { visual: 'features/visual/abc' }), before);
    assert.equal(effectiveVscParams(vscParams({ keepWeight: 0.7 })).alpha, 0.3);
    assert.notEqual(vscKey(vscParams({ keepWeight: 0.7 }), { visual: 'v' }), vscKey(vscParams(), { visual: 'v' }));
  });

  test('stored parameters written with alpha (reports, model recipes, running workflows) read as keepWeight', () => {
    const legacy = VscParamsSchema.parse({ topK: 8, alpha: 0.1 });
    assert.equal(legacy.keepWeight, 0.9);
    assert.equal(legacy.topK, 8);
    assert.equal(VscParamsSchema.parse({ alpha: 0.25 }).keepWeight, 0.75);
  });

  test('a run config with compress.alpha is refused with the mapping, at compress.alpha', () => {
    const r = RunConfigSchema.safeParse({ datasets: { meld: { source: 'm.tar.gz' } }, compress: { alpha: 0.9 } });
    assert.equal(r.success, false);
    const issue = r.error.issues[0];
    assert.deepEqual(issue.path, ['compress', 'alpha']);
    assert.match(issue.message, /renamed to keepWeight/);
    assert.match(issue.message, /paper's alpha 0\.9 is keepWeight 0\.9/);
    assert.match(issue.message, /old compress\.alpha x is keepWeight 1 - x/);
    assert.equal(
      RunConfigSchema.parse({ datasets: { meld: { source: 'm.tar.gz' } }, compress: { keepWeight: 0.8 } }).compress
        .keepWeight,
      0.8,
    );
  });

  test('keepWeight 1 leaves kept tokens as they are; 0 replaces a merged token by what merged into it', () => {
    // Two tokens: the kept one (larger norm) and one dropped token similar enough to merge.
    const shape = { tokens: 2, dim: 2 };
    const frame = Float32Array.from([3, 0, 1, 0.2]);
    const guide = new Float64Array(2);
    const keep = compressFrame(frame, shape, vscParams({ topK: 1, mergeThreshold: 0.5, keepWeight: 1 }), guide);
    assert.deepEqual(
      [...keep.vector].map((x) => +x.toFixed(6)),
      [3, 0],
    );
    const replace = compressFrame(frame, shape, vscParams({ topK: 1, mergeThreshold: 0.5, keepWeight: 0 }), guide);
    assert.deepEqual(
      [...replace.vector].map((x) => +x.toFixed(6)),
      [1, 0.2],
    );
  });
});
