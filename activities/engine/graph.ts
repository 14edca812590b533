/**
 * A symbolic graph of standard ONNX operators, built from TypeScript.
 *
 * Values carry a dtype and a shape whose dimensions are numbers or symbolic names (the batch size
 * is symbolic so one graph serves every batch). Differentiable ops append an entry to the graph's
 * tape; `gradients()` in autodiff.ts walks the tape backwards and emits the backward nodes into the
 * same graph, so forward, gradients and optimiser update end up in one ONNX model.
 */

export type FloatType = 'float32' | 'float64';
export type DType = FloatType | 'int64' | 'bool';
export type Dim = number | string;
export type Shape = readonly Dim[];

export type Attr =
  | { readonly kind: 'int'; readonly value: number }
  | { readonly kind: 'float'; readonly value: number }
  | { readonly kind: 'ints'; readonly value: readonly number[] }
  | { readonly kind: 'floats'; readonly value: readonly number[] }
  | { readonly kind: 'string'; readonly value: string };

export const attr = {
  int: (value: number): Attr => ({ kind: 'int', value }),
  float: (value: number): Attr => ({ kind: 'float', value }),
  ints: (value: readonly number[]): Attr => ({ kind: 'ints', value }),
  floats: (value: readonly number[]): Attr => ({ kind: 'floats', value }),
  string: (value: string): Attr => ({ kind: 'string', value }),
};

export type TensorData = Float32Array | Float64Array | BigInt64Array | Uint8Array;

export interface GraphNode {
  readonly opType: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly attrs: Readonly<Record<string, Attr>>;
}

export interface Initializer {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly data: TensorData;
}

/** Given the gradients of an op's outputs (null: no gradient flows there), returns the gradients of
 * its inputs; `needs[i]` is false where input i does not lead back to anything differentiated, so a
 * rule may skip that computation and return null. */
export type Backward = (gradOutputs: readonly (Value | null)[], needs: readonly boolean[]) => readonly (Value | null)[];

export interface TapeEntry {
  readonly op: string;
  readonly inputs: readonly Value[];
  readonly outputs: readonly Value[];
  readonly backward: Backward;
}

/** One matrix product: 2 * product(dims) floating-point operations. */
export interface FlopRecord {
  readonly op: string;
  readonly dims: readonly Dim[];
}

export class Value {
  constructor(
    readonly graph: Graph,
    readonly name: string,
    readonly dtype: DType,
    readonly shape: Shape,
  ) {}

  get rank(): number {
    return this.shape.length;
  }
}

export interface OutputSpec {
  readonly dtype: DType;
  readonly shape: Shape;
  readonly name?: string;
}

export class Graph {
  readonly nodes: GraphNode[] = [];
  readonly inputs: Value[] = [];
  readonly outputs: Value[] = [];
  readonly initializers: Initializer[] = [];
  readonly tape: TapeEntry[] = [];
  readonly flops: FlopRecord[] = [];
  private readonly taken = new Set<string>();
  private readonly constants = new Map<string, Value>();
  private readonly produced = new Set<string>();
  private readonly aliases = new Map<string, string>();
  private readonly scopes: string[] = [];
  private readonly suffixes = new Map<string, number>();
  private taping = true;

  constructor(readonly floatType: FloatType = 'float32') {}

  /** Names created inside `fn` get `prefix/` in front, which keeps large graphs readable. */
  scope<T>(prefix: string, fn: () => T): T {
    this.scopes.push(prefix);
    try {
      return fn();
    } finally {
      this.scopes.pop();
    }
  }

  /** Runs `fn` without recording differentiable ops: backward rules and optimiser updates. */
  untaped<T>(fn: () => T): T {
    const was = this.taping;
    this.taping = false;
    try {
      return fn();
    } finally {
      this.taping = was;
    }
  }

  uniqueName(hint: string): string {
    const base = this.scopes.length > 0 ? `${this.scopes.join('/')}/${hint}` : hint;
    if (!this.taken.has(base)) {
      this.taken.add(base);
      return base;
    }
    // continue numbering where the last name with this base stopped: graphs reuse hints thousands of times
    for (let k = this.suffixes.get(base) ?? 1; ; k++) {
      const candidate = `${base}_${k}`;
      if (!this.taken.has(candidate)) {
        this.taken.add(candidate);
        this.suffixes.set(base, k + 1);
        return candidate;
      }
    }
  }

  /** Declares a graph input under exactly `name` (scopes do not apply: callers feed by this name). */
  input(name: string, dtype: DType, shape: Shape): Value {
    if (this.taken.has(name)) throw new Error(`graph: name ${name} is already used`);
    this.taken.add(name);
    const v = new Value(this, name, dtype, shape);
    this.inputs.push(v);
    return v;
  }

