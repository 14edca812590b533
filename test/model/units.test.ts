/** Seeded randomness, initialisation, presets, batching and metrics. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { defaultLossConfig, defaultOptimizerConfig, presetModelConfig } from '../../activities/model/config.ts';
import { TrainStepRunner } from '../../activities/model/runtime.ts';
import { stepMasks } from '../../activities/model/feeds.ts';
import { modelLayout } from '../../activities/model/graphs.ts';
import { classificationMetrics } from '../../activities/model/metrics.ts';
import { Rng, Stream } from '../../activities/model/rng.ts';
import { columnNorms, initialWeights, parameterCount } from '../../activities/model/state.ts';
import { batchesPerEpoch } from '../../activities/model/trainer.ts';
import { tinyConfig } from './tiny.ts';

const DIMS = { text: 768, audio: 768, visual: 768, frames: 15 };

describe('counter-based RNG', () => {
  test('a stream depends only on (seed, path)', () => {
    const draw = (r: Rng) => Array.from({ length: 5 }, () => r.nextU32());
    assert.deepEqual(draw(new Rng(1, Stream.Dropout, 7)), draw(new Rng(1, Stream.Dropout, 7)));
    assert.notDeepEqual(draw(new Rng(1, Stream.Dropout, 7)), draw(new Rng(1, Stream.Dropout, 8)));
    assert.notDeepEqual(draw(new Rng(1, Stream.Dropout, 7)), draw(new Rng(2, Stream.Dropout, 7)));
    assert.throws(() => new Rng(-1), /uint32/);
  });
  test('uniform, normal and permutation behave', () => {
    const r = new Rng(3, 1);
    const n = 20000;
    let sum = 0;
    let sq = 0;
    for (let i = 0; i < n; i++) {
      const z = r.normal();
      sum += z;
      sq += z * z;
    }
    // mean ~ N(0, 1/n): 5 sigma = 0.035; variance within 5 sigma of sqrt(2/n)
    assert.ok(Math.abs(sum / n) < 0.035);
    assert.ok(Math.abs(sq / n - 1) < 0.05);
    const p = r.permutation(1000);
    assert.deepEqual(
      Array.from(p).sort((a, b) => a - b),
      Array.from({ length: 1000 }, (_, i) => i),
    );
    assert.notDeepEqual(Array.from(p.slice(0, 10)), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });
  test('dropout masks keep 1 - p of the units and are reproducible per step', () => {
    const masks = [{ name: 'x', shape: ['N', 1000] as const, p: 0.3 }];
    const a = stepMasks(masks, 50, 9, 4).get('x')!;
    const kept = a.reduce((s, v) => s + v, 0) / a.length;
    // binomial std at n = 50000: 0.002; allow 5 sigma
    assert.ok(Math.abs(kept - 0.7) < 0.01, `keep rate ${kept}`);
    assert.deepEqual(stepMasks(masks, 50, 9, 4).get('x'), a);
    assert.notDeepEqual(stepMasks(masks, 50, 9, 5).get('x'), a);
  });
});

describe('model layout and initialisation', () => {
  test('presets differ only in TCN width; dataset flavour sets dropout', () => {
    const paper = presetModelConfig('paper', DIMS, 6);
    const compact = presetModelConfig('compact', DIMS, 6, { dataset: 'meld', modalities: ['t', 'a'], summary: 'last' });
    assert.equal(paper.tcn.channels, 1024);
    assert.equal(compact.tcn.channels, 256);
    assert.deepEqual(paper.dropout, { heads: 0.2, other: 0.3 });
    assert.deepEqual(compact.dropout, { heads: 0.4, other: 0.4 });
    assert.deepEqual(paper.classifierHidden, [512, 256, 128]);
    assert.equal(compact.summary, 'last');
    // TCN: 3 blocks of kernel 3; the first maps 768 -> C and has a 1x1 skip projection; each
    // weight-normed conv has v, g and a bias
    const tcn = (c: number) => 3 * 768 * c + 3 * c * c + 4 * c + (768 * c + c) + 2 * (2 * (3 * c * c + 2 * c));
    // the width also enters the visual head's projection (C -> 256) and the attention query (384 -> C)
    const widthDependent = (c: number) => tcn(c) + c * 256 + 384 * c + c;
    assert.equal(
      parameterCount(modelLayout(paper)) - parameterCount(modelLayout(presetModelConfig('compact', DIMS, 6))),
      widthDependent(1024) - widthDependent(256),
    );
  });
  test('seeded initialisation is reproducible and follows each parameter kind', () => {
    const layout = modelLayout(tinyConfig());
    const a = initialWeights(layout, 5);
    const b = initialWeights(layout, 5);
    const c = initialWeights(layout, 6);
    for (const [name, v] of a.params) assert.deepEqual(b.params.get(name), v);
    assert.notDeepEqual(c.params.get('classifier.out.weight'), a.params.get('classifier.out.weight'));
    const v = a.params.get('tcn.0.conv1.weight_v')!;
    const g = a.params.get('tcn.0.conv1.weight_g')!;
    const norms = new Float32Array(g.length);
    columnNorms(v, g.length, norms);
    assert.deepEqual(g, norms, 'weight-norm gains start at ||v|| so that w = v');
    const w = a.params.get('classifier.0.linear.weight')!;
    assert.ok(
      w.every((x) => Math.abs(x) <= 1 / Math.sqrt(18)),
      'Linear weights within U(+-1/sqrt(fan_in))',
    );
    assert.ok(a.params.get('head_t.layer_norm.weight')!.every((x) => x === 1));
    assert.ok(a.buffers.get('classifier.0.bn.running_var')!.every((x) => x === 1));
  });
  test('the compact preset at real feature sizes takes a finite training step that moves every weight', async () => {
    const model = presetModelConfig('compact', DIMS, 6);
    const runner = await TrainStepRunner.create(model, defaultLossConfig(), defaultOptimizerConfig(), { threads: 1 });
    runner.load(initialWeights(runner.layout, 3));
    const before = runner.snapshot().params;
    const n = 6;
    const rng = new Rng(4, 4);
    const normal = (k: number) => Float32Array.from({ length: k }, () => rng.normal());
    const batch = {
      n,
      t: normal(n * 768),
      a: normal(n * 768),
      v: normal(n * 15 * 768),
      vLen: BigInt64Array.of(15n, 3n, 9n, 1n, 15n, 7n),
      labels: BigInt64Array.of(0n, 1n, 2n, 0n, 1n, 2n),
    };
    const stats = await runner.step(batch, stepMasks(runner.layout.masks, n, 3, 1), 1);
    assert.ok(Number.isFinite(stats.loss) && stats.loss > 0 && stats.gradNorm > 0);
    const after = runner.snapshot().params;
    // Adam's first step moves every parameter with a non-zero gradient (or weight decay) by ~lr
    for (const [name, v] of before) assert.notDeepEqual(after.get(name), v, `${name} did not move`);
    await runner.release();
  });
  test('epoch batching skips only a trailing single sample', () => {
    assert.equal(batchesPerEpoch(64, 32), 2);
    assert.equal(batchesPerEpoch(65, 32), 2);
    assert.equal(batchesPerEpoch(66, 32), 3);
    assert.equal(batchesPerEpoch(1, 32), 0);
  });
});

describe('classification metrics', () => {
  test('accuracy, weighted and macro F1 against a hand-worked example', () => {
    // classes 0,1,2; confusion rows = truth: [[2,1,0],[0,1,1],[0,0,1]]
    const labels = [0, 0, 0, 1, 1, 2];
    const predicted = [0, 0, 1, 1, 2, 2];
    const m = classificationMetrics(labels, predicted, 3);
    assert.deepEqual(m.confusion, [
      [2, 1, 0],
      [0, 1, 1],
      [0, 0, 1],
    ]);
    assert.equal(m.accuracy, 4 / 6);
    const f1 = [0.8, 0.5, 2 / 3]; // P/R: c0 1 / 2/3, c1 1/2 / 1/2, c2 1/2 / 1
    f1.forEach((f, c) => assert.ok(Math.abs(m.perClass[c].f1 - f) < 1e-12));
    assert.ok(Math.abs(m.weightedF1 - (3 * 0.8 + 2 * 0.5 + 1 * (2 / 3)) / 6) < 1e-12);
    assert.ok(Math.abs(m.macroF1 - (0.8 + 0.5 + 2 / 3) / 3) < 1e-12);
  });
});
