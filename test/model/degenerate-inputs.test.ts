/**
 * Degenerate inputs: zero vectors, constant batches, tiny temperatures.
 *
 * Ops level: l2Normalize, the fusion loss (CE + contrastive) and the train-mode normalisations
 * against PyTorch (fixtures from scripts/engine/torch_degenerate.py). float64 must match torch to
 * 1e-9 relative per element (the implementations differ in summation order only; a zero row's
 * gradient, gy / 1e-12, is ~1e11 and still relative-accurate); float32 must be finite everywhere
 * and within 1e-3 of each tensor's largest value (s = cos / tau carries float32 rounding times
 * 1/tau = 500 here).
 *
 * Training level: train() with the default loss and optimiser on features where one modality is
 * constant across samples, where every visual frame is zero, and where everything is constant
 * (training BatchNorm then sees zero variance): every epoch's losses and every weight stay finite.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { gradients } from '../../activities/engine/autodiff.ts';
import { Graph } from '../../activities/engine/graph.ts';
import type { FloatType, Value } from '../../activities/engine/graph.ts';
import { batchNormTrain, layerNorm, mul, reduceSum } from '../../activities/engine/ops/index.ts';
import { serializeGraph } from '../../activities/engine/serialize.ts';
import { floatData, openSession, tensor } from '../../activities/engine/session.ts';
import type { Feeds } from '../../activities/engine/session.ts';
import { defaultLossConfig, defaultOptimizerConfig, LossConfigSchema } from '../../activities/model/config.ts';
import type { FeatureSet } from '../../activities/model/data.ts';
import { fusionLoss, l2Normalize } from '../../activities/model/loss.ts';
import { train } from '../../activities/model/trainer.ts';
import { syntheticFeatures } from './synthetic.ts';
import { tinyConfig } from './tiny.ts';

interface NormalizeCase {
  name: string;
  shape: [number, number];
  x: number[];
  r: number[];
  y: number[];
  grad: number[];
}
interface LossCase {
  name: string;
  loss: unknown;
  n: number;
  labels: number[];
  logits: number[];
  projections: Record<'v' | 't' | 'a', number[]>;
  total: number;
  ce: number;
  contrastive: number;
  grads: Record<'logits' | 'v' | 't' | 'a', number[]>;
}
interface NormCase {
  name: string;
  kind: 'batchNorm' | 'layerNorm';
  shape: [number, number];
  x: number[];
  gamma: number[];
  beta: number[];
  r: number[];
  y: number[];
  grads: Record<'x' | 'gamma' | 'beta', number[]>;
}

const fixture = JSON.parse(
  readFileSync(new URL('../fixtures/engine/torch-degenerate.json', import.meta.url), 'utf8'),
) as { normalize: NormalizeCase[]; losses: LossCase[]; norms: NormCase[] };

const DTYPES: FloatType[] = ['float64', 'float32'];

function assertFinite(actual: ArrayLike<number>, what: string): void {
  for (let i = 0; i < actual.length; i++) assert.ok(Number.isFinite(actual[i]), `${what}[${i}] = ${actual[i]}`);
}

/** float64: per element; float32: finite and within 1e-3 of the tensor's largest |value|. */
function matches(dtype: FloatType, actual: ArrayLike<number>, expected: readonly number[], what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  assertFinite(actual, `${dtype} ${what}`);
  const scale = Math.max(...expected.map(Math.abs));
  for (let i = 0; i < expected.length; i++) {
    const tol = dtype === 'float64' ? 1e-12 + 1e-9 * Math.abs(expected[i]) : 1e-3 * scale + 1e-6;
    assert.ok(Math.abs(actual[i] - expected[i]) <= tol, `${dtype} ${what}[${i}]: ${actual[i]} vs torch ${expected[i]}`);
  }
}

/** Builds `build` on graph inputs named x0.., differentiates sum(out[0] * r) (or out[0] itself
 * when r is absent) with respect to the float inputs, and runs it once. */
async function runGraph(
  dtype: FloatType,
  inputs: readonly { data: readonly number[]; shape: number[]; int?: boolean }[],
  build: (xs: Value[]) => Value[],
  r?: readonly number[],
): Promise<{ outputs: (Float32Array | Float64Array)[]; grads: (Float32Array | Float64Array)[] }> {
  const g = new Graph(dtype);
  const xs = inputs.map((inp, i) => g.input(`x${i}`, inp.int ? 'int64' : dtype, inp.shape));
  const outs = build(xs);
  const head = outs[0];
  const f = r
    ? reduceSum(
        mul(head, g.constant([...r], dtype, head.shape as number[])),
        head.shape.map((_, i) => i),
      )
    : head;
  const wrt = xs.filter((_, i) => !inputs[i].int);
  const grads = gradients(f, wrt);
  outs.forEach((o, i) => g.output(o, `out${i}`));
  grads.forEach((gr, i) => g.output(gr, `grad${i}`));
  const session = await openSession(serializeGraph(g), { threads: 1 });
  const feeds: Feeds = {};
  inputs.forEach((inp, i) => {
    feeds[`x${i}`] = inp.int
      ? tensor(
          'int64',
          BigInt64Array.from(inp.data, (v) => BigInt(v)),
          inp.shape,
        )
      : tensor(dtype, dtype === 'float64' ? Float64Array.from(inp.data) : Float32Array.from(inp.data), inp.shape);
  });
  const res = await session.run(feeds);
  await session.release();
  return {
    outputs: outs.map((_, i) => floatData(res[`out${i}`])),
    grads: grads.map((_, i) => floatData(res[`grad${i}`])),
  };
}

