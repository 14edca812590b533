/**
 * A tiny stored fold for calling trainFoldStep directly (no Temporal): text and audio feature shards in
 * the extract stage's format and a hand-written split plan, on a LocalStore in a temporary folder.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FeatureRow } from '../../schemas/features.ts';
import { manifestFiles, manifestPrefix, splitPlanKey } from '../../schemas/layout.ts';
import { rowsToArrowTable, type ManifestRow } from '../../schemas/manifest.ts';
import { tableToParquet } from '../../activities/common/parquet.ts';
import { SplitPlanSchema, type Partition, type SplitPlan } from '../../schemas/train.ts';
import type { StepContext } from '../../activities/common/context.ts';
import { LocalStore } from '../../activities/store/index.ts';
import type { TrainFoldInput } from '../../activities/train/fold.ts';
import { featureShard } from '../compress/feature-shards.ts';
import { manifestRowBase } from './manifests.ts';

export const DT = 6;
export const DA = 5;
export const CLASSES = ['neu', 'hap', 'sad'];

export interface FoldStore {
  root: string;
  store: LocalStore;
  splitsKey: string;
  /** Store key of a MELD manifest of the utterances (four per dialogue), which the evaluate stage reads for clusters and slices. */
  manifestKey: string;
  /** trainFoldStep input for the T+A variant with `params`. */
  input(params: TrainFoldInput['params']): TrainFoldInput;
}

/**
 * `n` utterances in one shard per modality (every third to validation, every fourth to test, the rest
 * train), labels cycling through CLASSES. `constantAudio`: every audio vector is the same.
 */
export async function foldStore(name: string, n = 24, opts: { constantAudio?: boolean } = {}): Promise<FoldStore> {
  const root = await mkdtemp(join(tmpdir(), `mer-${name}-`));
  const store = new LocalStore(root);
  const ids = Array.from({ length: n }, (_, i) => `u${String(i).padStart(3, '0')}`);
  const utterances = ids.map((id) => ({ id, steps: 2 }));
  const constant = (rows: FeatureRow[]) => {
    for (const r of rows) r.pooled = Float32Array.from({ length: DA }, (_, d) => 0.25 * d - 0.3);
  };
  const text = featureShard('text', DT, 1, utterances, 5);
  const audio = featureShard('audio', DA, 1, utterances, 6, 4, opts.constantAudio ? constant : undefined);
  await store.put('features/text/ft/shards/s0/features.parquet', text.bytes);
  await store.put('features/audio/fa/shards/s0/features.parquet', audio.bytes);

  const part = (keep: (i: number) => boolean): Partition => {
    const idx = ids.map((_, i) => i).filter(keep);
    return { utteranceIds: idx.map((i) => ids[i]), labels: idx.map((i) => i % CLASSES.length) };
  };
  const isVal = (i: number) => i % 3 === 1;
  const isTest = (i: number) => !isVal(i) && i % 4 === 0;
  const fold = {
    index: 0,
    name: 'official',
    test: part(isTest),
    testGroup: 'test',
    train: part((i) => !isVal(i) && !isTest(i)),
    validation: part(isVal),
    validationRule: 'every third utterance',
    optimistic: false,
  };
  const plan: SplitPlan = SplitPlanSchema.parse({
    dataset: 'meld',
    labelSet: 'sentiment3',
    classes: CLASSES,
    params: { protocol: 'official' },
    optimistic: false,
    counts: { rows: n, unlabelled: 0, excluded: 0, used: n },
    folds: [fold],
  });
  const splitsKey = `test-${name}`;
  await store.put(splitPlanKey(splitsKey), JSON.stringify(plan));
  const manifestKey = manifestFiles(manifestPrefix('meld', `test-${name}`)).manifest;
  await store.put(manifestKey, tableToParquet(rowsToArrowTable(ids.map((id, i) => manifestRow(id, i)))));
  return {
    root,
    store,
    splitsKey,
    manifestKey,
    input: (params) => ({
      store: { kind: 'local', root },
      dataset: 'meld',
      splitsKey,
      foldIndex: 0,
      variant: { name: 'T+A', modalities: ['t', 'a'], vsc: true, contrastive: true },
      params,
      features: {
        text: { prefix: 'features/text/ft', dim: DT },
        audio: { prefix: 'features/audio/fa', dim: DA },
        visual: { prefix: 'visual-vsc/none', dim: 4, frames: 2 },
      },
    }),
  };
}

function manifestRow(utteranceId: string, i: number): ManifestRow {
  const label = CLASSES[i % CLASSES.length];
  return {
    ...manifestRowBase,
    utteranceId,
    dataset: 'meld',
    split: 'test',
    session: null,
    dialogueId: String(Math.floor(i / 4)),
    speaker: ['Joey', 'Rachel', 'Ross'][i % 3],
    startSec: i,
    endSec: i + 1 + (i % 5) * 0.5,
    labelNative: label,
    labelSet: 'sentiment3',
    labelIndex: i % CLASSES.length,
    labelName: label,
    sentiment: label,
    utteranceIndex: i % 4,
  };
}

/** A StepContext that records heartbeats. */
export function recordingContext(): StepContext & { beats: Record<string, unknown>[] } {
  const beats: Record<string, unknown>[] = [];
  return { beats, heartbeat: (d) => beats.push(d), resumeDetails: () => undefined };
}
