/** Seeded initialisation of parameters and buffers from the model layout. */
import type { FloatArray, TensorSpec } from './context.ts';
import type { ModelLayout } from './graphs.ts';
import { Rng, Stream } from './rng.ts';

export interface Weights {
  readonly params: Map<string, Float32Array>;
  readonly buffers: Map<string, Float32Array>;
}

function size(shape: readonly number[]): number {
  return shape.reduce((p, d) => p * d, 1);
}

/** Initialises every tensor in layout order from one seeded stream, so the same seed and
 * configuration always give the same weights. */
export function initialWeights(layout: ModelLayout, seed: number): Weights {
  const rng = new Rng(seed, Stream.Init);
  const params = new Map<string, Float32Array>();
  const fill = (spec: TensorSpec, done: ReadonlyMap<string, Float32Array>): Float32Array => {
    const out = new Float32Array(size(spec.shape));
    const init = spec.init;
    switch (init.kind) {
      case 'uniform':
        for (let i = 0; i < out.length; i++) out[i] = (2 * rng.uniform() - 1) * init.bound;
        break;
      case 'normal':
        for (let i = 0; i < out.length; i++) out[i] = rng.normal() * init.std;
        break;
      case 'const':
        out.fill(init.value);
        break;
      case 'column-norm': {
        const v = done.get(init.of);
        if (!v) throw new Error(`init: ${spec.name} needs ${init.of} first`);
        columnNorms(v, out.length, out);
        break;
      }
    }
    return out;
  };
  for (const spec of layout.params) params.set(spec.name, fill(spec, params));
  const buffers = new Map<string, Float32Array>();
  for (const spec of layout.buffers) buffers.set(spec.name, fill(spec, buffers));
  return { params, buffers };
}

/** L2 norm of each column of a row-major [rows, cols] matrix. */
export function columnNorms(matrix: FloatArray, cols: number, out: FloatArray): void {
  const sums = new Float64Array(cols);
  for (let i = 0; i < matrix.length; i++) sums[i % cols] += matrix[i] * matrix[i];
  for (let c = 0; c < cols; c++) out[c] = Math.sqrt(sums[c]);
}

/** Checks that a set of tensors matches the layout exactly (names and sizes). */
export function checkAgainstLayout(
  kind: string,
  specs: readonly TensorSpec[],
  values: ReadonlyMap<string, FloatArray>,
): void {
  if (values.size !== specs.length) throw new Error(`${kind}: expected ${specs.length} tensors, got ${values.size}`);
  for (const s of specs) {
    const v = values.get(s.name);
    if (!v) throw new Error(`${kind}: missing ${s.name}`);
    if (v.length !== size(s.shape))
      throw new Error(`${kind}: ${s.name} has ${v.length} values, expected [${String(s.shape)}]`);
  }
}

export function parameterCount(layout: ModelLayout): number {
  return layout.params.reduce((p, s) => p + size(s.shape), 0);
}
