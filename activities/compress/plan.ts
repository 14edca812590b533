import { VscParamsSchema, type VscParams, type VscParamsInput } from '../../schemas/compress.ts';
import { featureShardName, vscPrefix, vscShardCommitPrefix, vscShardKey } from '../../schemas/layout.ts';
import type { StoreSpec } from '../../schemas/store.ts';
import { createStore } from '../store/index.ts';
import { vscKey } from './key.ts';

export interface PlanCompressInput {
  store: StoreSpec;
  params: VscParams | VscParamsInput;
  /** The extract stage's visual features: prefix (a content address) and shard keys in order. */
  visual: { prefix: string; shardKeys: string[] };
  /** Text and audio features (read by `fixed` guidance only). */
  text: { prefix: string; shardKeys: string[] };
  audio: { prefix: string; shardKeys: string[] };
}

export interface CompressShardTask {
  shard: string;
  visual: string;
  text?: string;
  audio?: string;
}

export interface PlanCompressResult {
  vscKey: string;
  prefix: string;
  /** Every shard name, in order; the output of shard s is `visual-vsc/<vscKey>/<s>.parquet`. */
  shards: string[];
  shardKeys: string[];
  /** Shards not committed yet. */
  pending: CompressShardTask[];
  committed: boolean;
}

/** `features/visual/<key>/shards/<name>/features.parquet` -> `<name>`; any other key is an error. */
function shardName(key: string): string {
  const name = featureShardName(key);
  if (name === undefined)
    throw new Error(`compress: ${key} is not a features shard key (…/shards/<name>/features.parquet)`);
  return name;
}

/**
 * Names the compress output (its content address from the parameters and the features it reads)
 * and lists the shards still to compress. A committed output plans nothing.
 */
export async function planCompressStep(input: PlanCompressInput): Promise<PlanCompressResult> {
  const params = VscParamsSchema.parse(input.params);
  const guided = params.enabled && params.guidance === 'fixed';
  const key = vscKey(params, {
    visual: input.visual.prefix,
    ...(guided ? { text: input.text.prefix, audio: input.audio.prefix } : {}),
  });
  const store = createStore(input.store);
  const shards = input.visual.shardKeys.map(shardName);
  const base = { vscKey: key, prefix: vscPrefix(key), shards, shardKeys: shards.map((s) => vscShardKey(key, s)) };
  if (await store.committed(vscPrefix(key))) return { ...base, pending: [], committed: true };
  const byName = (keys: string[]) => new Map(keys.map((k) => [shardName(k), k]));
  const text = byName(input.text.shardKeys);
  const audio = byName(input.audio.shardKeys);
  const pending: CompressShardTask[] = [];
  for (const [i, shard] of shards.entries()) {
    if (await store.committed(vscShardCommitPrefix(key, shard))) continue;
    const task: CompressShardTask = { shard, visual: input.visual.shardKeys[i] };
    if (guided) {
      const t = text.get(shard);
      const a = audio.get(shard);
      if (!t || !a) throw new Error(`compress: fixed guidance needs the text and audio features of shard ${shard}`);
      Object.assign(task, { text: t, audio: a });
    }
    pending.push(task);
  }
  return { ...base, pending, committed: false };
}
