/**
 * Every op's backward rule against central finite differences.
 *
 * float64 (h = 1e-6): truncation error h^2/6 |f'''| ~ 1e-13 and rounding error eps|f|/h ~ 1e-10, so
 * a relative tolerance of 1e-6 leaves four orders of margin while any wrong rule (a missing factor,
 * a transposed product, a dropped broadcast term) is off by O(1).
 * float32 is checked where the ONNX op has no double kernel in onnxruntime's CPU provider (Erf,
 * the LeakyRelu and BatchNormalization nodes used by float32 graphs): with eps = 6e-8 and h = 5e-3
 * the difference quotient carries ~|f| eps / h ~ 1e-5 |f| rounding error plus h^2/6 |f'''| ~ 4e-6
 * truncation error, so we allow 2e-3 relative + 2e-4 absolute.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Value } from '../../activities/engine/graph.ts';
import * as ops from '../../activities/engine/ops/index.ts';
import { checkGradients } from './fd-harness.ts';
import type { FdCase, FdInput } from './fd-harness.ts';

const F64 = 'float64';
const away = (u: number): number => (u >= 0 ? 0.2 + u : u - 0.2); // keeps kinks (relu at 0) out of reach of h
const positive = (u: number): number => 0.5 + Math.abs(u);

async function check(c: FdCase): Promise<void> {
  const r = await checkGradients(c);
  assert.ok(r.checked > 0);
}

const mat = (shape: number[], extra: Partial<FdInput> = {}): FdInput => ({ shape, ...extra });
const unary = (fn: (x: Value) => Value, map?: (u: number) => number, dtype: 'float32' | 'float64' = F64): FdCase => ({
  dtype,
  inputs: [mat([3, 4], map ? { map } : {})],
  build: ([x]) => fn(x),
});

/** BatchNormalization in eval form: x, gamma and beta differentiable; running mean and variance constant. */
const batchNormEvalCase = (dtype: 'float32' | 'float64'): FdCase => ({
  dtype,
  inputs: [
    mat([5, 3]),
    mat([3]),
    mat([3]),
    mat([3], { differentiable: false }),
    mat([3], { map: positive, differentiable: false }),
  ],
  build: ([x, gm, bt, rm, rv]) => ops.batchNormEval(x, gm, bt, rm, rv),
});

describe('elementwise backward rules (float64)', () => {
  test('add/sub/mul/div with broadcasting in both directions', async () => {
    for (const fn of [ops.add, ops.sub, ops.mul, ops.div]) {
      await check({ dtype: F64, inputs: [mat([3, 4]), mat([4], { map: positive })], build: ([a, b]) => fn(a, b) });
      await check({
        dtype: F64,
        inputs: [mat([3, 1], { map: positive }), mat([2, 3, 4], { map: positive })],
        build: ([a, b]) => fn(a, b),
      });
    }
  });
  test('scalar operands', async () => {
    await check({ dtype: F64, inputs: [mat([2, 3])], build: ([a]) => ops.div(ops.sub(2.5, ops.mul(a, 3)), 1.7) });
  });
  test('max and min (no ties)', async () => {
    await check({ dtype: F64, inputs: [mat([3, 4]), mat([3, 4])], build: ([a, b]) => ops.max(a, b), seed: 3 });
    await check({ dtype: F64, inputs: [mat([3, 4]), mat([4])], build: ([a, b]) => ops.min(a, b), seed: 4 });
    await check({ dtype: F64, inputs: [mat([3, 4], { map: away })], build: ([a]) => ops.max(a, 0.1) });
  });
  test('where routes gradients by the mask', async () => {
    await check({
      dtype: F64,
      inputs: [mat([3, 4]), mat([3, 4]), mat([4])],
      build: ([a, b, c]) => ops.where(ops.greater(c, 0), a, ops.mul(b, b)),
    });
  });
  test('unary functions', async () => {
    await check(unary(ops.neg));
    await check(unary(ops.exp));
    await check(unary(ops.log, positive));
    await check(unary(ops.sqrt, positive));
    await check(unary(ops.reciprocal, positive));
    await check(unary(ops.tanh));
    await check(unary(ops.sigmoid));
    await check(unary(ops.relu, away));
    await check(unary((x) => ops.leakyRelu(x, 0.01), away));
    await check(unary(ops.square));
  });
  test('erf and exact GELU (float64 compositions)', async () => {
    await check({ dtype: F64, inputs: [mat([4, 5], { map: (u) => 3 * u })], build: ([x]) => ops.erf(x) });
    await check({ dtype: F64, inputs: [mat([4, 5], { map: (u) => 4 * u })], build: ([x]) => ops.gelu(x) });
  });
});

describe('float32-only ONNX kernels (float32 tolerance, see header)', () => {
  test('Erf, GELU, LeakyRelu nodes', async () => {
    await check(unary(ops.erf, (u) => 2 * u, 'float32'));
    await check(unary(ops.gelu, (u) => 3 * u, 'float32'));
    await check(unary((x) => ops.leakyRelu(x, 0.01), away, 'float32'));
  });
  test('BatchNormalization node (eval form)', async () => {
    await check(batchNormEvalCase('float32'));
  });
});

