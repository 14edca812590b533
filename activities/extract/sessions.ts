/**
 * onnxruntime sessions for the encoders, created once per worker process and shared by every
 * activity that runs the same model file on the same execution provider: creating a BERT-base or
 * wav2vec2-base session costs seconds and hundreds of MB, an activity per shard must not repeat it.
 */
import type { OnnxRuntimeSettings } from '../../schemas/runtime.ts';
import { cudaLibrariesMissing } from '../common/cuda.ts';
import { ErrorTypes, MerError } from '../common/errors.ts';
import { ort, sessionOptions } from '../engine/session.ts';
import type { ModelFolder } from './model-folder.ts';

export interface EncoderSession {
  session: ort.InferenceSession;
  /** The provider actually in use: 'cpu' after a CUDA fallback. */
  device: 'cpu' | 'cuda';
}

const sessions = new Map<string, Promise<EncoderSession>>();
let createdCount = 0;

/** Sessions created by this process so far (benchmarks and tests check reuse with it). */
export function sessionsCreated(): number {
  return createdCount;
}

export interface SessionTuning {
  /**
   * onnxruntime's CPU arena keeps every block it ever grew to: right for fixed shapes, but with
   * inputs of ever-new lengths (audio) it ratchets upwards shard after shard. Measured on
   * wav2vec2-base, 2 x 24 utterances of 2-6 s: peak 1.57 GiB still growing with the arena, 1.34 GiB
   * flat without it, same speed.
   */
  cpuMemArena?: boolean;
}

function options(
  runtime: OnnxRuntimeSettings,
  device: 'cpu' | 'cuda',
  tuning: SessionTuning,
): ort.InferenceSession.SessionOptions {
  return {
    ...sessionOptions({
      executionProvider: device,
      deviceId: runtime.deviceId,
      threads: runtime.threads > 0 ? runtime.threads : undefined,
      optimizationLevel: runtime.graphOptimization,
    }),
    enableCpuMemArena: tuning.cpuMemArena ?? true,
  };
}

async function create(
  folder: ModelFolder,
  runtime: OnnxRuntimeSettings,
  tuning: SessionTuning,
): Promise<EncoderSession> {
  if (runtime.device === 'cuda') {
    let why = cudaLibrariesMissing();
    if (!why) {
      try {
        const session = await ort.InferenceSession.create(folder.onnxPath, options(runtime, 'cuda', tuning));
        createdCount++;
        return { session, device: 'cuda' };
      } catch (err) {
        why = String((err as Error).message ?? err).split('\n')[0];
      }
    }
    process.emitWarning(
      `the CUDA execution provider could not start for ${folder.onnxPath} (${why}); ` +
        `running the ${folder.modality} encoder on the CPU. GPU workers need onnxruntime-node installed with ` +
        'ONNXRUNTIME_NODE_INSTALL=cuda12 (npm ci) on a machine with CUDA 12 and cuDNN 9.',
      { code: 'MER_CUDA_FALLBACK' },
    );
  }
  try {
    const session = await ort.InferenceSession.create(folder.onnxPath, options(runtime, 'cpu', tuning));
    createdCount++;
    return { session, device: 'cpu' };
  } catch (err) {
    throw new MerError(
      ErrorTypes.ModelCorrupt,
      `${folder.onnxPath}: onnxruntime cannot load this model (${String((err as Error).message ?? err)})`,
      { file: folder.onnxPath },
    );
  }
}

export function encoderSession(
  folder: ModelFolder,
  runtime: OnnxRuntimeSettings,
  tuning: SessionTuning = {},
): Promise<EncoderSession> {
  const onnxFile = folder.files.find((f) => f.path.endsWith('.onnx'))?.path;
  const key = [
    folder.sha256,
    onnxFile,
    runtime.device,
    runtime.deviceId,
    runtime.threads,
    runtime.graphOptimization,
    tuning.cpuMemArena ?? true,
  ].join('|');
  let p = sessions.get(key);
  if (!p) {
    p = create(folder, runtime, tuning);
    sessions.set(key, p);
    // a failed creation is not cached: a fixed model file must be picked up by the next attempt
    p.catch(() => sessions.delete(key));
  }
  return p;
}

