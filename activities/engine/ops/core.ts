/**
 * Building blocks shared by the differentiable ops: operand lifting, gradient un-broadcasting,
 * run-time shape helpers and the non-differentiable comparison/mask ops.
 */
import { attr, Value } from '../graph.ts';
import type { DType, Graph, Shape } from '../graph.ts';
import { broadcastShapes, isStatic, normalizeAxis, sameShape } from '../shape.ts';

export type Operand = Value | number;

/** Turns a plain number into a scalar constant of `ref`'s dtype. */
export function lift(x: Operand, ref: Value): Value {
  if (x instanceof Value) return x;
  return ref.graph.constant(x, ref.dtype);
}

export function liftPair(a: Operand, b: Operand): [Value, Value] {
  if (a instanceof Value) return [a, lift(b, a)];
  if (b instanceof Value) return [lift(a, b), b];
  throw new Error('ops: at least one operand must be a graph value');
}

export function int64s(g: Graph, values: readonly number[]): Value {
  return g.constant(values, 'int64');
}

/** Sums `grad` down to `shape`, undoing the broadcasting that produced it. */
export function unbroadcast(grad: Value, shape: Shape): Value {
  if (sameShape(grad.shape, shape)) return grad;
  const g = grad.graph;
  const lead = grad.rank - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < grad.rank; i++) {
    if (i < lead || (shape[i - lead] === 1 && grad.shape[i] !== 1)) axes.push(i);
  }
  let out = grad;
  if (axes.length > 0) {
    const kept = grad.shape.map((d, i) => (axes.includes(i) ? 1 : d));
    out = g.op('ReduceSum', [grad, int64s(g, axes)], { keepdims: attr.int(1) }, grad.dtype, kept, 'unbroadcast');
  }
  if (lead > 0) {
    const leadAxes = Array.from({ length: lead }, (_, i) => i);
    out = g.op('Squeeze', [out, int64s(g, leadAxes)], {}, out.dtype, out.shape.slice(lead), 'unbroadcast');
  }
  if (!sameShape(out.shape, shape))
    throw new Error(`ops: unbroadcast produced [${String(out.shape)}], wanted [${String(shape)}]`);
  return out;
}

/** int64 [rank] tensor holding the run-time shape of `x` (a constant when the shape is static). */
export function shapeOf(x: Value): Value {
  const g = x.graph;
  if (isStatic(x.shape)) return int64s(g, x.shape);
  return g.op('Shape', [x], {}, 'int64', [x.rank], 'shape');
}

/** Broadcasts `x` to the run-time shape of `like`. */
export function expandAs(x: Value, like: Value): Value {
  if (sameShape(x.shape, like.shape)) return x;
  return x.graph.op('Expand', [x, shapeOf(like)], {}, x.dtype, broadcastShapes(x.shape, like.shape), 'expand');
}

/** Number of elements of `x` along `axes`, as a scalar of `dtype` (computed at run time when a
 * dimension is symbolic, e.g. the batch size). */
export function countAlong(x: Value, axes: readonly number[], dtype: DType): Value {
  const g = x.graph;
  const dims = axes.map((a) => x.shape[normalizeAxis(a, x.rank)]);
  if (dims.every((d) => typeof d === 'number'))
    return g.constant(
      dims.reduce<number>((p, d) => p * d, 1),
      dtype,
    );
  const shape = g.op('Shape', [x], {}, 'int64', [x.rank], 'shape');
  const picked = g.op(
    'Gather',
    [
      shape,
      int64s(
        g,
        axes.map((a) => normalizeAxis(a, x.rank)),
      ),
    ],
    { axis: attr.int(0) },
    'int64',
    [axes.length],
    'dims',
  );
  const prod = g.op('ReduceProd', [picked], { keepdims: attr.int(0) }, 'int64', [], 'count');
  return g.op('Cast', [prod], { to: attr.int(onnxTypeCode(dtype)) }, dtype, [], 'count');
}

export function cast(x: Value, to: DType): Value {
  if (x.dtype === to) return x;
  return x.graph.op('Cast', [x], { to: attr.int(onnxTypeCode(to)) }, to, x.shape, 'cast');
}

function compare(opType: string, a: Operand, b: Operand): Value {
  const [x, y] = liftPair(a, b);
  return x.graph.op(opType, [x, y], {}, 'bool', broadcastShapes(x.shape, y.shape), opType.toLowerCase());
}

export const equal = (a: Operand, b: Operand): Value => compare('Equal', a, b);
export const greater = (a: Operand, b: Operand): Value => compare('Greater', a, b);
export const less = (a: Operand, b: Operand): Value => compare('Less', a, b);
export const greaterOrEqual = (a: Operand, b: Operand): Value => compare('GreaterOrEqual', a, b);

export function not(x: Value): Value {
  return x.graph.op('Not', [x], {}, 'bool', x.shape, 'not');
}

export function onnxTypeCode(dtype: DType): number {
  switch (dtype) {
    case 'float32':
      return 1;
    case 'float64':
      return 11;
    case 'int64':
      return 7;
    case 'bool':
      return 9;
  }
}