describe('matrix and layout backward rules (float64)', () => {
  test('matmul 2-D and batched left operand', async () => {
    await check({ dtype: F64, inputs: [mat([3, 4]), mat([4, 5])], build: ([a, b]) => ops.matmul(a, b) });
    await check({ dtype: F64, inputs: [mat([2, 3, 4]), mat([4, 5])], build: ([a, b]) => ops.matmul(a, b) });
    await check({
      dtype: F64,
      inputs: [mat([3, 4]), mat([5, 4])],
      build: ([a, b]) => ops.matmul(a, ops.transpose(b, [1, 0])),
    });
  });
  test('transpose, reshape, squeeze, unsqueeze', async () => {
    await check({ dtype: F64, inputs: [mat([2, 3, 4])], build: ([x]) => ops.transpose(x, [2, 0, 1]) });
    await check({ dtype: F64, inputs: [mat([2, 3, 4])], build: ([x]) => ops.reshape(x, [0, -1]) });
    await check({
      dtype: F64,
      inputs: [mat([3, 4])],
      build: ([x]) => ops.squeeze(ops.mul(ops.unsqueeze(x, [1]), ops.unsqueeze(x, [1])), [1]),
    });
  });
  test('concat, slice and pad', async () => {
    await check({
      dtype: F64,
      inputs: [mat([2, 3]), mat([2, 2]), mat([2, 1])],
      build: ([a, b, c]) => ops.concat([a, b, ops.mul(c, c)], 1),
    });
    await check({ dtype: F64, inputs: [mat([2, 5, 3])], build: ([x]) => ops.slice(x, 1, 1, 4) });
    await check({ dtype: F64, inputs: [mat([2, 3, 2])], build: ([x]) => ops.pad(x, 1, 2, 1) });
  });
  test('reduceSum and reduceMean, with and without kept dims', async () => {
    await check({ dtype: F64, inputs: [mat([2, 3, 4])], build: ([x]) => ops.reduceSum(x, [0, 2]) });
    await check({ dtype: F64, inputs: [mat([2, 3, 4])], build: ([x]) => ops.mul(ops.reduceMean(x, [1], true), x) });
  });
  test('softmax and logSoftmax', async () => {
    await check({ dtype: F64, inputs: [mat([3, 5], { map: (u) => 3 * u })], build: ([x]) => ops.softmax(x) });
    await check({ dtype: F64, inputs: [mat([3, 5], { map: (u) => 3 * u })], build: ([x]) => ops.logSoftmax(x, 0) });
  });
});

describe('normalisation and dropout backward rules (float64)', () => {
  test('layerNorm with affine parameters', async () => {
    await check({
      dtype: F64,
      inputs: [mat([3, 6]), mat([6]), mat([6])],
      build: ([x, gm, bt]) => ops.layerNorm(x, gm, bt),
    });
  });
  test('batchNorm, training form (batch statistics)', async () => {
    await check({
      dtype: F64,
      inputs: [mat([5, 3]), mat([3]), mat([3])],
      build: ([x, gm, bt]) => ops.batchNormTrain(x, gm, bt).y,
    });
  });
  test('batchNorm, eval form (running statistics)', async () => {
    await check(batchNormEvalCase(F64));
  });
  test('dropout scales kept units and zeroes the rest', async () => {
    const keep = Uint8Array.from([1, 0, 1, 1, 0, 1, 1, 1, 0, 1, 0, 1]);
    await check({
      dtype: F64,
      inputs: [mat([3, 4]), { shape: [3, 4], dtype: 'bool', data: keep }],
      build: ([x, m]) => ops.dropout(ops.mul(x, x), m, 0.3),
    });
  });
  test('symbolic batch dimension: statistics counted at run time', async () => {
    await check({
      dtype: F64,
      inputs: [{ shape: [4, 3], declared: ['N', 3] }, mat([3]), mat([3])],
      build: ([x, gm, bt]) =>
        ops.reduceMean(ops.mul(ops.batchNormTrain(x, gm, bt).y, ops.reduceMean(x, [0], true)), [0]),
    });
  });
});

describe('fused weight normalisation (float64)', () => {
  test('gradients for direction v and gain g', async () => {
    await check({
      dtype: F64,
      inputs: [mat([6, 4]), mat([4], { map: positive })],
      build: ([v, g]) => ops.weightNorm(v, g),
    });
  });
  test('equals the unfused composition g * v / ||v||', async () => {
    await check({
      dtype: F64,
      inputs: [mat([5, 3]), mat([3])],
      build: ([v, g]) =>
        ops.sub(ops.weightNorm(v, g), ops.mul(v, ops.div(g, ops.sqrt(ops.reduceSum(ops.mul(v, v), [0], true))))),
    });
  });
});
