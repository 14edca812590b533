import type { Dim, Shape } from './graph.ts';

/** Numpy-style broadcasting. Symbolic dimensions only match themselves or 1: mixing `N` with a
 * number would make the graph's validity depend on the batch size, which we refuse at build time. */
export function broadcastShapes(a: Shape, b: Shape): Dim[] {
  const rank = Math.max(a.length, b.length);
  const out: Dim[] = [];
  for (let i = 0; i < rank; i++) {
    const da = i < rank - a.length ? 1 : a[i - (rank - a.length)];
    const db = i < rank - b.length ? 1 : b[i - (rank - b.length)];
    if (da === db) out.push(da);
    else if (da === 1) out.push(db);
    else if (db === 1) out.push(da);
    else throw new Error(`shape: cannot broadcast [${String(a)}] with [${String(b)}]`);
  }
  return out;
}

export function dimProduct(dims: readonly Dim[]): Dim {
  let numeric = 1;
  const symbols: string[] = [];
  for (const d of dims) {
    if (typeof d === 'number') numeric *= d;
    else symbols.push(d);
  }
  if (symbols.length === 0) return numeric;
  return numeric === 1 ? symbols.join('*') : [...symbols, String(numeric)].join('*');
}

export function normalizeAxis(axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) throw new Error(`shape: axis ${axis} out of range for rank ${rank}`);
  return a;
}

export function sameShape(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

export function isStatic(shape: Shape): shape is readonly number[] {
  return shape.every((d) => typeof d === 'number');
}

export function staticDim(d: Dim, what: string): number {
  if (typeof d !== 'number') throw new Error(`shape: ${what} needs a static dimension, got ${d}`);
  return d;
}

/** Shape after ONNX Reshape semantics (0 copies the input dimension, one -1 is inferred). */
export function reshapeShape(input: Shape, target: readonly number[]): Dim[] {
  const out: Dim[] = target.map((t, i) => (t === 0 ? input[i] : t));
  const inferred = out.indexOf(-1);
  if (inferred >= 0) {
    if (out.lastIndexOf(-1) !== inferred) throw new Error('shape: reshape with more than one -1');
    const known = out.filter((_, i) => i !== inferred);
    const total = dimProduct(input);
    const rest = dimProduct(known);
    out[inferred] = divideDims(total, rest);
  }
  return out;
}

function divideDims(total: Dim, by: Dim): Dim {
  if (typeof total === 'number' && typeof by === 'number') {
    if (total % by !== 0) throw new Error(`shape: reshape of ${total} elements by ${by}`);
    return total / by;
  }
  const parts = String(total).split('*');
  const remove = String(by).split('*');
  let numeric = 1;
  const symbols: string[] = [];
  for (const p of parts) {
    const n = Number(p);
    if (Number.isFinite(n)) numeric *= n;
    else symbols.push(p);
  }
  for (const r of remove) {
    const n = Number(r);
    if (Number.isFinite(n)) {
      if (numeric % n !== 0) throw new Error(`shape: cannot infer reshape of ${total} by ${by}`);
      numeric /= n;
    } else {
      const k = symbols.indexOf(r);
      if (k < 0) throw new Error(`shape: cannot infer reshape of ${total} by ${by}`);
      symbols.splice(k, 1);
    }
  }
  return dimProduct([...symbols, numeric]);
}
