/**
 * A synthetic MELD-sized training split written into a local store the way the pipeline leaves it
 * for the train stage: pooled text and audio vectors in extract feature shards (schemas/features.ts,
 * float16 sequences included, 64-row groups as activities/extract/shard.ts writes them) and VSC
 * visual sequences in compress shards (activities/compress/vsc-table.ts). The same utterances are
 * stored in several layouts (numbers of shards), each described by a small JSON object in the store
 * (`bench-train/<layout>.json`: shard keys and the train partition) that epoch-child.ts reads.
 *
 * Values come from one pool of Gaussian numbers read at per-utterance offsets: the bytes are
 * incompressible like real features, and generating 10k utterances takes seconds, not minutes.
 */
import { vscShardKey } from '../../schemas/layout.ts';
import { featureArrowSchema, featureRowsToBatch, featureTable, type FeatureRow } from '../../schemas/features.ts';
import type { Modality } from '../../schemas/extract.ts';
import type { Partition } from '../../schemas/train.ts';
import { encodeFloat16 } from '../../activities/common/float16.ts';
import { tableToParquet } from '../../activities/common/parquet.ts';
import { vscRowsToParquet } from '../../activities/compress/vsc-table.ts';
import { Rng } from '../../activities/model/rng.ts';
import type { FeatureSources } from '../../activities/train/dataset.ts';
import type { ObjectStore } from '../../activities/store/index.ts';

/** The real encoders' sizes: bert-base, wav2vec2-base, Swin-Tiny after VSC (15 frames). */
export const DIMS = { text: 768, audio: 768, visual: 768, frames: 15 } as const;
/** MELD's training split: 9,989 utterances in 7 emotions, in these counts. */
export const MELD_TRAIN_UTTERANCES = 9989;
const MELD_TRAIN_CLASS_COUNTS = [4710, 1743, 1205, 1109, 683, 271, 268]; // neutral joy surprise anger sadness disgust fear
export const CLASSES = MELD_TRAIN_CLASS_COUNTS.length;
/** Training batch size of the benches (the spec's). */
export const BATCH = 32;
/** Rows per row group of extract feature shards (activities/extract/shard.ts). */
const FEATURE_ROW_GROUP = 64;
/** Float16 sequence lengths stored next to the pooled vectors (text tokens, audio frames at 50 Hz): shorter
 * than real wav2vec2 outputs (~150 frames for a 3 s utterance) to keep generation fast; the loader never
 * reads them, they only make the shards realistically wider than the pooled column. */
const TEXT_TOKENS = [12, 36] as const;
const AUDIO_FRAMES = [25, 75] as const;
/** VSC lengths: utterances keep 8..15 frames, zero padding after. */
const MIN_FRAMES = 8;

export interface Layout {
  name: string;
  shards: number;
  sources: FeatureSources;
  partition: Partition;
}

export const layoutKey = (name: string): string => `bench-train/${name}.json`;

/** Class indices in MELD's proportions for n utterances, interleaved deterministically. */
function labelsFor(n: number, rng: Rng): number[] {
  const total = MELD_TRAIN_CLASS_COUNTS.reduce((a, b) => a + b, 0);
  const labels: number[] = [];
  MELD_TRAIN_CLASS_COUNTS.forEach((c, k) => {
    const m = k === MELD_TRAIN_CLASS_COUNTS.length - 1 ? n - labels.length : Math.round((c * n) / total);
    for (let i = 0; i < m; i++) labels.push(k);
  });
  const order = rng.permutation(n);
  return Array.from(order, (i) => labels[i]);
}

const bounds = (n: number, shards: number, s: number): [number, number] => [
  Math.floor((s * n) / shards),
  Math.floor(((s + 1) * n) / shards),
];

/**
 * Writes `n` utterances once per layout (`shards` per layout; every count must divide the largest,
 * so each utterance is generated once and written to every layout). Returns the layouts, also stored.
 */