/** Releases every cached session (worker shutdown, end of a test file). */
export async function releaseEncoderSessions(): Promise<void> {
  const all = [...sessions.values()];
  sessions.clear();
  for (const p of all) {
    try {
      await (await p).session.release();
    } catch {
      // a session that failed to create has nothing to release
    }
  }
}

export interface TensorSpec {
  name: string;
  type: 'int64' | 'float32';
  /** Expected dims; null where any size is fine (batch, sequence length). */
  dims: ReadonlyArray<number | null>;
  optional?: boolean;
}

/**
 * Checks the graph's declared inputs and output against what the modality feeds and reads, so a
 * wrong or mis-exported model fails before any inference with a message naming the difference.
 */
export function validateIo(
  session: ort.InferenceSession,
  folder: ModelFolder,
  inputs: readonly TensorSpec[],
  output: TensorSpec,
): void {
  const where = folder.onnxPath;
  const fail = (msg: string): never => {
    throw new MerError(
      ErrorTypes.ModelMismatch,
      `${where}: ${msg} (a ${folder.modality} encoder needs inputs ${inputs.map((i) => i.name).join(', ')} and output ${output.name})`,
      {
        file: where,
        inputs: session.inputNames,
        outputs: session.outputNames,
      },
    );
  };
  const check = (meta: ort.InferenceSession.ValueMetadata | undefined, spec: TensorSpec, kind: string) => {
    if (!meta) return fail(`has no ${kind} named ${spec.name}`);
    if (!meta.isTensor) return fail(`${kind} ${spec.name} is not a tensor`);
    if (meta.type !== spec.type) return fail(`${kind} ${spec.name} is ${meta.type}, expected ${spec.type}`);
    // an exporter without shape information declares no dims; the run-time output check covers it
    if (meta.shape.length === 0) return;
    if (meta.shape.length !== spec.dims.length)
      return fail(`${kind} ${spec.name} has rank ${meta.shape.length}, expected ${spec.dims.length}`);
    spec.dims.forEach((want, i) => {
      const got = meta.shape[i];
      if (want !== null && typeof got === 'number' && got !== want)
        fail(`${kind} ${spec.name} has dimension ${i} = ${got}, expected ${want}`);
    });
  };
  const inMeta = new Map(session.inputMetadata.map((m) => [m.name, m]));
  for (const spec of inputs) {
    if (!inMeta.has(spec.name) && spec.optional) continue;
    check(inMeta.get(spec.name), spec, 'input');
  }
  const known = new Set(inputs.map((i) => i.name));
  const extra = session.inputNames.filter((n) => !known.has(n));
  if (extra.length) fail(`has input(s) ${extra.join(', ')} that this stage cannot feed`);
  check(
    session.outputMetadata.find((m) => m.name === output.name),
    output,
    'output',
  );
}

/** The output tensor's data, after checking its actual shape (symbolic dims are only known at run time). */
export function outputData(
  result: ort.InferenceSession.OnnxValueMapType,
  folder: ModelFolder,
  name: string,
  dims: ReadonlyArray<number>,
): Float32Array {
  const t = result[name];
  const ok =
    t && t.type === 'float32' && t.dims.length === dims.length && t.dims.every((d, i) => dims[i] < 0 || d === dims[i]);
  if (!ok) {
    throw new MerError(
      ErrorTypes.ModelMismatch,
      `${folder.onnxPath}: output ${name} came back as ${t ? `${t.type}[${t.dims.join(', ')}]` : 'nothing'}, expected float32[${dims.map((d) => (d < 0 ? '?' : d)).join(', ')}]`,
      { file: folder.onnxPath },
    );
  }
  return t.data as Float32Array;
}
