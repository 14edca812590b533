/**
 * The visual store size stated before the extract stage runs: visual sequences grow with the family
 * (a /16 ViT caches 196 patch tokens per frame where Swin caches 49; at 15 frames, width 768 and
 * float16 that is about 4.5 MB per utterance, some 60 GB for MELD), so the plan says what the
 * configured family and `poolGrid` will write, from the segment report's frame count, before any
 * inference. Sizes are the stored sequence (frames x tokens x dim x 2 bytes, float16) plus the
 * float32 pooled vector; Parquet framing is not counted.
 */
import { segmentKeys } from '../../schemas/layout.ts';
import type { ObjectStore } from '../store/types.ts';
import { readSegmentShard } from './shard-input.ts';
import type { VisualLayout } from './visual-layout.ts';

export interface StoreProjection {
  /** e.g. 'ViT'. */
  family: string;
  tokensPerFrame: number;
  /** '14x14' or '14x14 pooled to 7x7'. */
  grid: string;
  dim: number;
  utterances: number;
  frames: number;
  framesPerUtterance: number;
  bytesPerUtterance: number;
  projectedBytes: number;
}

const FLOAT16 = 2;
const FLOAT32 = 4;

export function storeProjection(layout: VisualLayout, utterances: number, frames: number): StoreProjection {
  const { tokens, dim, gridH, gridW, pooledGrid } = layout;
  const projectedBytes = frames * tokens * dim * FLOAT16 + utterances * dim * FLOAT32;
  const framesPerUtterance = utterances > 0 ? frames / utterances : 0;
  return {
    family: layout.family,
    tokensPerFrame: tokens,
    grid: `${gridH}x${gridW}${pooledGrid === null ? '' : ` pooled to ${pooledGrid}x${pooledGrid}`}`,
    dim,
    utterances,
    frames,
    framesPerUtterance: Math.round(framesPerUtterance * 100) / 100,
    bytesPerUtterance: utterances > 0 ? Math.round(projectedBytes / utterances) : 0,
    projectedBytes,
  };
}

/**
 * The segment output's utterance and frame counts: its report.json, or (an output written without a
 * report, as test fixtures are) the sum over its shard indices.
 */
export async function segmentCounts(
  store: ObjectStore,
  segmentPrefix: string,
  shardKeys: readonly string[],
): Promise<{ utterances: number; frames: number }> {
  const key = segmentKeys(segmentPrefix).report;
  if (await store.exists(key)) {
    const r = JSON.parse((await store.get(key)).toString('utf8')) as { utterances?: unknown; frames?: unknown };
    if (typeof r.utterances === 'number' && typeof r.frames === 'number')
      return { utterances: r.utterances, frames: r.frames };
  }
  let utterances = 0;
  let frames = 0;
  for (const k of shardKeys) {
    for (const row of await readSegmentShard(store, k)) {
      utterances++;
      frames += row.frameCount ?? 0;
    }
  }
  return { utterances, frames };
}

const units = ['B', 'kB', 'MB', 'GB', 'TB'];
export function formatBytes(b: number): string {
  let i = 0;
  while (b >= 1000 && i < units.length - 1) {
    b /= 1000;
    i++;
  }
  return `${b >= 100 || i === 0 ? b.toFixed(0) : b.toFixed(1)} ${units[i]}`;
}

/** One line for the stage's progress note. */
export function projectionNote(p: StoreProjection): string {
  return (
    `${p.family} ${p.tokensPerFrame} tokens/frame (${p.grid}) x ${p.dim}, ${p.framesPerUtterance} frames/utterance: ` +
    `${formatBytes(p.bytesPerUtterance)} per utterance, ${formatBytes(p.projectedBytes)} for ${p.utterances} utterances`
  );
}
