/** Feature shards in the extract stage's format (schemas/features.ts), generated for tests. */
import { featureArrowSchema, featureRowsToBatch, featureTable, type FeatureRow } from '../../schemas/features.ts';
import type { Modality } from '../../schemas/extract.ts';
import { encodeFloat16 } from '../../activities/common/float16.ts';
import { tableToParquet } from '../../activities/common/parquet.ts';
import { Rng } from '../../activities/model/rng.ts';

export interface GeneratedUtterance {
  id: string;
  quarantined?: boolean;
  /** Sequence steps (frames for visual and audio, tokens for text). */
  steps: number;
}

export interface GeneratedShard {
  bytes: Uint8Array;
  /** Per ok utterance: the pooled vector and the float32 sequence before float16 rounding. */
  pooled: Map<string, Float32Array>;
  sequences: Map<string, Float32Array>;
}

export function featureShard(
  modality: Modality,
  dim: number,
  tokensPerStep: number,
  utterances: readonly GeneratedUtterance[],
  seed: number,
  rowGroupSize = 4,
  /** Lets a test break a row the way a faulty writer would. */
  mutate?: (rows: FeatureRow[]) => void,
): GeneratedShard {
  const rng = new Rng(seed, 77);
  const pooled = new Map<string, Float32Array>();
  const sequences = new Map<string, Float32Array>();
  const rows: FeatureRow[] = utterances.map((u) => {
    if (u.quarantined) {
      return {
        utteranceId: u.id,
        status: 'quarantined',
        reason: 'no_video',
        pooled: null,
        sequence: null,
        dtype: 'float16',
        seqSteps: null,
        seqTokens: null,
        seqDim: null,
        utteranceTokenStart: null,
        flags: [],
      };
    }
    // A per-utterance base direction plus noise: tokens are correlated, as encoder outputs are.
    const base = Float32Array.from({ length: dim }, () => rng.normal());
    const seq = Float32Array.from(
      { length: u.steps * tokensPerStep * dim },
      (_, i) => base[i % dim] + 0.7 * rng.normal(),
    );
    const p = Float32Array.from({ length: dim }, () => rng.normal());
    pooled.set(u.id, p);
    sequences.set(u.id, seq);
    return {
      utteranceId: u.id,
      status: 'ok',
      reason: null,
      pooled: p,
      sequence: encodeFloat16(seq),
      dtype: 'float16',
      seqSteps: u.steps,
      seqTokens: tokensPerStep,
      seqDim: dim,
      utteranceTokenStart: null,
      flags: [],
    };
  });
  mutate?.(rows);
  const schema = featureArrowSchema({ modality, dim, modelSha256: 'test', featuresKey: `test-${modality}` });
  const table = featureTable(schema, [featureRowsToBatch(rows, schema)]);
  return { bytes: tableToParquet(table, { rowGroupSize }), pooled, sequences };
}
