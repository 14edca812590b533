import type { DatasetName, DatasetSegmentResult, SegmentParams, StoreSpecResolved } from '../../schemas/config.ts';
import { segmentPrefix } from '../../schemas/layout.ts';
import { arrowTableToRows, type ManifestRow } from '../../schemas/manifest.ts';
import { DEFAULT_MAX_UTTERANCE_SEC, SEGMENT_FRAME_SIZE, maxUtteranceSec } from '../../schemas/segment.ts';
import { ffmpegVersion } from '../common/ffmpeg.ts';
import { contentKey, sha256Hex, stableStringify } from '../common/hash.ts';
import { parquetToTable } from '../common/parquet.ts';
import { createStore } from '../store/index.ts';
import type { ObjectStore } from '../store/types.ts';
import { SEGMENT_SAMPLE_RATE } from '../common/wav.ts';

/** Bumped whenever the cutters would store different bytes for the same input: old outputs are then not reused. */
export const SEGMENT_CODE_VERSION = 1;

export interface ShardSpec {
  index: number;
  /** Manifest row range [first, first + count). */
  first: number;
  count: number;
}

/** What a committed segment output holds: kept in its commit marker, returned by the child workflow. */
export type SegmentSummary = Omit<DatasetSegmentResult, 'dataset' | 'ran'>;

export interface SegmentPlan {
  segKey: string;
  prefix: string;
  ffmpegVersion: string;
  utterances: number;
  shards: ShardSpec[];
  /** Set when the output is already committed: nothing needs to run. */
  committed: SegmentSummary | null;
}

export interface SegmentPlanInput {
  store: StoreSpecResolved;
  dataset: DatasetName;
  manifestKey: string;
  params: SegmentParams;
}

/** The parameters that decide the stored bytes for this dataset (the others only decide how the work is split). */
export function outputParams(dataset: DatasetName, p: SegmentParams): Record<string, unknown> {
  return {
    frames: p.frames,
    fps: p.fps ?? null,
    aspect: p.aspect,
    frameSize: SEGMENT_FRAME_SIZE,
    sampleRate: SEGMENT_SAMPLE_RATE,
    ...(dataset === 'iemocap'
      ? { iemocapCrop: p.iemocapCrop }
      : { overlong: p.overlong, overlongFactor: p.overlongFactor }),
    // Only when it differs from the default: the keys of outputs cut before it existed stay valid.
    ...(maxUtteranceSec(p) !== DEFAULT_MAX_UTTERANCE_SEC
      ? { maxUtteranceSec: maxUtteranceSec(p), overlong: p.overlong }
      : {}),
  };
}

/**
 * Hash of exactly what the cutters read from the manifest. Labels are left out on purpose: switching
 * IEMOCAP from 6class to 4class makes a new manifest but the same cuts, which are then reused.
 */
export function mediaDigest(rows: readonly ManifestRow[]): string {
  const fields = rows.map((r) => [
    r.utteranceId,
    r.startSec,
    r.endSec,
    r.audioKey,
    r.videoKey,
    r.dialogAudioKey,
    r.videoHalf,
    r.flags.includes('video_empty'),
  ]);
  return sha256Hex(stableStringify(fields));
}

export async function readManifestRows(
  store: ObjectStore,
  manifestKey: string,
  range?: { offset: number; limit: number },
): Promise<ManifestRow[]> {
  return arrowTableToRows(parquetToTable(await store.get(manifestKey), range ?? {}));
}

/**
 * At most this many shards per dataset while shards can grow (up to SEGMENT_MAX_SHARD_SIZE): every
 * later stage fans out per shard and passes shard lists between workflows, so the shard count, not the
 * corpus size, decides history length and payload size (bench/README.md, "Workflow scale").
 */
export const SEGMENT_MAX_SHARDS = 2000;
export const SEGMENT_MAX_SHARD_SIZE = 512;

/**
 * The shard size a corpus of `rows` utterances is cut with: the configured one, grown as needed to stay
 * within SEGMENT_MAX_SHARDS (never beyond SEGMENT_MAX_SHARD_SIZE). Below 256,000 utterances at the default
 * 128 it is the configured size; a million utterances are cut in 2,000 shards of 500.
 */
export function effectiveShardSize(rows: number, shardSize: number): number {
  const needed = Math.ceil(rows / SEGMENT_MAX_SHARDS);
  return Math.max(shardSize, Math.min(SEGMENT_MAX_SHARD_SIZE, needed));
}

export function planShards(rows: number, shardSize: number): ShardSpec[] {
  if (!Number.isInteger(shardSize) || shardSize < 1)
    throw new RangeError(`shard size must be a positive integer, got ${shardSize}`);
  return Array.from({ length: Math.ceil(rows / shardSize) }, (_, index) => ({
    index,
    first: index * shardSize,
    count: Math.min(shardSize, rows - index * shardSize),
  }));
}

export async function planSegmentStep(input: SegmentPlanInput, signal?: AbortSignal): Promise<SegmentPlan> {
  const store = createStore(input.store);
  const rows = await readManifestRows(store, input.manifestKey);
  const version = await ffmpegVersion({ signal });
  const segKey = contentKey({
    stage: 'segment',
    dataset: input.dataset,
    media: mediaDigest(rows),
    params: outputParams(input.dataset, input.params),
    // IEMOCAP's cuts depend on the overlong policy only where a turn is longer than the maximum.
    ...(input.dataset === 'iemocap' && rows.some((r) => r.endSec - r.startSec > maxUtteranceSec(input.params))
      ? { overlong: input.params.overlong }
      : {}),
    ffmpeg: version,
    code: SEGMENT_CODE_VERSION,
  });
  const prefix = segmentPrefix(segKey);
  const marker = await store.committed(prefix);
  return {
    segKey,
    prefix,
    ffmpegVersion: version,
    utterances: rows.length,
    shards: marker ? [] : planShards(rows.length, effectiveShardSize(rows.length, input.params.shardSize)),
    committed: marker ? (marker.summary as unknown as SegmentSummary) : null,
  };
}
