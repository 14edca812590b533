/** Graph builder, shape inference, serialisation, autodiff bookkeeping and the double erf. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import onnxProto from 'onnx-proto';
import { gradients } from '../../activities/engine/autodiff.ts';
import { Graph } from '../../activities/engine/graph.ts';
import * as ops from '../../activities/engine/ops/index.ts';
import { erfFloat64, erfReference } from '../../activities/engine/ops/erf64.ts';
import { serializeGraph } from '../../activities/engine/serialize.ts';
import { floatData, openSession, tensor } from '../../activities/engine/session.ts';
import { broadcastShapes, reshapeShape } from '../../activities/engine/shape.ts';

// math.erf from CPython (correctly rounded libm) at these points
const ERF: readonly [number, number][] = [
  [-3.7, -0.9999998328489421],
  [-1.25, -0.9229001282564582],
  [-0.3, -0.3286267594591274],
  [1e-9, 1.1283791670955127e-9],
  [0.001, 0.0011283787909692365],
  [0.5, 0.5204998778130465],
  [1.0, 0.8427007929497149],
  [2.2, 0.9981371537020182],
  [4.5, 0.9999999998033839],
  [6.0, 1.0],
];

describe('shape inference', () => {
  test('broadcasting, including symbolic dimensions', () => {
    assert.deepEqual(broadcastShapes([3, 1, 5], [4, 1]), [3, 4, 5]);
    assert.deepEqual(broadcastShapes(['N', 4], [4]), ['N', 4]);
    assert.deepEqual(broadcastShapes(['N', 1], [1, 'N']), ['N', 'N']);
    assert.throws(() => broadcastShapes([3, 4], [5]), /cannot broadcast/);
    assert.throws(() => broadcastShapes(['N', 4], [32, 4]), /cannot broadcast/);
  });
  test('reshape with 0 and -1 over symbolic dimensions', () => {
    assert.deepEqual(reshapeShape(['N', 15, 64], [-1, 64]), ['N*15', 64]);
    assert.deepEqual(reshapeShape([2, 3, 4], [0, -1]), [2, 12]);
    assert.throws(() => reshapeShape([2, 3], [-1, -1]), /more than one/);
  });
  test('ops check their operands when the graph is built', () => {
    const g = new Graph('float32');
    const a = g.input('a', 'float32', ['N', 3]);
    assert.throws(() => ops.matmul(a, g.input('b', 'float32', [4, 2])), /inner dimensions/);
    assert.throws(() => ops.add(a, g.input('c', 'float32', [4])), /cannot broadcast/);
    assert.throws(() => ops.squeeze(a, [1]), /squeeze of axis 1/);
    assert.throws(() => ops.slice(a, 1, 2, 5), /slice/);
    assert.throws(() => ops.add(a, new Graph('float32').input('x', 'float32', [3])), /another graph/);
  });
});

describe('autodiff bookkeeping', () => {
  test('accumulates gradients of a value used several times and zero-fills unused inputs', async () => {
    const g = new Graph('float64');
    const x = g.input('x', 'float64', [3]);
    const unused = g.input('u', 'float64', [2]);
    // f = sum(x * x * x + 2x) -> df/dx = 3x^2 + 2
    const f = ops.reduceSum(ops.add(ops.mul(ops.mul(x, x), x), ops.mul(x, 2)), [0]);
    const [gx, gu] = gradients(f, [x, unused]);
    g.output(gx, 'gx');
    g.output(gu, 'gu');
    const s = await openSession(serializeGraph(g), { threads: 1 });
    const out = await s.run({
      x: tensor('float64', Float64Array.of(1, -2, 0.5), [3]),
      u: tensor('float64', Float64Array.of(7, 8), [2]),
    });
    assert.deepEqual(Array.from(floatData(out.gx)), [5, 14, 2.75]);
    assert.deepEqual(Array.from(floatData(out.gu)), [0, 0]);
    await s.release();
  });
  test('refuses a loss that does not depend on the requested values', () => {
    const g = new Graph('float32');
    const x = g.input('x', 'float32', [2]);
    const y = g.input('y', 'float32', [2]);
    assert.throws(() => gradients(ops.reduceSum(ops.mul(y, y), [0]), [x]), /does not depend/);
  });
});

describe('serialisation', () => {
  test('renamed outputs alias node outputs (no copy), inputs as outputs go through Identity', async () => {
    const g = new Graph('float32');
    const x = g.input('x', 'float32', ['N', 4]);
    const w = g.input('w', 'float32', [4, 2]);
    const y = ops.matmul(x, w);
    g.output(y, 'y');
    g.output(y, 'y_again');
    g.output(x, 'x_out');
    const bytes = serializeGraph(g, { metadata: { purpose: 'test' } });
    const proto = onnxProto.onnx.ModelProto.decode(bytes);
    const graph = proto.graph as onnxProto.onnx.GraphProto;
    assert.equal(graph.node.filter((n) => n.opType === 'Identity').length, 2);
    assert.equal(graph.node.find((n) => n.opType === 'MatMul')?.output?.[0], 'y');
    assert.deepEqual(
      graph.input.map((i) => (i.type?.tensorType?.shape?.dim ?? []).map((d) => d.dimParam || Number(d.dimValue))),
      [
        ['N', 4],
        [4, 2],
      ],
    );
    assert.equal(proto.metadataProps[0]?.value, 'test');
    const s = await openSession(bytes, { threads: 1 });
    const out = await s.run({
      x: tensor('float32', Float32Array.of(1, 2, 3, 4), [1, 4]),
      w: tensor('float32', Float32Array.of(1, 0, 0, 1, 1, 0, 0, 1), [4, 2]),
    });
    assert.deepEqual(Array.from(floatData(out.y)), [4, 6]);
    assert.deepEqual(Array.from(floatData(out.y_again)), [4, 6]);
    assert.deepEqual(Array.from(floatData(out.x_out)), [1, 2, 3, 4]);
    await s.release();
  });
  test('matrix-product FLOPs are counted for forward and backward with the batch bound', () => {
    const g = new Graph('float32');
    const x = g.input('x', 'float32', ['N', 5, 8]);
    const w = g.input('w', 'float32', [8, 3]);
    const f = ops.reduceSum(ops.matmul(x, w), [0, 1, 2]);
    assert.equal(g.totalFlops({ N: 4 }), 2 * 4 * 5 * 8 * 3);
    gradients(f, [x, w]);
    assert.equal(g.totalFlops({ N: 4 }), 3 * 2 * 4 * 5 * 8 * 3);
  });
  test('asking for the CUDA provider without its libraries fails with an explanation', async () => {
    const g = new Graph('float32');
    g.output(ops.neg(g.input('x', 'float32', [1])), 'y');
    try {
      const s = await openSession(serializeGraph(g), { executionProvider: 'cuda' });
      // a machine with the CUDA build of onnxruntime-node gets a working session instead
      const out = await s.run({ x: tensor('float32', Float32Array.of(2), [1]) });
      assert.equal(floatData(out.y)[0], -2);
      await s.release();
    } catch (err) {
      assert.match(String(err), /CUDA execution provider/);
    }
  });
});

describe('float64 erf composition', () => {
  test('matches correctly rounded erf to 5e-16', async () => {
    const g = new Graph('float64');
    const x = g.input('x', 'float64', [ERF.length]);
    g.output(erfFloat64(x), 'y');
    const s = await openSession(serializeGraph(g), { threads: 1 });
    const y = floatData(
      (
        await s.run({
          x: tensor(
            'float64',
            Float64Array.from(ERF, ([v]) => v),
            [ERF.length],
          ),
        })
      ).y,
    );
    ERF.forEach(([v, want], i) => {
      assert.ok(Math.abs(y[i] - want) <= 5e-16, `erf(${v}) = ${y[i]} vs ${want}`);
      assert.ok(Math.abs(erfReference(v) - want) <= 5e-16, `reference erf(${v})`);
    });
    await s.release();
  });
});
