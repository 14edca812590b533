/** Differentiable elementwise arithmetic and activations. */
import { attr, isFloat } from '../graph.ts';
import type { Backward, Value } from '../graph.ts';
import { broadcastShapes } from '../shape.ts';
import { liftPair, unbroadcast } from './core.ts';
import type { Operand } from './core.ts';

function requireFloat(x: Value, op: string): void {
  if (!isFloat(x.dtype)) throw new Error(`ops: ${op} needs a float tensor, got ${x.dtype}`);
}

function binary(opType: string, a: Operand, b: Operand, backward: (x: Value, y: Value, out: Value) => Backward): Value {
  const [x, y] = liftPair(a, b);
  if (x.dtype !== y.dtype) throw new Error(`ops: ${opType} mixes ${x.dtype} and ${y.dtype}`);
  const g = x.graph;
  const out = g.op(opType, [x, y], {}, x.dtype, broadcastShapes(x.shape, y.shape), opType.toLowerCase());
  if (isFloat(x.dtype)) g.record({ op: opType, inputs: [x, y], outputs: [out], backward: backward(x, y, out) });
  return out;
}

function unary(opType: string, x: Value, backward: (out: Value) => (gy: Value) => Value, attrs = {}): Value {
  requireFloat(x, opType);
  const g = x.graph;
  const out = g.op(opType, [x], attrs, x.dtype, x.shape, opType.toLowerCase());
  const rule = backward(out);
  g.record({ op: opType, inputs: [x], outputs: [out], backward: ([gy]) => [gy ? rule(gy) : null] });
  return out;
}

export function add(a: Operand, b: Operand): Value {
  return binary('Add', a, b, (x, y) => ([gy], needs) => [
    gy && needs[0] ? unbroadcast(gy, x.shape) : null,
    gy && needs[1] ? unbroadcast(gy, y.shape) : null,
  ]);
}

export function sub(a: Operand, b: Operand): Value {
  return binary('Sub', a, b, (x, y) => ([gy], needs) => [
    gy && needs[0] ? unbroadcast(gy, x.shape) : null,
    gy && needs[1] ? unbroadcast(neg(gy), y.shape) : null,
  ]);
}

export function mul(a: Operand, b: Operand): Value {
  return binary('Mul', a, b, (x, y) => ([gy], needs) => [
    gy && needs[0] ? unbroadcast(mul(gy, y), x.shape) : null,
    gy && needs[1] ? unbroadcast(mul(gy, x), y.shape) : null,
  ]);
}

export function div(a: Operand, b: Operand): Value {
  return binary('Div', a, b, (x, y, out) => ([gy], needs) => [
    gy && needs[0] ? unbroadcast(div(gy, y), x.shape) : null,
    // d(x/y)/dy = -x/y^2 = -out/y
    gy && needs[1] ? unbroadcast(neg(div(mul(gy, out), y)), y.shape) : null,
  ]);
}

/** Elementwise maximum; at ties the gradient goes to the first operand. */
export function max(a: Operand, b: Operand): Value {
  return binary('Max', a, b, (x, y) => ([gy], needs) => {
    if (!gy) return [null, null];
    const g = x.graph;
    const takeX = g.op('GreaterOrEqual', [x, y], {}, 'bool', broadcastShapes(x.shape, y.shape), 'argmax');
    return [
      needs[0] ? unbroadcast(where(takeX, gy, 0), x.shape) : null,
      needs[1] ? unbroadcast(where(takeX, 0, gy), y.shape) : null,
    ];
  });
}

/** Elementwise minimum; at ties the gradient goes to the first operand. */
export function min(a: Operand, b: Operand): Value {
  return binary('Min', a, b, (x, y) => ([gy], needs) => {
    if (!gy) return [null, null];
    const g = x.graph;
    const takeX = g.op('LessOrEqual', [x, y], {}, 'bool', broadcastShapes(x.shape, y.shape), 'argmin');
    return [
      needs[0] ? unbroadcast(where(takeX, gy, 0), x.shape) : null,
      needs[1] ? unbroadcast(where(takeX, 0, gy), y.shape) : null,
    ];
  });
}

/** `cond ? a : b` elementwise; `cond` is a bool tensor and receives no gradient. */
export function where(cond: Value, a: Operand, b: Operand): Value {
  const [x, y] = liftPair(a, b);
  const g = cond.graph;
  const shape = broadcastShapes(cond.shape, broadcastShapes(x.shape, y.shape));
  const out = g.op('Where', [cond, x, y], {}, x.dtype, shape, 'where');
  if (isFloat(x.dtype)) {
    g.record({
      op: 'Where',
      inputs: [cond, x, y],
      outputs: [out],
      backward: ([gy], needs) => [
        null,
        gy && needs[1] ? unbroadcast(where(cond, gy, 0), x.shape) : null,
        gy && needs[2] ? unbroadcast(where(cond, 0, gy), y.shape) : null,
      ],
    });
  }
  return out;
}

export function neg(x: Value): Value {
  return unary('Neg', x, () => (gy) => neg(gy));
}

export function exp(x: Value): Value {
  return unary('Exp', x, (out) => (gy) => mul(gy, out));
}

export function log(x: Value): Value {
  return unary('Log', x, () => (gy) => div(gy, x));
}

export function sqrt(x: Value): Value {
  return unary('Sqrt', x, (out) => (gy) => div(mul(gy, 0.5), out));
}

export function reciprocal(x: Value): Value {
  return unary('Reciprocal', x, (out) => (gy) => neg(mul(gy, mul(out, out))));
}

export function tanh(x: Value): Value {
  return unary('Tanh', x, (out) => (gy) => mul(gy, sub(1, mul(out, out))));
}

export function sigmoid(x: Value): Value {
  return unary('Sigmoid', x, (out) => (gy) => mul(gy, mul(out, sub(1, out))));
}

/** ReLU; the subgradient at 0 is 0, as in PyTorch. */
export function relu(x: Value): Value {
  return unary(
    'Relu',
    x,
    () => (gy) =>
      where(x.graph.op('Greater', [x, x.graph.constant(0, x.dtype)], {}, 'bool', x.shape, 'relu_on'), gy, 0),
  );
}

export function leakyRelu(x: Value, alpha: number): Value {
  const g = x.graph;
  // ONNX float attributes are 32-bit: a float64 graph would compute with fround(alpha), so it is
  // built from Where instead to keep double precision end to end.
  if (x.dtype === 'float64')
    return where(g.op('Greater', [x, g.constant(0, x.dtype)], {}, 'bool', x.shape, 'leaky_on'), x, mul(x, alpha));
  return unary(
    'LeakyRelu',
    x,
    () => (gy) =>
      where(
        g.op('Greater', [x, g.constant(0, x.dtype)], {}, 'bool', x.shape, 'leaky_on'),
        gy,
        mul(gy, Math.fround(alpha)),
      ),
    { alpha: attr.float(alpha) },
  );
}

export function square(x: Value): Value {
  return mul(x, x);
}
