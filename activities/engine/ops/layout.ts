/** Differentiable reshaping, concatenation, slicing and padding. */
import { attr } from '../graph.ts';
import type { Dim, Value } from '../graph.ts';
import { normalizeAxis, reshapeShape, staticDim } from '../shape.ts';
import { int64s, shapeOf } from './core.ts';

/** Reshape with ONNX semantics: 0 copies the input dimension, one -1 is inferred. */
export function reshape(x: Value, target: readonly number[]): Value {
  const g = x.graph;
  const out = g.op('Reshape', [x, int64s(g, target)], {}, x.dtype, reshapeShape(x.shape, target), 'reshape');
  g.record({ op: 'Reshape', inputs: [x], outputs: [out], backward: ([gy]) => [gy ? reshapeLike(gy, x) : null] });
  return out;
}

/** Reshapes `x` to the (possibly run-time) shape of `like`; not taped. */
export function reshapeLike(x: Value, like: Value): Value {
  return x.graph.op('Reshape', [x, shapeOf(like)], {}, x.dtype, like.shape, 'reshape');
}

export function unsqueeze(x: Value, axes: readonly number[]): Value {
  const g = x.graph;
  const rank = x.rank + axes.length;
  const norm = axes.map((a) => normalizeAxis(a, rank)).sort((p, q) => p - q);
  const shape: Dim[] = [];
  let src = 0;
  for (let i = 0; i < rank; i++) shape.push(norm.includes(i) ? 1 : x.shape[src++]);
  const out = g.op('Unsqueeze', [x, int64s(g, norm)], {}, x.dtype, shape, 'unsqueeze');
  g.record({ op: 'Unsqueeze', inputs: [x], outputs: [out], backward: ([gy]) => [gy ? squeeze(gy, norm) : null] });
  return out;
}

export function squeeze(x: Value, axes: readonly number[]): Value {
  const g = x.graph;
  const norm = axes.map((a) => normalizeAxis(a, x.rank));
  for (const a of norm) if (x.shape[a] !== 1) throw new Error(`ops: squeeze of axis ${a} with size ${x.shape[a]}`);
  const out = g.op(
    'Squeeze',
    [x, int64s(g, norm)],
    {},
    x.dtype,
    x.shape.filter((_, i) => !norm.includes(i)),
    'squeeze',
  );
  g.record({ op: 'Squeeze', inputs: [x], outputs: [out], backward: ([gy]) => [gy ? unsqueeze(gy, norm) : null] });
  return out;
}

export function concat(xs: readonly Value[], axis: number): Value {
  if (xs.length === 0) throw new Error('ops: concat of nothing');
  const first = xs[0];
  const g = first.graph;
  const a = normalizeAxis(axis, first.rank);
  for (const x of xs) {
    if (x.rank !== first.rank || x.dtype !== first.dtype || x.shape.some((d, i) => i !== a && d !== first.shape[i])) {
      throw new Error(`ops: concat of [${String(x.shape)}] with [${String(first.shape)}] along ${a}`);
    }
  }
  const sizes = xs.map((x) => staticDim(x.shape[a], 'concat axis'));
  const shape = first.shape.map((d, i) => (i === a ? sizes.reduce((p, s) => p + s, 0) : d));
  const out = g.op('Concat', xs, { axis: attr.int(a) }, first.dtype, shape, 'concat');
  g.record({
    op: 'Concat',
    inputs: xs,
    outputs: [out],
    backward: ([gy], needs) => {
      if (!gy || !needs.some(Boolean)) return xs.map(() => null);
      const parts = g.node(
        'Split',
        [gy, int64s(g, sizes)],
        { axis: attr.int(a) },
        xs.map((x) => ({ dtype: x.dtype, shape: x.shape, name: 'concat_grad' })),
      );
      return parts.map((p, i) => (needs[i] ? p : null));
    },
  });
  return out;
}

/** `x[..., start:end, ...]` along one axis of static size. */
export function slice(x: Value, axis: number, start: number, end: number): Value {
  const g = x.graph;
  const a = normalizeAxis(axis, x.rank);
  const size = staticDim(x.shape[a], 'slice axis');
  if (!(0 <= start && start <= end && end <= size)) throw new Error(`ops: slice [${start}, ${end}) of size ${size}`);
  const shape = x.shape.map((d, i) => (i === a ? end - start : d));
  const out = g.op('Slice', [x, int64s(g, [start]), int64s(g, [end]), int64s(g, [a])], {}, x.dtype, shape, 'slice');
  g.record({
    op: 'Slice',
    inputs: [x],
    outputs: [out],
    backward: ([gy]) => [gy ? pad(gy, a, start, size - end) : null],
  });
  return out;
}

/** Zero padding of `before`/`after` elements along one axis. */
export function pad(x: Value, axis: number, before: number, after: number): Value {
  const g = x.graph;
  const a = normalizeAxis(axis, x.rank);
  const pads = new Array<number>(2 * x.rank).fill(0);
  pads[a] = before;
  pads[x.rank + a] = after;
  const shape = x.shape.map((d, i) => (i === a ? staticDim(d, 'pad axis') + before + after : d));
  const out = g.op('Pad', [x, int64s(g, pads)], { mode: attr.string('constant') }, x.dtype, shape, 'pad');
  g.record({
    op: 'Pad',
    inputs: [x],
    outputs: [out],
    backward: ([gy]) => [gy ? slice(gy, a, before, before + staticDim(x.shape[a], 'pad axis')) : null],
  });
  return out;
}
