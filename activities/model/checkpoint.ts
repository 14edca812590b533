/**
 * Checkpoint bytes, format `mer-fusion-checkpoint` version 1 (all integers little-endian):
 *
 *   offset 0   8 bytes  magic "MERCKPT\0"
 *   offset 8   u32      format version (1)
 *   offset 12  u32      header length H in bytes
 *   offset 16  H bytes  UTF-8 JSON header (CheckpointHeader below)
 *              0-7 zero bytes, so the tensor block starts 8-byte aligned
 *              tensor block: float32 values, tensor after tensor, at the byte offsets (relative
 *              to the block) listed in header.tensors
 *   last 4     u32      CRC-32 (zlib polynomial) of every preceding byte
 *
 * The header holds the full trainer configuration, a fingerprint of the features (a resume on
 * other data is refused), the progress counters (which with the seed determine every remaining
 * random draw), the epoch history, early-stopping state and the running sums of a partly done
 * epoch. Tensor groups: params, buffers (BatchNorm running
 * statistics), adamM and adamV (Adam's moments pre-divided by their EMA weights, m / (1 - beta1)
 * and v / (1 - beta2), as the training graph keeps them: see adam.ts), and bestParams/bestBuffers
 * (the weights of the best validation epoch so far). Parameter names and shapes are those of
 * modelLayout(config.model); weights use the [in, out] layout of layers.ts.
 */
import { crc32 } from 'node:zlib';
import { z } from 'zod';
import { TrainerConfigSchema } from './config.ts';
import { RNG_ALGORITHM } from './rng.ts';

export const CHECKPOINT_FORMAT = 'mer-fusion-checkpoint';
export const CHECKPOINT_VERSION = 1;
const MAGIC = new TextEncoder().encode('MERCKPT\0');

export const TENSOR_GROUPS = ['params', 'buffers', 'adamM', 'adamV', 'bestParams', 'bestBuffers'] as const;
export type TensorGroup = (typeof TENSOR_GROUPS)[number];

const MetricsSchema = z.object({ accuracy: z.number(), weightedF1: z.number(), macroF1: z.number(), n: z.number() });

/** The training sums an epoch record and a partly done epoch's accumulator both keep (in this key order). */
const stepTotals = {
  steps: z.number().int(),
  samples: z.number().int(),
  loss: z.number(),
  ce: z.number(),
  contrastive: z.number(),
  gradNorm: z.number(),
};

export const EpochRecordSchema = z.object({
  epoch: z.number().int(),
  ...stepTotals,
  validation: MetricsSchema.nullable(),
  /** Running metrics over the epoch's training batches (train mode, as the batches were seen); absent in older checkpoints. */
  train: MetricsSchema.nullable().optional(),
  improved: z.boolean(),
  seconds: z.number(),
});
export type EpochRecord = z.infer<typeof EpochRecordSchema>;

export const AccumulatorSchema = z.object({
  ...stepTotals,
  seconds: z.number(),
  /** confusion[true][predicted] over the epoch's training batches so far. */
  confusion: z.array(z.array(z.number().int())).optional(),
});
export type Accumulator = z.infer<typeof AccumulatorSchema>;

const TensorEntrySchema = z.object({
  group: z.enum(TENSOR_GROUPS),
  name: z.string(),
  shape: z.array(z.number().int().nonnegative()),
  offset: z.number().int().nonnegative(),
  length: z.number().int().nonnegative(),
});

export const CheckpointHeaderSchema = z.object({
  format: z.literal(CHECKPOINT_FORMAT),
  version: z.literal(CHECKPOINT_VERSION),
  config: TrainerConfigSchema,
  /** Fingerprint of the training and validation features (see dataFingerprint in data.ts). */
  data: z.string(),
  rng: z.object({ algorithm: z.string(), seed: z.number().int() }),
  progress: z.object({
    /** Epoch in progress (0-based); equals the number of finished epochs at an epoch boundary. */
    epoch: z.number().int().nonnegative(),
    /** Batches of that epoch already done. */
    batchInEpoch: z.number().int().nonnegative(),
    /** Optimiser steps taken in total. */
    step: z.number().int().nonnegative(),
    finished: z.boolean(),
  }),
  accumulator: AccumulatorSchema,
  history: z.array(EpochRecordSchema),
  best: z.object({ epoch: z.number().int(), weightedF1: z.number() }).nullable(),
  badEpochs: z.number().int().nonnegative(),
  tensors: z.array(TensorEntrySchema),
});
export type CheckpointHeader = z.infer<typeof CheckpointHeaderSchema>;
export type CheckpointMeta = Omit<CheckpointHeader, 'format' | 'version' | 'tensors' | 'rng'>;

