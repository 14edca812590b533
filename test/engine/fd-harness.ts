/**
 * Central finite-difference checks of engine gradients. The output of the graph under test is
 * contracted with a fixed random tensor R into the scalar f = sum(y * R), so every output element
 * influences f with a distinct weight and a wrong gradient for any element shows up.
 */
import assert from 'node:assert/strict';
import { gradients } from '../../activities/engine/autodiff.ts';
import { Graph } from '../../activities/engine/graph.ts';
import type { DType, FloatType, TensorData, Value } from '../../activities/engine/graph.ts';
import { mul, reduceSum } from '../../activities/engine/ops/index.ts';
import { serializeGraph } from '../../activities/engine/serialize.ts';
import { floatData, openSession, tensor } from '../../activities/engine/session.ts';
import type { Feeds } from '../../activities/engine/session.ts';
import { isStatic } from '../../activities/engine/shape.ts';
import { mulberry32 } from '../../activities/common/mulberry32.ts';

export interface FdInput {
  readonly shape: readonly number[];
  /** Declared shape when it differs from the fed one (symbolic batch dimension). */
  readonly declared?: readonly (number | string)[];
  readonly dtype?: DType;
  /** Values; default uniform in [-1, 1] from the case's seed. */
  readonly data?: TensorData;
  /** Map applied to generated values (e.g. keep log/sqrt inputs positive). */
  readonly map?: (u: number) => number;
  readonly differentiable?: boolean;
}

export interface FdCase {
  readonly dtype: FloatType;
  readonly inputs: readonly FdInput[];
  readonly build: (xs: readonly Value[]) => Value;
  readonly seed?: number;
  /** Step; default 1e-6 (float64) or 5e-3 (float32). */
  readonly h?: number;
  readonly rtol?: number;
  readonly atol?: number;
}

export interface FdReport {
  readonly checked: number;
  readonly maxAbsError: number;
  readonly maxRelError: number;
}

/** Seeded uniform test data in [-1, 1) (mulberry32). */
export function seededUniform(seed: number): () => number {
  const next = mulberry32(seed);
  return () => next() * 2 - 1;
}

export async function checkGradients(c: FdCase): Promise<FdReport> {
  const rnd = seededUniform(c.seed ?? 1234);
  const g = new Graph(c.dtype);
  const values = c.inputs.map((inp, i) => g.input(`x${i}`, inp.dtype ?? c.dtype, inp.declared ?? inp.shape));
  const data: TensorData[] = c.inputs.map((inp) => {
    if (inp.data) return inp.data;
    const n = inp.shape.reduce((p, d) => p * d, 1);
    const vals = Array.from({ length: n }, () => (inp.map ?? ((u: number) => u))(rnd()));
    return c.dtype === 'float64' ? Float64Array.from(vals) : Float32Array.from(vals);
  });
  const y = c.build(values);
  if (!isStatic(y.shape)) throw new Error('fd: output shape must be static for the projection');
  const count = y.shape.reduce((p, d) => p * d, 1);
  const rvals = Array.from({ length: count }, () => rnd());
  const r = g.constant(rvals, c.dtype, y.shape);
  const f = reduceSum(
    mul(y, r),
    y.shape.map((_, i) => i),
  );
  const diffIdx = c.inputs
    .map((inp, i) => (inp.differentiable === false || (inp.dtype && inp.dtype !== c.dtype) ? -1 : i))
    .filter((i) => i >= 0);
  const grads = gradients(
    f,
    diffIdx.map((i) => values[i]),
  );
  g.output(f, 'f');
  grads.forEach((gr, k) => g.output(gr, `g${k}`));
  const session = await openSession(serializeGraph(g), { threads: 1 });
  const feeds = (override?: { input: number; data: TensorData }): Feeds => {
    const out: Feeds = {};
    c.inputs.forEach((inp, i) => {
      out[`x${i}`] = tensor(
        inp.dtype ?? c.dtype,
        override && override.input === i ? override.data : data[i],
        inp.shape,
      );
    });
    return out;
  };
  const base = await session.run(feeds());
  const h = c.h ?? (c.dtype === 'float64' ? 1e-6 : 5e-3);
  const rtol = c.rtol ?? (c.dtype === 'float64' ? 1e-6 : 2e-3);
  const atol = c.atol ?? (c.dtype === 'float64' ? 1e-8 : 2e-4);
  let checked = 0;
  let maxAbs = 0;
  let maxRel = 0;
  for (let k = 0; k < diffIdx.length; k++) {
    const i = diffIdx[k];
    const analytic = floatData(base[`g${k}`]);
    const src = data[i] as Float32Array | Float64Array;
    for (let e = 0; e < src.length; e++) {
      const plus = src.slice();
      const minus = src.slice();
      plus[e] = src[e] + h;
      minus[e] = src[e] - h;
      const fp = floatData((await session.run(feeds({ input: i, data: plus }))).f)[0];
      const fm = floatData((await session.run(feeds({ input: i, data: minus }))).f)[0];
      // divide by the step actually taken: in float32 x+h is rounded
      const numeric = (fp - fm) / (plus[e] - minus[e]);
      const err = Math.abs(analytic[e] - numeric);
      maxAbs = Math.max(maxAbs, err);
      maxRel = Math.max(maxRel, err / Math.max(Math.abs(numeric), 1e-12));
      assert.ok(
        err <= atol + rtol * Math.abs(numeric),
        `input ${i} element ${e}: analytic ${analytic[e]} vs numeric ${numeric} (|diff| ${err.toExponential(2)})`,
      );
      checked++;
    }
  }
  await session.release();
  return { checked, maxAbsError: maxAbs, maxRelError: maxRel };
}
