/**
 * The model-building context: layers ask it for parameters, running-statistics buffers, dropout
 * masks and BatchNorm, and it decides how each is realised in the graph being built (graph inputs
 * for training graphs, initializers for the exported inference graph; batch statistics and mask
 * inputs in train mode, running statistics and no dropout in eval mode). Building the model once
 * also yields the list of parameters with their shapes and initialisers: the single source of truth.
 */
import type { Dim, FloatType, Graph, Value } from '../engine/graph.ts';
import { add, batchNormEval, batchNormTrain, countAlong, div, dropout, mul, sub } from '../engine/ops/index.ts';

export type Init =
  | { readonly kind: 'uniform'; readonly bound: number }
  | { readonly kind: 'normal'; readonly std: number }
  | { readonly kind: 'const'; readonly value: number }
  /** Weight-norm gain: the L2 norm of each column of parameter `of` (so that initially w = v). */
  | { readonly kind: 'column-norm'; readonly of: string };

export interface TensorSpec {
  readonly name: string;
  readonly shape: readonly number[];
  readonly init: Init;
}

export interface MaskSpec {
  readonly name: string;
  /** Shape with the symbolic batch dimension `N`. */
  readonly shape: readonly Dim[];
  readonly p: number;
}

export type FloatArray = Float32Array | Float64Array;

export type ParamSource =
  { readonly kind: 'inputs' } | { readonly kind: 'constants'; readonly values: ReadonlyMap<string, FloatArray> };

export const BATCH = 'N';
export const paramInput = (name: string): string => `param:${name}`;
export const bufferInput = (name: string): string => `buffer:${name}`;
export const maskInput = (name: string): string => `mask:${name}`;

export class ModelContext {
  readonly params: TensorSpec[] = [];
  readonly buffers: TensorSpec[] = [];
  readonly masks: MaskSpec[] = [];
  /** Train mode: the new running statistics, by buffer name. */
  readonly bufferUpdates = new Map<string, Value>();
  private readonly paramValues = new Map<string, Value>();
  private readonly bufferValues = new Map<string, Value>();

  constructor(
    readonly g: Graph,
    readonly mode: 'train' | 'eval',
    private readonly source: ParamSource,
  ) {}

  get dtype(): FloatType {
    return this.g.floatType;
  }

  param(name: string, shape: readonly number[], init: Init): Value {
    if (this.paramValues.has(name)) throw new Error(`model: parameter ${name} declared twice`);
    this.params.push({ name, shape, init });
    const v = this.realise(name, shape, paramInput(name));
    this.paramValues.set(name, v);
    return v;
  }

  buffer(name: string, shape: readonly number[], init: Init): Value {
    if (this.bufferValues.has(name)) throw new Error(`model: buffer ${name} declared twice`);
    this.buffers.push({ name, shape, init });
    const v = this.realise(name, shape, bufferInput(name));
    this.bufferValues.set(name, v);
    return v;
  }

  paramValue(name: string): Value {
    const v = this.paramValues.get(name);
    if (!v) throw new Error(`model: no parameter ${name}`);
    return v;
  }

  /** Inverted dropout; train mode takes a keep-mask input `mask:<name>` shaped like `x`. */
  dropout(name: string, x: Value, p: number): Value {
    if (this.mode === 'eval' || p <= 0) return x;
    const shape = x.shape;
    this.masks.push({ name, shape, p });
    return dropout(x, this.g.input(maskInput(name), 'bool', shape), p);
  }

  /** BatchNorm1d over x [N, C] with PyTorch semantics: biased batch variance for normalising,
   * unbiased for the running estimate, running = (1 - momentum) running + momentum batch. */
  batchNorm(name: string, x: Value, eps: number, momentum: number): Value {
    const c = x.shape[1];
    if (x.rank !== 2 || typeof c !== 'number')
      throw new Error(`model: batchNorm ${name} wants [N, C], got [${String(x.shape)}]`);
    const gamma = this.param(`${name}.weight`, [c], { kind: 'const', value: 1 });
    const beta = this.param(`${name}.bias`, [c], { kind: 'const', value: 0 });
    const runningMean = this.buffer(`${name}.running_mean`, [c], { kind: 'const', value: 0 });
    const runningVar = this.buffer(`${name}.running_var`, [c], { kind: 'const', value: 1 });
    if (this.mode === 'eval') return batchNormEval(x, gamma, beta, runningMean, runningVar, eps);
    const { y, mean, variance } = batchNormTrain(x, gamma, beta, eps);
    this.g.untaped(() => {
      const n = countAlong(x, [0], x.dtype);
      const unbiased = mul(variance, div(n, sub(n, 1)));
      const flat = (v: Value): Value =>
        this.g.op('Reshape', [v, this.g.constant([c], 'int64')], {}, v.dtype, [c], 'bn_stat');
      this.bufferUpdates.set(`${name}.running_mean`, add(mul(runningMean, 1 - momentum), mul(flat(mean), momentum)));
      this.bufferUpdates.set(`${name}.running_var`, add(mul(runningVar, 1 - momentum), mul(flat(unbiased), momentum)));
    });
    return y;
  }

  private realise(name: string, shape: readonly number[], inputName: string): Value {
    if (this.source.kind === 'inputs') return this.g.input(inputName, this.dtype, shape);
    const data = this.source.values.get(name);
    if (!data) throw new Error(`model: no value for ${name}`);
    const typed = this.dtype === 'float64' ? Float64Array.from(data) : Float32Array.from(data);
    return this.g.initializer(name, this.dtype, shape, typed);
  }
}