  initializer(name: string, dtype: DType, shape: readonly number[], data: TensorData): Value {
    const count = shape.reduce((p, d) => p * d, 1);
    if (data.length !== count)
      throw new Error(`graph: initializer ${name} has ${data.length} values for shape [${String(shape)}]`);
    const unique = this.uniqueName(name);
    this.initializers.push({ name: unique, dtype, shape: [...shape], data });
    return new Value(this, unique, dtype, shape);
  }

  /** A constant tensor, deduplicated so repeated scalars cost one initializer. */
  constant(values: number | readonly number[], dtype: DType, shape?: readonly number[]): Value {
    const list = typeof values === 'number' ? [values] : values;
    const dims = shape ?? (typeof values === 'number' ? [] : [list.length]);
    const key = `${dtype}|${dims.join(',')}|${list.join(',')}`;
    const hit = this.constants.get(key);
    if (hit) return hit;
    const data = makeData(dtype, list);
    // constants live outside any scope: they are shared across the whole graph
    const saved = this.scopes.splice(0);
    try {
      const v = this.initializer('const', dtype, dims, data);
      this.constants.set(key, v);
      return v;
    } finally {
      this.scopes.push(...saved);
    }
  }

  /** Emits one ONNX node; returns its outputs. Optional inputs may be passed as null. */
  node(
    opType: string,
    inputs: readonly (Value | null)[],
    attrs: Record<string, Attr>,
    outputs: readonly OutputSpec[],
  ): Value[] {
    for (const v of inputs)
      if (v && v.graph !== this) throw new Error(`graph: ${opType} input ${v.name} belongs to another graph`);
    const outs = outputs.map((o) => new Value(this, this.uniqueName(o.name ?? opType.toLowerCase()), o.dtype, o.shape));
    for (const o of outs) this.produced.add(o.name);
    this.nodes.push({ opType, inputs: inputs.map((v) => (v ? v.name : '')), outputs: outs.map((o) => o.name), attrs });
    return outs;
  }

  /** Single-output shorthand for `node`. */
  op(
    opType: string,
    inputs: readonly (Value | null)[],
    attrs: Record<string, Attr>,
    dtype: DType,
    shape: Shape,
    name?: string,
  ): Value {
    const [out] = this.node(opType, inputs, attrs, [{ dtype, shape, name }]);
    return out;
  }

  record(entry: TapeEntry): void {
    if (this.taping) this.tape.push(entry);
  }

  countFlops(op: string, dims: readonly Dim[]): void {
    this.flops.push({ op, dims });
  }

  /**
   * Exposes `value` as a graph output called `name`. A node output is renamed in place (an alias
   * applied at serialisation), which spares the copy an Identity node would make: that matters
   * for the dozens of updated state tensors a training step returns. Graph inputs, initializers
   * and values already exposed under another name still go through an Identity.
   */
  output(value: Value, name?: string): Value {
    const claim = (n: string): void => {
      if (this.taken.has(n)) throw new Error(`graph: output name ${n} is already used`);
      this.taken.add(n);
    };
    let outName: string;
    if (this.produced.has(value.name) && !this.aliases.has(value.name)) {
      outName = name ?? value.name;
      if (outName !== value.name) claim(outName);
      this.aliases.set(value.name, outName);
    } else {
      outName = name ?? `${value.name}:out`;
      claim(outName);
      this.nodes.push({ opType: 'Identity', inputs: [value.name], outputs: [outName], attrs: {} });
      this.produced.add(outName);
      this.aliases.set(outName, outName);
    }
    const out = new Value(this, outName, value.dtype, value.shape);
    this.outputs.push(out);
    return out;
  }

  /** The serialised name of a value (differs from `value.name` once exposed as a renamed output). */
  finalName(name: string): string {
    return this.aliases.get(name) ?? name;
  }

  /** Matrix-product FLOPs of one run with the symbolic dimensions bound to numbers. */
  totalFlops(bindings: Readonly<Record<string, number>>): number {
    let total = 0;
    for (const r of this.flops) total += 2 * r.dims.reduce<number>((p, d) => p * resolveDim(d, bindings), 1);
    return total;
  }
}

export function resolveDim(d: Dim, bindings: Readonly<Record<string, number>>): number {
  if (typeof d === 'number') return d;
  return d.split('*').reduce((p, part) => {
    const n = Number(part);
    if (Number.isFinite(n)) return p * n;
    const b = bindings[part];
    if (b === undefined) throw new Error(`graph: no binding for dimension ${part}`);
    return p * b;
  }, 1);
}

export function makeData(dtype: DType, values: readonly number[]): TensorData {
  switch (dtype) {
    case 'float32':
      return Float32Array.from(values);
    case 'float64':
      return Float64Array.from(values);
    case 'int64':
      return BigInt64Array.from(values, (v) => BigInt(v));
    case 'bool':
      return Uint8Array.from(values, (v) => (v ? 1 : 0));
  }
}

export function isFloat(dtype: DType): dtype is FloatType {
  return dtype === 'float32' || dtype === 'float64';
}
