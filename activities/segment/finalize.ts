import type { DatasetName, SegmentParams, StoreSpecResolved } from '../../schemas/config.ts';
import { segmentKeys } from '../../schemas/layout.ts';
import type { SegmentRow } from '../../schemas/segment.ts';
import {
  SegmentShardStatsSchema,
  reasonCode,
  type SegmentReport,
  type SegmentShardStats,
} from '../../schemas/segment-report.ts';
import { tableToSegmentRows } from '../../schemas/segment-table.ts';
import { mapLimit } from '../common/concurrency.ts';
import { parquetToTable } from '../common/parquet.ts';
import { createStore } from '../store/index.ts';
import { SEGMENT_CODE_VERSION, outputParams, type SegmentSummary } from './plan.ts';
import { SHARD_STATS_METADATA } from './shard.ts';
import { SEGMENT_SAMPLE_RATE } from '../common/wav.ts';

export interface FinalizeSegmentInput {
  store: StoreSpecResolved;
  dataset: DatasetName;
  manifestKey: string;
  segKey: string;
  prefix: string;
  ffmpegVersion: string;
  params: SegmentParams;
  shardCount: number;
  /** When the segment workflow started (its deterministic clock), for the wall time. */
  startedAt: string;
}

/**
 * The stage's last step: read every shard index back from the store (the store, not the workflow's
 * memory, is the record of what was produced), write report.json, drop shard files a run with another
 * shard size may have left, and commit. Idempotent: a committed output is returned as it is.
 */
export async function finalizeSegmentStep(input: FinalizeSegmentInput): Promise<SegmentSummary> {
  const store = createStore(input.store);
  const keys = segmentKeys(input.prefix);
  const existing = await store.committed(input.prefix);
  if (existing) return existing.summary as unknown as SegmentSummary;

  const shards = await mapLimit(
    Array.from({ length: input.shardCount }, (_, i) => keys.shard(i)),
    8,
    async (key) => {
      const table = parquetToTable(await store.get(key));
      const stats = SegmentShardStatsSchema.parse(
        JSON.parse(table.schema.metadata.get(SHARD_STATS_METADATA) ?? 'null'),
      );
      return { key, stats, rows: tableToSegmentRows(table) };
    },
  );
  const rows: SegmentRow[] = shards.flatMap((s) => s.rows);
  const report = buildReport(
    input,
    rows,
    shards.map((s) => s.stats),
  );

  const expected = new Set(shards.map((s) => s.key));
  for (const o of await store.list(keys.shardsDir)) if (!expected.has(o.key)) await store.delete(o.key);
  await store.put(keys.report, JSON.stringify(report, null, 2), { contentType: 'application/json' });
  const summary: SegmentSummary = {
    segKey: input.segKey,
    prefix: input.prefix,
    reportKey: keys.report,
    shardKeys: shards.map((s) => s.key),
    utterances: report.utterances,
    ok: report.ok,
    quarantined: report.quarantined,
    audioSeconds: report.audioSeconds,
    frames: report.frames,
  };
  await store.commit(input.prefix, { stage: 'segment', summary: { ...summary } });
  return summary;
}

export function buildReport(
  input: FinalizeSegmentInput,
  rows: readonly SegmentRow[],
  shards: readonly SegmentShardStats[],
): SegmentReport {
  const flags: Record<string, number> = {};
  const reasons: Record<string, number> = {};
  let samples = 0;
  let frames = 0;
  for (const r of rows) {
    for (const f of r.flags) flags[f] = (flags[f] ?? 0) + 1;
    if (r.status === 'quarantined') {
      const code = reasonCode(r.reason ?? 'unknown');
      reasons[code] = (reasons[code] ?? 0) + 1;
    }
    samples += r.samples ?? 0;
    frames += r.frameCount ?? 0;
  }
  const quarantinedItems = rows
    .filter((r) => r.status === 'quarantined')
    .map((r) => ({ utteranceId: r.utteranceId, reason: r.reason ?? 'unknown' }));
  const wallMs = Math.max(0, Date.now() - Date.parse(input.startedAt));
  return {
    dataset: input.dataset,
    segKey: input.segKey,
    manifestKey: input.manifestKey,
    ffmpegVersion: input.ffmpegVersion,
    codeVersion: SEGMENT_CODE_VERSION,
    params: outputParams(input.dataset, input.params),
    createdAt: new Date().toISOString(),
    utterances: rows.length,
    ok: rows.length - quarantinedItems.length,
    quarantined: quarantinedItems.length,
    flags,
    reasons,
    quarantinedItems,
    audioSeconds: Math.round((samples / SEGMENT_SAMPLE_RATE) * 1000) / 1000,
    frames,
    shards: [...shards],
    timings: {
      wallMs,
      shardMsTotal: shards.reduce((a, s) => a + s.ms, 0),
      shardMsMax: shards.reduce((a, s) => Math.max(a, s.ms), 0),
      utterancesPerSecond: wallMs > 0 ? Math.round((rows.length / wallMs) * 1000 * 100) / 100 : 0,
    },
  };
}
