/** Running engine graphs with onnxruntime-node on CPU (MLAS) or the CUDA execution provider. */
import * as ort from 'onnxruntime-node';
import type { DType, TensorData } from './graph.ts';

export type ExecutionProvider = 'cpu' | 'cuda';

export interface RuntimeOptions {
  /** 'cpu' (default) or 'cuda' (needs onnxruntime-node installed with its CUDA 12 libraries). */
  readonly executionProvider?: ExecutionProvider;
  readonly deviceId?: number;
  /** Intra-op threads; default: onnxruntime's choice (one per physical core). */
  readonly threads?: number;
  readonly optimizationLevel?: 'disabled' | 'basic' | 'extended' | 'all';
}

export type Feeds = Record<string, ort.Tensor>;

/** Session options shared by the training engine and the extract stage's encoders. */
export function sessionOptions(options: RuntimeOptions = {}): ort.InferenceSession.SessionOptions {
  const ep = options.executionProvider ?? 'cpu';
  const providers: ort.InferenceSession.ExecutionProviderConfig[] =
    ep === 'cuda' ? [{ name: 'cuda', deviceId: options.deviceId ?? 0 }] : ['cpu'];
  return {
    executionProviders: providers,
    graphOptimizationLevel: options.optimizationLevel ?? 'all',
    executionMode: 'sequential',
    interOpNumThreads: 1,
    ...(options.threads !== undefined ? { intraOpNumThreads: options.threads } : {}),
  };
}

export async function openSession(model: Uint8Array, options: RuntimeOptions = {}): Promise<ort.InferenceSession> {
  const ep = options.executionProvider ?? 'cpu';
  try {
    return await ort.InferenceSession.create(model, sessionOptions(options));
  } catch (err) {
    if (ep === 'cuda') {
      throw new Error(
        `engine: could not start the CUDA execution provider (${String(err)}); onnxruntime-node must be installed with ONNXRUNTIME_NODE_INSTALL=cuda12 on a machine with CUDA 12`,
      );
    }
    throw err;
  }
}

export function tensor(dtype: DType, data: TensorData, dims: readonly number[]): ort.Tensor {
  switch (dtype) {
    case 'float32':
      return new ort.Tensor('float32', data as Float32Array, dims);
    case 'float64':
      return new ort.Tensor('float64', data as Float64Array, dims);
    case 'int64':
      return new ort.Tensor('int64', data as BigInt64Array, dims);
    case 'bool':
      return new ort.Tensor('bool', data as Uint8Array, dims);
  }
}

/** A float tensor's values as a typed array of the graph's precision. */
export function floatData(t: ort.Tensor): Float32Array | Float64Array {
  if (t.type === 'float32') return t.data as Float32Array;
  if (t.type === 'float64') return t.data as Float64Array;
  throw new Error(`engine: expected a float tensor, got ${t.type}`);
}

export { ort };
