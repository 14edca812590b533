/** Store keys of the segment stage's output (layout documented in schemas/segment.ts). */
export function segmentKeys(prefix: string) {
  return {
    prefix,
    audio: (utteranceId: string) => `${prefix}/audio/${utteranceId}.wav`,
    frames: (utteranceId: string) => `${prefix}/frames/${utteranceId}.rgb.deflate`,
    row: (utteranceId: string) => `${prefix}/rows/${utteranceId}.json`,
    shardsDir: `${prefix}/shards/`,
    shard: (index: number) => `${prefix}/shards/${String(index).padStart(5, '0')}.parquet`,
    report: `${prefix}/report.json`,
  };
}
export type SegmentKeys = ReturnType<typeof segmentKeys>;

export const segmentPrefix = (segKey: string): string => `segments/${segKey}`;
