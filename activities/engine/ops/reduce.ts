/** Differentiable reductions. */
import { attr } from '../graph.ts';
import type { Dim, Value } from '../graph.ts';
import { normalizeAxis } from '../shape.ts';
import { div } from './arith.ts';
import { countAlong, expandAs, int64s } from './core.ts';

function reducedShape(x: Value, axes: readonly number[], keepdims: boolean): Dim[] {
  const out: Dim[] = [];
  x.shape.forEach((d, i) => {
    if (!axes.includes(i)) out.push(d);
    else if (keepdims) out.push(1);
  });
  return out;
}

/** Broadcasts a reduced gradient back over the reduced axes. */
function spread(gy: Value, x: Value, axes: readonly number[], keepdims: boolean): Value {
  const g = x.graph;
  let kept = gy;
  if (!keepdims) {
    kept = g.op('Unsqueeze', [gy, int64s(g, axes)], {}, gy.dtype, reducedShape(x, axes, true), 'reduce_grad');
  }
  return expandAs(kept, x);
}

export function reduceSum(x: Value, axes: readonly number[], keepdims = false): Value {
  const g = x.graph;
  const norm = [...new Set(axes.map((a) => normalizeAxis(a, x.rank)))].sort((p, q) => p - q);
  const out = g.op(
    'ReduceSum',
    [x, int64s(g, norm)],
    { keepdims: attr.int(keepdims ? 1 : 0) },
    x.dtype,
    reducedShape(x, norm, keepdims),
    'sum',
  );
  g.record({
    op: 'ReduceSum',
    inputs: [x],
    outputs: [out],
    backward: ([gy]) => [gy ? spread(gy, x, norm, keepdims) : null],
  });
  return out;
}

export function reduceMean(x: Value, axes: readonly number[], keepdims = false): Value {
  const g = x.graph;
  const norm = [...new Set(axes.map((a) => normalizeAxis(a, x.rank)))].sort((p, q) => p - q);
  const out = g.op(
    'ReduceMean',
    [x],
    { axes: attr.ints(norm), keepdims: attr.int(keepdims ? 1 : 0) },
    x.dtype,
    reducedShape(x, norm, keepdims),
    'mean',
  );
  g.record({
    op: 'ReduceMean',
    inputs: [x],
    outputs: [out],
    backward: ([gy]) => [gy ? div(spread(gy, x, norm, keepdims), countAlong(x, norm, x.dtype)) : null],
  });
  return out;
}
