/**
 * Runs the segment stage's real steps (plan, then every shard; no Temporal) over a hand-written
 * manifest in a local store, and small media made with real ffmpeg: what the hostile-input tests
 * need to put any file under any clip's name.
 */
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { localStepContext } from '../../activities/common/context.ts';
import { ffmpegPath } from '../../activities/common/ffmpeg.ts';
import { tableToParquet } from '../../activities/common/parquet.ts';
import { runTool } from '../../activities/common/run-tool.ts';
import { planSegmentStep, type SegmentPlan } from '../../activities/segment/plan.ts';
import { segmentShardStep } from '../../activities/segment/shard.ts';
import { createStore } from '../../activities/store/index.ts';
import { SegmentParamsSchema, type SegmentParams } from '../../schemas/config.ts';
import { rowsToArrowTable, type ManifestRow } from '../../schemas/manifest.ts';
import type { SegmentRow } from '../../schemas/segment.ts';
import { manifestRow } from '../extract/segment-fixture.ts';

export const params = (p: Partial<SegmentParams> = {}): SegmentParams => ({ ...SegmentParamsSchema.parse({}), ...p });

/** A MELD row whose clip is `videoKey`, with CSV times [startSec, endSec]. */
export function meldRow(id: string, videoKey: string, startSec = 0, endSec = 1): ManifestRow {
  return {
    ...manifestRow({ id, dialogue: 'd', index: 0, text: 'x', audio: null, frames: null }, 0),
    videoKey,
    startSec,
    endSec,
  };
}

/** An IEMOCAP turn [startSec, endSec] of a dialog video and wav, with an optional sentence wav. */
export function iemocapRow(
  id: string,
  keys: { video: string | null; dialogWav: string | null; sentenceWav?: string | null },
  startSec: number,
  endSec: number,
): ManifestRow {
  return {
    ...meldRow(id, keys.video ?? '', startSec, endSec),
    dataset: 'iemocap',
    split: 'Session1',
    session: 1,
    gender: 'F',
    interaction: 'improvised',
    dialogueId: 'Ses01F_impro01',
    labelSet: '6class',
    season: null,
    episode: null,
    srNo: null,
    videoKey: keys.video,
    dialogAudioKey: keys.dialogWav,
    audioKey: keys.sentenceWav ?? null,
    videoHalf: 'left',
  };
}

/** Runs ffmpeg with an argument array (test media; nothing hostile goes through here). */
export async function ffmpeg(args: string[]): Promise<void> {
  await runTool(await ffmpegPath(), ['-nostdin', '-hide_banner', '-loglevel', 'error', '-y', ...args], {
    timeoutMs: 60_000,
  });
}

export interface StageRun {
  plan: SegmentPlan;
  rows: Map<string, SegmentRow>;
  ffmpegRuns: number;
}

/** Writes `rows` as the manifest `manifestKey`, runs plan and shards, and returns every stored row. */
export async function segmentRows(
  storeRoot: string,
  dataset: 'iemocap' | 'meld',
  manifestKey: string,
  rows: readonly ManifestRow[],
  p: SegmentParams,
): Promise<StageRun> {
  const spec = { kind: 'local' as const, root: storeRoot };
  const store = createStore(spec);
  await store.put(manifestKey, tableToParquet(rowsToArrowTable([...rows])));
  const plan = await planSegmentStep({ store: spec, dataset, manifestKey, params: p });
  let ffmpegRuns = 0;
  for (const shard of plan.shards) {
    const stats = await segmentShardStep(
      { store: spec, dataset, manifestKey, prefix: plan.prefix, ffmpegVersion: plan.ffmpegVersion, params: p, shard },
      localStepContext(),
    );
    ffmpegRuns += stats.ffmpegRuns;
  }
  const out = new Map<string, SegmentRow>();
  for (const r of rows) {
    const bytes = await store.get(`${plan.prefix}/rows/${r.utteranceId}.json`);
    out.set(r.utteranceId, JSON.parse(bytes.toString('utf8')) as SegmentRow);
  }
  return { plan, rows: out, ffmpegRuns };
}

/** Every file under `dir`, recursively. */
export async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const nested = await Promise.all(
    entries.map((e) => (e.isDirectory() ? filesUnder(join(dir, e.name)) : Promise.resolve([join(dir, e.name)]))),
  );
  return nested.flat();
}

/** The files under `dir` that contain any of `needles`, with the needle's index. */
export async function filesContaining(dir: string, needles: readonly Buffer[]): Promise<string[]> {
  const hits: string[] = [];
  for (const f of await filesUnder(dir)) {
    const bytes = await readFile(f);
    needles.forEach((n, i) => {
      if (bytes.includes(n)) hits.push(`${f} (needle ${i})`);
    });
  }
  return hits;
}
