/**
 * Parity with an independent PyTorch implementation (scripts/engine/torch_model.py, fixtures from
 * scripts/engine/torch_reference.py): same initial weights, batches and dropout masks, three Adam
 * steps. Scenarios cover every loss option (pairReduction mean and sum, the `ta` pair and a mean
 * over the active pairs only, `reference` normalisation, class weights, a temperature of 0.01 whose
 * exp(1/tau) overflows float32); the first test below keeps that coverage from eroding.
 *
 * float64 on both sides: the implementations differ only in summation order and in erf (ours is
 * accurate to 4e-16). Measured: losses agree to 2e-16 relative, weights after three steps to 2e-12
 * except where a gradient cancels exactly (biases ahead of BatchNorm): there Adam's step is driven
 * by weight decay plus ~1e-16 of rounding noise, which moves the weight by ~1e-12 absolute. We
 * allow 1e-9 relative plus 1e-12 absolute (gradients) or 1e-11 absolute (weights): orders of
 * magnitude above rounding, orders below any real difference.
 * float32 engine against the float64 reference: float32 rounding (eps 6e-8) through ~30 layers
 * gives ~1e-6 relative error in losses and gradients; we allow 1e-4 relative to each gradient
 * tensor's largest entry and 1e-5 relative on losses.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { floatData, openSession } from '../../activities/engine/session.ts';
import { LossConfigSchema, ModelConfigSchema, OptimizerConfigSchema } from '../../activities/model/config.ts';
import type { LossConfig, Modality } from '../../activities/model/config.ts';
import { bufferInput, paramInput } from '../../activities/model/context.ts';
import { featureFeeds, maskFeeds, stateFeeds } from '../../activities/model/feeds.ts';
import type { Batch } from '../../activities/model/feeds.ts';
import { buildGradientGraph, buildInferenceGraph, IO } from '../../activities/model/graphs.ts';
import { Evaluator, TrainStepRunner } from '../../activities/model/runtime.ts';

interface FixtureBatch {
  n: number;
  t: number[];
  a: number[];
  v: number[];
  vLen: number[];
  labels?: number[];
}
interface FixtureStep {
  batch: FixtureBatch;
  masks: Record<string, number[]>;
  loss: number;
  ce: number;
  contrastive: number;
  gradNorm: number;
}
interface Scenario {
  name: string;
  model: unknown;
  loss: unknown;
  optimizer: unknown;
  initial: { params: Record<string, number[]>; buffers: Record<string, number[]> };
  steps: FixtureStep[];
  firstGradients: Record<string, number[]>;
  final: { params: Record<string, number[]>; buffers: Record<string, number[]> };
  eval: { batch: FixtureBatch; logits: number[] };
}

const fixture = JSON.parse(readFileSync(new URL('../fixtures/engine/torch-parity.json', import.meta.url), 'utf8')) as {
  scenarios: Scenario[];
};

const toMap = (rec: Record<string, number[]>): Map<string, Float64Array> =>
  new Map(Object.entries(rec).map(([k, v]) => [k, Float64Array.from(v)]));
const toBatch = (b: FixtureBatch): Batch => ({
  n: b.n,
  t: Float64Array.from(b.t),
  a: Float64Array.from(b.a),
  v: Float64Array.from(b.v),
  vLen: BigInt64Array.from(b.vLen, (x) => BigInt(x)),
  ...(b.labels ? { labels: BigInt64Array.from(b.labels, (x) => BigInt(x)) } : {}),
});
const toMasks = (m: Record<string, number[]>): Map<string, Uint8Array> =>
  new Map(Object.entries(m).map(([k, v]) => [k, Uint8Array.from(v)]));

function close(actual: number, expected: number, rtol: number, atol: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= atol + rtol * Math.abs(expected), `${what}: ${actual} vs torch ${expected}`);
}

function closeArrays(
  actual: ArrayLike<number>,
  expected: readonly number[],
  rtol: number,
  atol: number,
  what: string,
): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) close(actual[i], expected[i], rtol, atol, `${what}[${i}]`);
}

test('the scenarios cover every loss option', () => {
  const losses = fixture.scenarios.map((sc) => LossConfigSchema.parse(sc.loss));
  const has = (pred: (l: LossConfig) => boolean, what: string): void => assert.ok(losses.some(pred), what);
  has((l) => l.pairReduction === 'mean' && l.pairs.length > 1, 'pairReduction mean over several pairs');
  has((l) => l.pairReduction === 'sum' && l.pairs.length > 1, 'pairReduction sum over several pairs');
  has((l) => l.pairs.includes('ta'), 'the ta pair');
  has((l) => l.normalization === 'reference', 'reference normalisation');
  has((l) => l.normalization === 'positives', 'positives normalisation');
  has((l) => l.classWeights !== undefined, 'class weights');
  has((l) => l.temperature <= 0.01, 'a temperature whose exp(1/tau) overflows float32');
  assert.ok(
    fixture.scenarios.some((sc) => {
      const m = ModelConfigSchema.parse(sc.model).modalities;
      const l = LossConfigSchema.parse(sc.loss);
      return (
        l.pairReduction === 'mean' &&
        l.pairs.some((p) => !m.includes(p[0] as Modality) || !m.includes(p[1] as Modality))
      );
    }),
    'a mean with configured pairs the variant lacks (averaged over the active pairs only)',
  );
});

for (const sc of fixture.scenarios) {
  const model = ModelConfigSchema.parse(sc.model);
  const loss = LossConfigSchema.parse(sc.loss);
  const optimizer = OptimizerConfigSchema.parse(sc.optimizer);

  describe(`PyTorch parity: ${sc.name}`, () => {
    test('float64: the same parameters, buffers and dropout sites', async () => {
      const runner = await TrainStepRunner.create(model, loss, optimizer, { threads: 1 }, 'float64');
      assert.deepEqual(runner.layout.params.map((p) => p.name).sort(), Object.keys(sc.initial.params).sort());
      assert.deepEqual(runner.layout.buffers.map((p) => p.name).sort(), Object.keys(sc.initial.buffers).sort());
      assert.deepEqual(runner.layout.masks.map((p) => p.name).sort(), Object.keys(sc.steps[0].masks).sort());
      await runner.release();
    });

    test('float64: first-step gradients match', async () => {
      const built = buildGradientGraph(model, loss, 'float64');
      const session = await openSession(built.serialize(), { threads: 1 });
      const step = sc.steps[0];
      const batch = toBatch(step.batch);
      const out = await session.run({
        ...featureFeeds(model, batch, 'float64'),
        ...maskFeeds(built.layout.masks, batch.n, toMasks(step.masks)),
        ...stateFeeds(built.layout.params, paramInput, toMap(sc.initial.params), 'float64'),
        ...stateFeeds(built.layout.buffers, bufferInput, toMap(sc.initial.buffers), 'float64'),
      });
      close(floatData(out[IO.loss])[0], step.loss, 1e-9, 0, 'loss');
      for (const spec of built.layout.params)
        closeArrays(floatData(out[IO.grad(spec.name)]), sc.firstGradients[spec.name], 1e-9, 1e-12, `grad ${spec.name}`);
      await session.release();
    });

    test('float64: three Adam steps give the same losses, weights, running statistics and eval logits', async () => {
      const runner = await TrainStepRunner.create(model, loss, optimizer, { threads: 1 }, 'float64');
      runner.load({ params: toMap(sc.initial.params), buffers: toMap(sc.initial.buffers) });
      for (const [i, step] of sc.steps.entries()) {
        const stats = await runner.step(toBatch(step.batch), toMasks(step.masks), i + 1);
        close(stats.loss, step.loss, 1e-9, 0, `step ${i + 1} loss`);
        close(stats.ce, step.ce, 1e-9, 0, `step ${i + 1} ce`);
        close(stats.contrastive, step.contrastive, 1e-9, 1e-12, `step ${i + 1} contrastive`);
        close(stats.gradNorm, step.gradNorm, 1e-9, 0, `step ${i + 1} grad norm`);
      }
      const state = runner.snapshot();
      for (const [name, values] of Object.entries(sc.final.params))
        closeArrays(state.params.get(name)!, values, 1e-9, 1e-11, `param ${name}`);
      for (const [name, values] of Object.entries(sc.final.buffers))
        closeArrays(state.buffers.get(name)!, values, 1e-9, 1e-12, `buffer ${name}`);
      const evaluator = await Evaluator.create(model, { threads: 1 }, 'float64');
      closeArrays(
        await evaluator.logits(toBatch(sc.eval.batch), runner.weightFeeds()),
        sc.eval.logits,
        1e-9,
        1e-12,
        'eval logits',
      );
      await Promise.all([runner.release(), evaluator.release()]);
    });

    test('float32 engine: losses and first gradients within float32 rounding', async () => {
      const runner = await TrainStepRunner.create(model, loss, optimizer, { threads: 1 }, 'float32');
      runner.load({ params: toMap(sc.initial.params), buffers: toMap(sc.initial.buffers) });
      const first = await runner.step(toBatch(sc.steps[0].batch), toMasks(sc.steps[0].masks), 1);
      close(first.loss, sc.steps[0].loss, 1e-5, 0, 'float32 loss');
      await runner.release();
      const built = buildGradientGraph(model, loss, 'float32');
      const session = await openSession(built.serialize(), { threads: 1 });
      const step = sc.steps[0];
      const batch = toBatch(step.batch);
      const out = await session.run({
        ...featureFeeds(model, batch, 'float32'),
        ...maskFeeds(built.layout.masks, batch.n, toMasks(step.masks)),
        ...stateFeeds(built.layout.params, paramInput, toMap(sc.initial.params), 'float32'),
        ...stateFeeds(built.layout.buffers, bufferInput, toMap(sc.initial.buffers), 'float32'),
      });
      const globalScale = Math.max(...Object.values(sc.firstGradients).flat().map(Math.abs));
      for (const spec of built.layout.params) {
        const expected = sc.firstGradients[spec.name];
        const scale = Math.max(...expected.map(Math.abs));
        // gradients that cancel exactly (biases feeding BatchNorm) leave a float32 residue of
        // eps times the cancelled terms, bounded by 1e-6 of the largest gradient
        closeArrays(
          floatData(out[IO.grad(spec.name)]),
          expected,
          0,
          1e-4 * scale + 1e-6 * globalScale,
          `float32 grad ${spec.name}`,
        );
      }
      await session.release();
    });

    test('float32 exported inference model reproduces torch eval-mode logits', async () => {
      const weights = new Map([...toMap(sc.final.params), ...toMap(sc.final.buffers)]);
      const session = await openSession(buildInferenceGraph(model, weights).serialize(), { threads: 1 });
      const out = await session.run(featureFeeds(model, toBatch(sc.eval.batch), 'float32'));
      const scale = Math.max(...sc.eval.logits.map(Math.abs));
      closeArrays(floatData(out[IO.logits]), sc.eval.logits, 0, 1e-5 * scale, 'exported logits');
      await session.release();
    });
  });
}
