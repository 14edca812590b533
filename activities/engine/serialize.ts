/** Graph -> ONNX ModelProto bytes (onnx-proto, protobufjs-based). */
import onnxProto from 'onnx-proto';
import type { Attr, DType, Graph, Shape, TensorData } from './graph.ts';
import { onnxTypeCode } from './ops/core.ts';

const { onnx } = onnxProto;
type IAttributeProto = onnxProto.onnx.IAttributeProto;
type IValueInfoProto = onnxProto.onnx.IValueInfoProto;

/** IR 8 with opset 17 is the pair ONNX 1.12 writes, so the files load in current tooling too. */
export const IR_VERSION = 8;
export const OPSET = 17;

export interface SerializeOptions {
  readonly graphName?: string;
  readonly docString?: string;
  /** Stored as metadata_props (e.g. class names, feature dimensions, preset). */
  readonly metadata?: Readonly<Record<string, string>>;
}

export function serializeGraph(graph: Graph, options: SerializeOptions = {}): Uint8Array {
  const rename = (name: string): string => (name === '' ? name : graph.finalName(name));
  const used = new Set<string>();
  for (const n of graph.nodes) for (const i of n.inputs) used.add(i);
  for (const o of graph.outputs) used.add(o.name);
  const model = onnx.ModelProto.create({
    irVersion: IR_VERSION,
    producerName: 'mer-pipeline',
    producerVersion: '1',
    docString: options.docString ?? '',
    opsetImport: [{ domain: '', version: OPSET }],
    metadataProps: Object.entries(options.metadata ?? {}).map(([key, value]) => ({ key, value })),
    graph: {
      name: options.graphName ?? 'graph',
      node: graph.nodes.map((n, k) => ({
        name: `n${k}_${n.opType}`,
        opType: n.opType,
        input: n.inputs.map(rename),
        output: n.outputs.map(rename),
        attribute: Object.entries(n.attrs).map(([name, a]) => attribute(name, a)),
      })),
      input: graph.inputs.map((v) => valueInfo(v.name, v.dtype, v.shape)),
      output: graph.outputs.map((v) => valueInfo(v.name, v.dtype, v.shape)),
      // unused initializers (e.g. a constant only a pruned branch referenced) are left out
      initializer: graph.initializers
        .filter((t) => used.has(t.name))
        .map((t) => ({
          name: t.name,
          dims: [...t.shape],
          dataType: onnxTypeCode(t.dtype),
          rawData: littleEndianBytes(t.data),
        })),
    },
  });
  return onnx.ModelProto.encode(model).finish();
}

function attribute(name: string, a: Attr): IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  switch (a.kind) {
    case 'int':
      return { name, type: T.INT, i: a.value };
    case 'float':
      return { name, type: T.FLOAT, f: a.value };
    case 'ints':
      return { name, type: T.INTS, ints: [...a.value] };
    case 'floats':
      return { name, type: T.FLOATS, floats: [...a.value] };
    case 'string':
      return { name, type: T.STRING, s: new TextEncoder().encode(a.value) };
  }
}

function valueInfo(name: string, dtype: DType, shape: Shape): IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: onnxTypeCode(dtype),
        shape: { dim: shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

function littleEndianBytes(data: TensorData): Uint8Array {
  if (!isLittleEndian) throw new Error('serialize: big-endian hosts are not supported');
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

const isLittleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
