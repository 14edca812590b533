/**
 * Gradients of the full loss (CE + contrastive) through the whole fusion model against central
 * finite differences in float64, for each summary mode, loss option and modality subset.
 *
 * Each parameter tensor is checked along a random direction d (one directional derivative
 * <grad, d> covers all its elements at once) and at two single coordinates. With h = 1e-6 in
 * float64 the difference quotient is accurate to ~1e-9 relative (see test/engine/ops-grad.test.ts);
 * we allow 1e-6 relative plus 1e-9 absolute, far below the O(1) error of any wrong rule.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { openSession, floatData } from '../../activities/engine/session.ts';
import type { LossConfig, ModelConfig } from '../../activities/model/config.ts';
import { bufferInput, paramInput } from '../../activities/model/context.ts';
import { featureFeeds, maskFeeds, stateFeeds, stepMasks } from '../../activities/model/feeds.ts';
import { buildGradientGraph, IO } from '../../activities/model/graphs.ts';
import { initialWeights } from '../../activities/model/state.ts';
import { seededUniform } from '../engine/fd-harness.ts';
import { refLoss, tinyBatch, tinyConfig } from './tiny.ts';

async function checkModel(cfg: ModelConfig, loss: LossConfig, seed: number): Promise<void> {
  const built = buildGradientGraph(cfg, loss, 'float64');
  const session = await openSession(built.serialize(), { threads: 1 });
  const weights = initialWeights(built.layout, seed);
  // TCN weights start at N(0, 0.01): scale them up so every path carries a non-negligible gradient
  const params = new Map<string, Float64Array>();
  const rnd = seededUniform(seed + 1);
  for (const [name, v] of weights.params)
    params.set(
      name,
      Float64Array.from(
        v,
        (x) => x * (name.startsWith('tcn') ? 20 : 1) + (name.endsWith('weight_g') ? 0 : 0.05 * rnd()),
      ),
    );
  const batch = tinyBatch(cfg);
  const fixed = {
    ...featureFeeds(cfg, batch, 'float64'),
    ...maskFeeds(built.layout.masks, batch.n, stepMasks(built.layout.masks, batch.n, seed, 0)),
    ...stateFeeds(built.layout.buffers, bufferInput, weights.buffers, 'float64'),
  };
  const run = async (p: Map<string, Float64Array>) =>
    session.run({ ...fixed, ...stateFeeds(built.layout.params, paramInput, p, 'float64') });
  const base = await run(params);
  const lossAt = async (p: Map<string, Float64Array>) => floatData((await run(p))[IO.loss])[0];
  const h = 1e-6;
  for (const spec of built.layout.params) {
    const grad = floatData(base[IO.grad(spec.name)]);
    const x = params.get(spec.name)!;
    const d = Float64Array.from(x, () => rnd());
    const shifted = (sign: number) =>
      new Map(params).set(
        spec.name,
        Float64Array.from(x, (xi, i) => xi + sign * h * d[i]),
      );
    const numeric = ((await lossAt(shifted(1))) - (await lossAt(shifted(-1)))) / (2 * h);
    let analytic = 0;
    for (let i = 0; i < grad.length; i++) analytic += grad[i] * d[i];
    assert.ok(
      Math.abs(analytic - numeric) <= 1e-9 + 1e-6 * Math.abs(numeric),
      `${spec.name}: <grad, d> ${analytic} vs FD ${numeric}`,
    );
    // BatchNorm subtracts the batch mean, so a bias (or any constant shift) entering a
    // Linear -> BatchNorm block has exactly zero gradient; everything else must get one
    const cancelled =
      /^(early|classifier)\.\d+\.linear\.bias$/.test(spec.name) ||
      (cfg.modalities.length === 1 && spec.name.endsWith('layer_norm.bias'));
    if (cancelled)
      assert.ok(Math.abs(analytic) < 1e-12, `${spec.name} should get no gradient through BatchNorm, got ${analytic}`);
    else assert.ok(Math.abs(numeric) > 1e-7, `${spec.name} gets no gradient`);
    for (const e of [0, Math.floor(x.length / 2)]) {
      const at = (sign: number) =>
        new Map(params).set(
          spec.name,
          Float64Array.from(x, (xi, i) => (i === e ? xi + sign * h : xi)),
        );
      const fd = ((await lossAt(at(1))) - (await lossAt(at(-1)))) / (2 * h);
      assert.ok(Math.abs(grad[e] - fd) <= 1e-9 + 1e-6 * Math.abs(fd), `${spec.name}[${e}]: ${grad[e]} vs FD ${fd}`);
    }
  }
  await session.release();
}

describe('full-model gradients vs finite differences (float64)', () => {
  test('all modalities, guided summary, fixed contrastive normalisation', async () => {
    await checkModel(tinyConfig(), refLoss(), 11);
  });
  test('last-timestep summary, reference normalisation, text-audio pair, class weights', async () => {
    await checkModel(
      tinyConfig({ summary: 'last' }),
      refLoss({ normalization: 'reference', pairs: ['vt', 'va', 'ta'], classWeights: [1, 2, 0.5] }),
      12,
    );
  });
  test('visual only (learned attention query) and text+audio subsets', async () => {
    await checkModel(tinyConfig({ modalities: ['v'] }), refLoss(), 13);
    await checkModel(tinyConfig({ modalities: ['t', 'a'] }), refLoss({ pairs: ['ta'] }), 14);
  });
});
