/** Host data -> onnxruntime feeds for the model graphs. */
import type { FloatType } from '../engine/graph.ts';
import { resolveDim } from '../engine/graph.ts';
import { tensor } from '../engine/session.ts';
import type { Feeds } from '../engine/session.ts';
import type { ModelConfig } from './config.ts';
import { hasModality } from './config.ts';
import { BATCH, maskInput } from './context.ts';
import type { FloatArray, MaskSpec, TensorSpec } from './context.ts';
import { IO } from './graphs.ts';
import { Rng, Stream } from './rng.ts';

/** One batch of features, row-major, already in the graph's float type. */
export interface Batch {
  readonly n: number;
  /** [n, Dt] */
  readonly t?: FloatArray;
  /** [n, Da] */
  readonly a?: FloatArray;
  /** [n, F, Dv] */
  readonly v?: FloatArray;
  /** [n] valid frames per sample */
  readonly vLen?: BigInt64Array;
  /** [n] class indices */
  readonly labels?: BigInt64Array;
}

function asType(data: FloatArray, dtype: FloatType): FloatArray {
  if (dtype === 'float32') return data instanceof Float32Array ? data : Float32Array.from(data);
  return data instanceof Float64Array ? data : Float64Array.from(data);
}

export function featureFeeds(cfg: ModelConfig, batch: Batch, dtype: FloatType): Feeds {
  const feeds: Feeds = {};
  const need = (what: string): never => {
    throw new Error(`feeds: the ${cfg.modalities.join('+')} variant needs ${what}`);
  };
  if (hasModality(cfg, 't')) feeds.t = tensor(dtype, asType(batch.t ?? need('t'), dtype), [batch.n, cfg.inputs.text]);
  if (hasModality(cfg, 'a')) feeds.a = tensor(dtype, asType(batch.a ?? need('a'), dtype), [batch.n, cfg.inputs.audio]);
  if (hasModality(cfg, 'v')) {
    feeds.v = tensor(dtype, asType(batch.v ?? need('v'), dtype), [batch.n, cfg.inputs.frames, cfg.inputs.visual]);
    feeds.v_len = tensor('int64', batch.vLen ?? need('v lengths'), [batch.n]);
  }
  if (batch.labels) feeds[IO.labels] = tensor('int64', batch.labels, [batch.n]);
  return feeds;
}

export function maskShape(spec: MaskSpec, n: number): number[] {
  return spec.shape.map((d) => resolveDim(d, { [BATCH]: n }));
}

/** Keep-masks for one training step, derived from (seed, step) only so a resumed run draws the
 * very same masks. Sites are drawn in layout order from one stream. */
export function stepMasks(masks: readonly MaskSpec[], n: number, seed: number, step: number): Map<string, Uint8Array> {
  const rng = new Rng(seed, Stream.Dropout, step);
  const out = new Map<string, Uint8Array>();
  for (const spec of masks) {
    const m = new Uint8Array(maskShape(spec, n).reduce((p, d) => p * d, 1));
    rng.fillKeepMask(m, spec.p);
    out.set(spec.name, m);
  }
  return out;
}

export function maskFeeds(masks: readonly MaskSpec[], n: number, values: ReadonlyMap<string, Uint8Array>): Feeds {
  const feeds: Feeds = {};
  for (const spec of masks) {
    const m = values.get(spec.name);
    if (!m) throw new Error(`feeds: no dropout mask for ${spec.name}`);
    feeds[maskInput(spec.name)] = tensor('bool', m, maskShape(spec, n));
  }
  return feeds;
}

export function stateFeeds(
  specs: readonly TensorSpec[],
  inputName: (name: string) => string,
  values: ReadonlyMap<string, FloatArray>,
  dtype: FloatType,
): Feeds {
  const feeds: Feeds = {};
  for (const spec of specs) {
    const v = values.get(spec.name);
    if (!v) throw new Error(`feeds: no value for ${spec.name}`);
    feeds[inputName(spec.name)] = tensor(dtype, asType(v, dtype), spec.shape);
  }
  return feeds;
}