describe('degenerate inputs, ops level, against PyTorch', () => {
  for (const dtype of DTYPES) {
    for (const c of fixture.normalize) {
      test(`${dtype} l2Normalize, ${c.name}: forward and gradient as F.normalize`, async () => {
        const { outputs, grads } = await runGraph(
          dtype,
          [{ data: c.x, shape: c.shape }],
          ([x]) => [l2Normalize(x)],
          c.r,
        );
        matches(dtype, outputs[0], c.y, 'y');
        matches(dtype, grads[0], c.grad, 'grad');
      });
    }

    for (const c of fixture.losses) {
      test(`${dtype} fusion loss, ${c.name}: finite and as torch_model.fusion_loss`, async () => {
        const cfg = LossConfigSchema.parse(c.loss);
        const classes = c.logits.length / c.n;
        const dim = c.projections.v.length / c.n;
        const { outputs, grads } = await runGraph(
          dtype,
          [
            { data: c.logits, shape: [c.n, classes] },
            { data: c.projections.v, shape: [c.n, dim] },
            { data: c.projections.t, shape: [c.n, dim] },
            { data: c.projections.a, shape: [c.n, dim] },
            { data: c.labels, shape: [c.n], int: true },
          ],
          ([logits, v, t, a, labels]) => {
            const out = fusionLoss(logits, { v, t, a }, labels, cfg);
            return [out.total, out.ce, out.contrastive];
          },
        );
        matches(dtype, outputs[0], [c.total], 'total');
        matches(dtype, outputs[1], [c.ce], 'ce');
        matches(dtype, outputs[2], [c.contrastive], 'contrastive');
        (['logits', 'v', 't', 'a'] as const).forEach((k, i) => matches(dtype, grads[i], c.grads[k], `grad ${k}`));
      });
    }

    for (const c of fixture.norms) {
      test(`${dtype} ${c.kind}, ${c.name}: finite and as torch`, async () => {
        const features = c.shape[1];
        const { outputs, grads } = await runGraph(
          dtype,
          [
            { data: c.x, shape: c.shape },
            { data: c.gamma, shape: [features] },
            { data: c.beta, shape: [features] },
          ],
          ([x, gamma, beta]) => [
            c.kind === 'batchNorm' ? batchNormTrain(x, gamma, beta, 1e-5).y : layerNorm(x, gamma, beta, 1e-5),
          ],
          c.r,
        );
        matches(dtype, outputs[0], c.y, 'y');
        (['x', 'gamma', 'beta'] as const).forEach((k, i) => matches(dtype, grads[i], c.grads[k], `grad ${k}`));
      });
    }
  }
});

describe('degenerate inputs, training level (default loss and optimiser)', () => {
  const model = tinyConfig();
  const { text, audio } = model.inputs;
  const base = (seed: number): FeatureSet => syntheticFeatures(model, { n: 24, informative: ['t', 'a'], seed });
  const constantAcross = (x: Float32Array, dim: number): Float32Array => {
    const out = new Float32Array(x.length);
    for (let i = 0; i < x.length; i += dim) out.set(x.subarray(0, dim), i);
    return out;
  };
  const cases: [string, (s: FeatureSet) => FeatureSet][] = [
    ['text constant across samples', (s) => ({ ...s, t: constantAcross(s.t!, text) })],
    ['every visual frame zero', (s) => ({ ...s, v: new Float32Array(s.v!.length) })],
    [
      'every modality constant (BatchNorm sees zero variance)',
      (s) => ({
        ...s,
        t: constantAcross(s.t!, text),
        a: constantAcross(s.a!, audio),
        v: new Float32Array(s.v!.length),
      }),
    ],
  ];
  for (const [name, degrade] of cases) {
    test(name, async () => {
      const result = await train(
        { train: degrade(base(1)), validation: degrade(base(2)) },
        {
          model,
          loss: defaultLossConfig(),
          optimizer: defaultOptimizerConfig(),
          batchSize: 8,
          maxEpochs: 3,
          patience: 3,
          seed: 5,
          checkpointEverySteps: 0,
        },
        { runtime: { threads: 1 } },
      );
      assert.equal(result.history.length, 3);
      for (const r of result.history)
        for (const [k, v] of Object.entries({
          loss: r.loss,
          ce: r.ce,
          contrastive: r.contrastive,
          gradNorm: r.gradNorm,
        }))
          assert.ok(Number.isFinite(v), `epoch ${r.epoch} ${k} = ${v}`);
      for (const w of [result.weights, result.lastWeights])
        for (const [tensorName, values] of [...w.params, ...w.buffers]) assertFinite(values, tensorName);
    });
  }
});
