import { z } from 'zod';

/**
 * `segments/<segKey>/report.json`: what the segment stage made of one dataset. Written once, when every
 * shard is stored, right before the stage's commit marker.
 */

const count = z.int().nonnegative();

/** Per-shard numbers of the attempt that completed it (a retried shard reports only its last attempt's work). */
export const SegmentShardStatsSchema = z.object({
  index: count,
  key: z.string(),
  rows: count,
  ok: count,
  quarantined: count,
  /** Utterances whose media this attempt produced, and those it found already stored by an earlier one. */
  produced: count,
  reused: count,
  ffmpegRuns: count,
  ms: z.number().nonnegative(),
  /** Heartbeat cursor the attempt started from (0 for a first attempt). */
  resumedFrom: count,
});
export type SegmentShardStats = z.infer<typeof SegmentShardStatsSchema>;

export const SegmentReportSchema = z.object({
  dataset: z.enum(['iemocap', 'meld']),
  segKey: z.string(),
  manifestKey: z.string(),
  ffmpegVersion: z.string(),
  codeVersion: z.int(),
  /** The parameters that determined the media (part of segKey). */
  params: z.record(z.string(), z.unknown()),
  createdAt: z.string(),
  utterances: count,
  ok: count,
  quarantined: count,
  /** Rows carrying each flag, over all rows. */
  flags: z.record(z.string(), count),
  /** Quarantined rows per reason code (the part of the reason before ':'). */
  reasons: z.record(z.string(), count),
  quarantinedItems: z.array(z.object({ utteranceId: z.string(), reason: z.string() })),
  audioSeconds: z.number().nonnegative(),
  frames: count,
  shards: z.array(SegmentShardStatsSchema),
  timings: z.object({
    /** From the start of the segment workflow to the report, including queueing and retries. */
    wallMs: z.number().nonnegative(),
    shardMsTotal: z.number().nonnegative(),
    shardMsMax: z.number().nonnegative(),
    utterancesPerSecond: z.number().nonnegative(),
  }),
});
export type SegmentReport = z.infer<typeof SegmentReportSchema>;

/** The reason code of a quarantine reason (`corrupt: moov atom not found` -> `corrupt`). */
export function reasonCode(reason: string): string {
  const i = reason.indexOf(':');
  return (i < 0 ? reason : reason.slice(0, i)).trim();
}