export interface TensorShapes {
  shapeOf(group: TensorGroup, name: string): readonly number[];
}

export type TensorGroups = Partial<Record<TensorGroup, ReadonlyMap<string, Float32Array | Float64Array>>>;

export interface DecodedCheckpoint {
  readonly header: CheckpointHeader;
  readonly tensors: Record<TensorGroup, Map<string, Float32Array>>;
}

export function encodeCheckpoint(meta: CheckpointMeta, groups: TensorGroups, shapes: TensorShapes): Uint8Array {
  const entries: CheckpointHeader['tensors'] = [];
  const chunks: Float32Array[] = [];
  let offset = 0;
  for (const group of TENSOR_GROUPS) {
    for (const [name, values] of groups[group] ?? new Map<string, Float32Array>()) {
      const data = values instanceof Float32Array ? values : Float32Array.from(values);
      entries.push({ group, name, shape: [...shapes.shapeOf(group, name)], offset, length: data.length });
      chunks.push(data);
      offset += data.byteLength;
    }
  }
  const header: CheckpointHeader = {
    format: CHECKPOINT_FORMAT,
    version: CHECKPOINT_VERSION,
    rng: { algorithm: RNG_ALGORITHM, seed: meta.config.seed },
    ...meta,
    tensors: entries,
  };
  const json = new TextEncoder().encode(JSON.stringify(header));
  const dataStart = align8(16 + json.length);
  const total = dataStart + offset + 4;
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  out.set(MAGIC, 0);
  view.setUint32(8, CHECKPOINT_VERSION, true);
  view.setUint32(12, json.length, true);
  out.set(json, 16);
  let at = dataStart;
  for (const c of chunks) {
    if (LITTLE_ENDIAN_HOST) out.set(new Uint8Array(c.buffer, c.byteOffset, c.byteLength), at);
    else for (let i = 0; i < c.length; i++) view.setFloat32(at + 4 * i, c[i], true);
    at += c.byteLength;
  }
  view.setUint32(total - 4, crc32(out.subarray(0, total - 4)) >>> 0, true);
  return out;
}

export function decodeCheckpoint(bytes: Uint8Array): DecodedCheckpoint {
  if (bytes.length < 20 || !MAGIC.every((b, i) => bytes[i] === b))
    throw new Error('checkpoint: not a mer-fusion checkpoint (bad magic)');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint32(8, true);
  if (version !== CHECKPOINT_VERSION)
    throw new Error(`checkpoint: format version ${version} is not supported (this build reads ${CHECKPOINT_VERSION})`);
  const stored = view.getUint32(bytes.length - 4, true);
  const actual = crc32(bytes.subarray(0, bytes.length - 4)) >>> 0;
  if (stored !== actual) throw new Error('checkpoint: CRC mismatch (truncated or corrupted bytes)');
  const headerLength = view.getUint32(12, true);
  const header = CheckpointHeaderSchema.parse(
    JSON.parse(new TextDecoder().decode(bytes.subarray(16, 16 + headerLength))),
  );
  if (header.rng.algorithm !== RNG_ALGORITHM)
    throw new Error(`checkpoint: RNG ${header.rng.algorithm} differs from this build's ${RNG_ALGORITHM}`);
  const dataStart = align8(16 + headerLength);
  const tensors = Object.fromEntries(TENSOR_GROUPS.map((g) => [g, new Map<string, Float32Array>()])) as Record<
    TensorGroup,
    Map<string, Float32Array>
  >;
  for (const e of header.tensors) {
    const start = dataStart + e.offset;
    if (start + 4 * e.length > bytes.length - 4)
      throw new Error(`checkpoint: tensor ${e.group}/${e.name} runs past the data`);
    let values: Float32Array;
    if (LITTLE_ENDIAN_HOST) {
      // A copy into a fresh buffer: a Node Buffer's slice() is a view whose .buffer is the whole
      // (pooled or file-sized) ArrayBuffer, so `new Float32Array(bytes.slice(..).buffer)` would not do.
      values = new Float32Array(e.length);
      new Uint8Array(values.buffer).set(bytes.subarray(start, start + 4 * e.length));
    } else {
      values = new Float32Array(e.length);
      for (let i = 0; i < e.length; i++) values[i] = view.getFloat32(start + 4 * i, true);
    }
    tensors[e.group].set(e.name, values);
  }
  return { header, tensors };
}

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function align8(n: number): number {
  return (n + 7) & ~7;
}
