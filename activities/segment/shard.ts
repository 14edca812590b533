import type { DatasetName, SegmentParams, StoreSpecResolved } from '../../schemas/config.ts';
import { segmentKeys } from '../../schemas/layout.ts';
import { SegmentRowSchema, type SegmentRow } from '../../schemas/segment.ts';
import type { SegmentShardStats } from '../../schemas/segment-report.ts';
import { segmentRowsToTable } from '../../schemas/segment-table.ts';
import { mapLimit } from '../common/concurrency.ts';
import type { StepContext } from '../common/context.ts';
import { ErrorTypes, MerError } from '../common/errors.ts';
import { ffmpegVersion } from '../common/ffmpeg.ts';
import { tableToParquet } from '../common/parquet.ts';
import { createStore } from '../store/index.ts';
import { StoreNotFoundError, type ObjectStore } from '../store/types.ts';
import { cutIemocap } from './iemocap.ts';
import { MediaFiles } from './media-files.ts';
import { cutMeld } from './meld.ts';
import { readManifestRows, type ShardSpec } from './plan.ts';
import { ShardWriter } from './shard-writer.ts';
import { SegmentTools } from './tools.ts';

export interface SegmentShardInput {
  store: StoreSpecResolved;
  dataset: DatasetName;
  manifestKey: string;
  prefix: string;
  ffmpegVersion: string;
  params: SegmentParams;
  shard: ShardSpec;
}

/** Parquet file metadata key holding the shard's SegmentShardStats (read back by the report). */
export const SHARD_STATS_METADATA = 'mer.shardStats';

/** Heartbeats while one long ffmpeg pass (a whole dialog) runs; the SDK throttles what reaches the server. */
const KEEPALIVE_MS = 1_000;

/**
 * One shard: a contiguous range of manifest rows. Utterances whose row object is already stored (an
 * earlier attempt, or an earlier run with the same key) are taken as they are; the rest are cut and
 * stored one by one; then the shard's Parquet index is written. The heartbeat cursor of a previous
 * attempt is where it got to, but the store decides what is done: heartbeats are throttled, and a
 * killed worker's last utterances may be stored without ever having been reported.
 */
export async function segmentShardStep(input: SegmentShardInput, ctx: StepContext): Promise<SegmentShardStats> {
  const started = performance.now();
  const store = createStore(input.store);
  const keys = segmentKeys(input.prefix);
  const version = await ffmpegVersion({ signal: ctx.signal });
  if (version !== input.ffmpegVersion) {
    throw new MerError(
      ErrorTypes.ToolMismatch,
      `this worker's ffmpeg is ${version} but the segment output ${input.prefix} is keyed to ffmpeg ${input.ffmpegVersion}: ` +
        'run one ffmpeg build across the cpu workers (FFMPEG_PATH), then rerun',
      { workerVersion: version, planVersion: input.ffmpegVersion },
    );
  }
  const { index, first, count } = input.shard;
  const rows = await readManifestRows(store, input.manifestKey, { offset: first, limit: count });
  if (rows.length !== count)
    throw new Error(
      `manifest ${input.manifestKey} has ${first + rows.length} rows, shard ${index} needs ${first + count}`,
    );
  const resumedFrom = Number(ctx.resumeDetails<{ cursor?: number }>()?.cursor ?? 0);

  const reused = new Map<string, SegmentRow>();
  await mapLimit(rows, 16, async (r) => {
    const row = await loadRow(store, keys.row(r.utteranceId));
    if (row && row.utteranceId === r.utteranceId) reused.set(r.utteranceId, row);
  });
  const todo = rows.filter((r) => !reused.has(r.utteranceId));
  const writer = new ShardWriter(
    store,
    keys,
    index,
    rows.map((r) => r.utteranceId),
    reused,
    ctx,
  );
  writer.heartbeat();
  const keepAlive = setInterval(() => writer.heartbeat(), KEEPALIVE_MS);
  const files = new MediaFiles(store);
  const tools = await SegmentTools.create(version, ctx.signal);
  try {
    if (todo.length) {
      const cut = input.dataset === 'iemocap' ? cutIemocap : cutMeld;
      await cut(todo, { tools, files, params: input.params }, writer.emit);
    }
    await writer.flush();
  } finally {
    clearInterval(keepAlive);
    await files.close();
  }

  const all = rows.map((r) => writer.row(r.utteranceId));
  const ok = all.filter((r) => r.status === 'ok').length;
  const stats: SegmentShardStats = {
    index,
    key: keys.shard(index),
    rows: all.length,
    ok,
    quarantined: all.length - ok,
    produced: writer.produced,
    reused: writer.reused,
    ffmpegRuns: tools.runs,
    ms: Math.round(performance.now() - started),
    resumedFrom,
  };
  await store.put(
    stats.key,
    tableToParquet(segmentRowsToTable(all), { metadata: { [SHARD_STATS_METADATA]: JSON.stringify(stats) } }),
  );
  return stats;
}

/** A stored row object, or null when absent or unreadable (then the utterance is simply redone). */
async function loadRow(store: ObjectStore, key: string): Promise<SegmentRow | null> {
  let bytes: Buffer;
  try {
    bytes = await store.get(key);
  } catch (err) {
    if (err instanceof StoreNotFoundError) return null;
    throw err;
  }
  try {
    return SegmentRowSchema.parse(JSON.parse(bytes.toString('utf8')));
  } catch {
    return null;
  }
}
