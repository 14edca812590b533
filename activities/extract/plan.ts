/**
 * The extract stage's steps: plan (model fingerprint -> content-addressed features prefix, which
 * shards are already committed), one shard (batches with stored progress, shard.ts), and finalise
 * (report + stage commit, finalize.ts). Layout under `features/<modality>/<featuresKey>/`
 * (builders in schemas/layout.ts):
 *   shards/<shard>/features.parquet + _COMMIT    one per segment shard
 *   shards/<shard>/parts/<batch>.parquet         progress of an unfinished shard, deleted on commit
 *   report.json + _COMMIT                        after every shard is committed
 */
import type { ExtractParams, Modality } from '../../schemas/extract.ts';
import { featureShardPrefix, featuresPrefix } from '../../schemas/layout.ts';
import type { StoreSpec } from '../../schemas/store.ts';
import { ErrorTypes, MerError } from '../common/errors.ts';
import { contentKey } from '../common/hash.ts';
import { createStore } from '../store/index.ts';
import { readModelFolder, configInt, type ModelFolder } from './model-folder.ts';
import { projectionNote, segmentCounts, storeProjection, type StoreProjection } from './projection.ts';
import { visualLayout } from './visual-layout.ts';

/** Bumped whenever the same models and inputs would give different features: old ones are then not reused. */
export const EXTRACT_CODE_VERSION = 1;

export interface ExtractPlanInput {
  store: StoreSpec;
  modality: Modality;
  /** `segments/<segKey>` of a committed segment stage output. */
  segmentPrefix: string;
  /** Shard index keys of that output (DatasetSegmentResult.shardKeys). */
  shardKeys: string[];
  /** The acquire manifest the segments were cut from; text reads utterance texts and dialogues from it. */
  manifestKey: string;
  params: ExtractParams;
}

export interface ExtractPlan {
  modality: Modality;
  featuresKey: string;
  featuresPrefix: string;
  modelSha256: string;
  dim: number;
  /** The whole modality is committed: nothing to run. */
  committed: boolean;
  /** Shard index keys whose features are not committed yet. */
  pendingShardKeys: string[];
  /** Visual: bytes per utterance and the projected store size, stated before the stage runs. */
  projection?: StoreProjection;
  /** A line for the stage's progress (the projection in words). */
  note?: string;
}

/** Parameters that change the features (batch sizes do not: padding is masked, audio batches are equal-length). */
function featureParams(params: ExtractParams, modality: Modality): Record<string, unknown> {
  switch (modality) {
    case 'text':
      return {
        contextUtterances: params.text.contextUtterances,
        maxTokens: params.text.maxTokens,
        // only when not the default, so features of earlier configs keep their key
        ...(params.text.pooling !== 'mean' ? { pooling: params.text.pooling } : {}),
      };
    case 'audio':
      return { maxSeconds: params.audio.maxSeconds };
    case 'visual':
      // only when set: the key of a config without them stays what it was
      return {
        ...(params.visual.pooling === 'cls' ? { pooling: 'cls' } : {}),
        ...(params.visual.poolGrid !== undefined ? { poolGrid: params.visual.poolGrid } : {}),
      };
  }
}

export function modelFolder(params: ExtractParams, modality: Modality): Promise<ModelFolder> {
  return readModelFolder(modality, params[modality].model, params[modality].file);
}

export async function planExtractStep(input: ExtractPlanInput): Promise<ExtractPlan> {
  const store = createStore(input.store);
  if (!(await store.committed(input.segmentPrefix))) {
    throw new MerError(
      ErrorTypes.SegmentsInvalid,
      `segment output ${input.segmentPrefix} is not committed; run the segment stage first`,
      { prefix: input.segmentPrefix },
    );
  }
  const folder = await modelFolder(input.params, input.modality);
  // refuses 'cls' pooling without a CLS token or a poolGrid finer than the family's grid, before any shard runs
  const layout = input.modality === 'visual' ? visualLayout(folder, input.params.visual) : null;
  const featuresKey = contentKey({
    stage: 'extract',
    code: EXTRACT_CODE_VERSION,
    modality: input.modality,
    segments: input.segmentPrefix,
    manifest: input.modality === 'text' ? input.manifestKey : null,
    model: folder.sha256,
    params: featureParams(input.params, input.modality),
    dtype: 'float16',
  });
  const prefix = featuresPrefix(input.modality, featuresKey);
  const base = {
    modality: input.modality,
    featuresKey,
    featuresPrefix: prefix,
    modelSha256: folder.sha256,
    // Whisper's config names its width d_model (whisper-encoder.ts reads the same)
    dim: configInt(folder, folder.config.model_type === 'whisper' ? 'd_model' : 'hidden_size'),
  };
  if (layout) {
    const { utterances, frames } = await segmentCounts(store, input.segmentPrefix, input.shardKeys);
    const projection = storeProjection(layout, utterances, frames);
    Object.assign(base, { projection, note: projectionNote(projection) });
  }
  if (await store.committed(prefix)) return { ...base, committed: true, pendingShardKeys: [] };
  const done = await Promise.all(input.shardKeys.map((k) => store.committed(featureShardPrefix(prefix, k))));
  return { ...base, committed: false, pendingShardKeys: input.shardKeys.filter((_, i) => !done[i]) };
}
