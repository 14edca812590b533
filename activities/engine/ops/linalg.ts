/** Differentiable matrix products and transposition. */
import { attr } from '../graph.ts';
import type { Value } from '../graph.ts';
import { dimProduct, staticDim } from '../shape.ts';
import { int64s } from './core.ts';

/**
 * `a [..., M, K] x b [K, N]`. The right operand is 2-D (weights, or a transposed activation) so
 * that its gradient is one GEMM over the flattened leading dimensions of `a`.
 */
export function matmul(a: Value, b: Value): Value {
  if (a.rank < 2 || b.rank !== 2)
    throw new Error(`ops: matmul wants [..., M, K] x [K, N], got [${String(a.shape)}] x [${String(b.shape)}]`);
  if (a.dtype !== b.dtype) throw new Error(`ops: matmul mixes ${a.dtype} and ${b.dtype}`);
  const k = a.shape[a.rank - 1];
  if (k !== b.shape[0])
    throw new Error(`ops: matmul inner dimensions differ: [${String(a.shape)}] x [${String(b.shape)}]`);
  const g = a.graph;
  const n = b.shape[1];
  const rows = dimProduct(a.shape.slice(0, -1));
  const out = g.op('MatMul', [a, b], {}, a.dtype, [...a.shape.slice(0, -1), n], 'matmul');
  g.countFlops('MatMul', [rows, k, n]);
  g.record({
    op: 'MatMul',
    inputs: [a, b],
    outputs: [out],
    backward: ([gy], needs) => {
      if (!gy) return [null, null];
      let ga: Value | null = null;
      let gb: Value | null = null;
      if (needs[0]) {
        if (a.rank === 2) {
          ga = g.op('Gemm', [gy, b], { transB: attr.int(1) }, a.dtype, a.shape, 'matmul_ga');
        } else {
          const bt = g.op('Transpose', [b], { perm: attr.ints([1, 0]) }, b.dtype, [n, k], 'matmul_bt');
          ga = g.op('MatMul', [gy, bt], {}, a.dtype, a.shape, 'matmul_ga');
        }
        g.countFlops('MatMul', [rows, n, k]);
      }
      if (needs[1]) {
        const a2 =
          a.rank === 2
            ? a
            : g.op('Reshape', [a, int64s(g, [-1, staticDim(k, 'matmul K')])], {}, a.dtype, [rows, k], 'matmul_a2');
        const gy2 =
          a.rank === 2
            ? gy
            : g.op('Reshape', [gy, int64s(g, [-1, staticDim(n, 'matmul N')])], {}, gy.dtype, [rows, n], 'matmul_gy2');
        gb = g.op('Gemm', [a2, gy2], { transA: attr.int(1) }, b.dtype, b.shape, 'matmul_gb');
        g.countFlops('MatMul', [k, rows, n]);
      }
      return [ga, gb];
    },
  });
  return out;
}

export function transpose(x: Value, perm: readonly number[]): Value {
  if (perm.length !== x.rank) throw new Error(`ops: transpose perm [${String(perm)}] for rank ${x.rank}`);
  const g = x.graph;
  const out = g.op(
    'Transpose',
    [x],
    { perm: attr.ints(perm) },
    x.dtype,
    perm.map((p) => x.shape[p]),
    'transpose',
  );
  const inverse = new Array<number>(perm.length);
  perm.forEach((p, i) => (inverse[p] = i));
  g.record({ op: 'Transpose', inputs: [x], outputs: [out], backward: ([gy]) => [gy ? transpose(gy, inverse) : null] });
  return out;
}
