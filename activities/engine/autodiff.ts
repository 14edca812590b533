/**
 * Reverse-mode differentiation over a graph's tape. Backward rules emit ordinary ONNX nodes into
 * the same graph, so the result is one model computing both the loss and its gradients.
 */
import type { Value } from './graph.ts';
import { expandAs } from './ops/core.ts';
import { sameShape } from './shape.ts';

/**
 * Gradients of `loss` with respect to each of `wrt`. `seed` is the incoming gradient of `loss`
 * (default: ones, which for a scalar loss is d loss / d loss). A `wrt` value the loss does not
 * depend on gets a zero gradient.
 */
export function gradients(loss: Value, wrt: readonly Value[], seed?: Value): Value[] {
  const g = loss.graph;
  const active = new Set<string>(wrt.map((w) => w.name));
  for (const entry of g.tape) {
    if (entry.inputs.some((i) => active.has(i.name))) for (const o of entry.outputs) active.add(o.name);
  }
  if (!active.has(loss.name)) throw new Error(`autodiff: ${loss.name} does not depend on any of the requested values`);
  if (seed && !sameShape(seed.shape, loss.shape))
    throw new Error(`autodiff: seed shape [${String(seed.shape)}] differs from loss [${String(loss.shape)}]`);

  return g.untaped(() =>
    g.scope('grad', () => {
      const grads = new Map<string, Value>();
      grads.set(loss.name, seed ?? expandAs(g.constant(1, loss.dtype), loss));
      for (let k = g.tape.length - 1; k >= 0; k--) {
        const entry = g.tape[k];
        const gys = entry.outputs.map((o) => grads.get(o.name) ?? null);
        if (gys.every((x) => x === null)) continue;
        const needs = entry.inputs.map((i) => active.has(i.name));
        if (!needs.some(Boolean)) continue;
        const gxs = entry.backward(gys, needs);
        entry.inputs.forEach((input, i) => {
          const gx = gxs[i];
          if (!needs[i] || !gx) return;
          if (!sameShape(gx.shape, input.shape)) {
            throw new Error(
              `autodiff: ${entry.op} gave gradient [${String(gx.shape)}] for ${input.name} [${String(input.shape)}]`,
            );
          }
          const prev = grads.get(input.name);
          grads.set(input.name, prev ? g.op('Add', [prev, gx], {}, gx.dtype, gx.shape, 'acc') : gx);
        });
      }
      return wrt.map((w) => grads.get(w.name) ?? zerosLike(w));
    }),
  );
}

function zerosLike(v: Value): Value {
  const g = v.graph;
  return g.op('Mul', [v, g.constant(0, v.dtype)], {}, v.dtype, v.shape, 'zero_grad');
}