export async function writeCorpus(
  store: ObjectStore,
  n: number,
  layouts: ReadonlyArray<{ name: string; shards: number }>,
  seed = 1,
): Promise<Layout[]> {
  const finest = Math.max(...layouts.map((l) => l.shards));
  for (const l of layouts)
    if (finest % l.shards !== 0) throw new Error(`corpus: ${l.shards} shards do not divide ${finest}`);
  if (n < finest) throw new Error(`corpus: ${n} utterances cannot fill ${finest} shards`);
  const rng = new Rng(seed, 11);
  const pool = Float32Array.from({ length: 1 << 20 }, () => rng.normal());
  const half = encodeFloat16(pool);
  const ids = Array.from({ length: n }, (_, i) => `bench_dia${Math.floor(i / 10)}_utt${i % 10}`);
  const partition: Partition = { utteranceIds: ids, labels: labelsFor(n, rng) };
  const slice = (width: number): Float32Array => {
    const at = Math.floor(rng.uniform() * (pool.length - width));
    return pool.subarray(at, at + width);
  };
  const blob = (steps: number, dim: number): Uint8Array => {
    const bytes = steps * dim * 2;
    const at = 2 * Math.floor(rng.uniform() * ((half.length - bytes) / 2));
    return half.subarray(at, at + bytes);
  };
  const between = ([lo, hi]: readonly [number, number]): number => lo + Math.floor(rng.uniform() * (hi - lo + 1));

  const refs = new Map(
    layouts.map((l) => [
      l.name,
      { text: [] as Array<{ key: string }>, audio: [] as Array<{ key: string }>, visual: [] as Array<{ key: string }> },
    ]),
  );
  const featureKey = (m: Modality, layout: string, s: number) =>
    `features/${m}/bench-${layout}/shards/s${String(s).padStart(4, '0')}/features.parquet`;
  const vscKey = (layout: string) => `bench-${layout}`;
  // Unit of generation: one shard of the finest layout; rows are kept until the coarsest layout's shard is written.
  // Rows generated since the start of the current coarsest shard, which starts at utterance `base`.
  let base = 0;
  const rowsOf = {
    text: [] as FeatureRow[],
    audio: [] as FeatureRow[],
    visual: { ids: [] as string[], lengths: [] as number[], seq: [] as Float32Array[] },
  };
  const flush = async (upTo: number): Promise<void> => {
    // upTo: index (exclusive) of the last finest shard generated; write every layout shard ending there.
    for (const l of layouts) {
      const per = finest / l.shards;
      if (upTo % per !== 0) continue;
      const s = upTo / per - 1;
      const [from, to] = bounds(n, l.shards, s);
      const r = refs.get(l.name)!;
      for (const m of ['text', 'audio'] as const) {
        const rows = rowsOf[m].slice(from - base, to - base);
        const schema = featureArrowSchema({
          modality: m,
          dim: DIMS[m],
          modelSha256: 'bench',
          featuresKey: `bench-${l.name}`,
        });
        const key = featureKey(m, l.name, s);
        await store.put(
          key,
          tableToParquet(featureTable(schema, [featureRowsToBatch(rows, schema)]), {
            rowGroupSize: FEATURE_ROW_GROUP,
            dictionary: false,
          }),
        );
        r[m].push({ key });
      }
      const v = rowsOf.visual;
      const count = to - from;
      const width = DIMS.frames * DIMS.visual;
      const sequences = new Float32Array(count * width);
      for (let j = 0; j < count; j++) sequences.set(v.seq[from - base + j], j * width);
      const key = vscShardKey(vscKey(l.name), `s${String(s).padStart(4, '0')}`);
      await store.put(
        key,
        vscRowsToParquet(
          {
            ids: v.ids.slice(from - base, to - base),
            lengths: Int32Array.from(v.lengths.slice(from - base, to - base)),
            sequences,
          },
          { maxFrames: DIMS.frames, dim: DIMS.visual },
          vscKey(l.name),
        ),
      );
      r.visual.push({ key });
    }
  };

  const coarsest = Math.min(...layouts.map((l) => l.shards));
  const perCoarse = finest / coarsest;
  for (let f = 0; f < finest; f++) {
    if (f % perCoarse === 0) {
      base = bounds(n, finest, f)[0];
      rowsOf.text = [];
      rowsOf.audio = [];
      rowsOf.visual = { ids: [], lengths: [], seq: [] };
    }
    const [from, to] = bounds(n, finest, f);
    for (let i = from; i < to; i++) {
      const id = ids[i];
      const tokens = between(TEXT_TOKENS);
      const frames = between(AUDIO_FRAMES);
      rowsOf.text.push({
        utteranceId: id,
        status: 'ok',
        reason: null,
        pooled: slice(DIMS.text),
        sequence: blob(tokens, DIMS.text),
        dtype: 'float16',
        seqSteps: tokens,
        seqTokens: 1,
        seqDim: DIMS.text,
        utteranceTokenStart: 1,
        flags: [],
      });
      rowsOf.audio.push({
        utteranceId: id,
        status: 'ok',
        reason: null,
        pooled: slice(DIMS.audio),
        sequence: blob(frames, DIMS.audio),
        dtype: 'float16',
        seqSteps: frames,
        seqTokens: 1,
        seqDim: DIMS.audio,
        utteranceTokenStart: null,
        flags: [],
      });
      const length = between([MIN_FRAMES, DIMS.frames]);
      const seq = new Float32Array(DIMS.frames * DIMS.visual);
      seq.set(slice(length * DIMS.visual));
      rowsOf.visual.ids.push(id);
      rowsOf.visual.lengths.push(length);
      rowsOf.visual.seq.push(seq);
    }
    await flush(f + 1);
  }

  const out = layouts.map((l) => ({ name: l.name, shards: l.shards, sources: refs.get(l.name)!, partition }));
  for (const l of out) await store.put(layoutKey(l.name), JSON.stringify(l));
  return out;
}
