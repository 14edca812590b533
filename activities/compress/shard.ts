/** One compress shard: the VSC of one visual features shard, stored in resumable chunks. */
import {
  ShardNameSchema,
  VscParamsSchema,
  VscShardReportSchema,
  type VscParams,
  type VscParamsInput,
  type VscShardReport,
} from '../../schemas/compress.ts';
import {
  listingPrefix,
  vscChunkKey,
  vscChunkRange,
  vscPartialPrefix,
  vscShardCommitPrefix,
  vscShardKey,
} from '../../schemas/layout.ts';
import type { StoreSpec } from '../../schemas/store.ts';
import type { StepContext } from '../common/context.ts';
import { decodeFloat16 } from '../common/float16.ts';
import { openParquetGroups, openStoredParquet, type ParquetGroups } from '../common/parquet-groups.ts';
import { FeatureShardCorruptError } from '../common/shard-errors.ts';
import { createStore } from '../store/index.ts';
import type { ObjectStore } from '../store/types.ts';
import { readFeatureIndex, readPooled, readSequenceGroup, type FeatureIndex } from './feature-shard.ts';
import { createGuidance, type Guidance } from './guidance.ts';
import { readVscGroup, vscRowsToParquet, vscShardShape, type VscRows } from './vsc-table.ts';
import { createVsc, reduction } from './vsc.ts';

export interface CompressShardInput {
  store: StoreSpec;
  params: VscParams | VscParamsInput;
  /** From `vscKey(params, inputs)`, computed once per stage by the caller. */
  vscKey: string;
  /** Shard name: the output is `visual-vsc/<vscKey>/<shard>.parquet`. */
  shard: string;
  /** Store keys of this shard's feature files (schemas/features.ts); text and audio for `fixed` guidance. */
  visual: string;
  text?: string;
  audio?: string;
  /** Utterances per stored chunk and heartbeat: the most work a lost worker can cost. Not part of the key. */
  chunkUtterances?: number;
}

export type CompressShardResult = VscShardReport & { skipped: boolean };

const DEFAULT_CHUNK = 64;

interface Part extends VscRows {
  start: number;
  end: number;
}

/**
 * Compresses one visual features shard. Work is stored in chunks of `chunkUtterances` input rows
 * under `_partial/`, one heartbeat per chunk; a retry continues after the chunks the store holds
 * (not after the last heartbeat, which may lag behind what was stored). The shard file is written
 * in one atomic put, then its commit marker (the report), then the chunks are removed.
 */
export async function compressShardStep(input: CompressShardInput, ctx: StepContext): Promise<CompressShardResult> {
  const started = performance.now();
  const params = VscParamsSchema.parse(input.params);
  const shard = ShardNameSchema.parse(input.shard);
  // The input's own value (tests) wins over the run config's `compress.chunkUtterances`.
  const chunkSize = input.chunkUtterances ?? params.chunkUtterances ?? DEFAULT_CHUNK;
  if (!Number.isInteger(chunkSize) || chunkSize < 1)
    throw new RangeError(`chunkUtterances must be a positive integer, got ${chunkSize}`);
  const store = createStore(input.store);
  const commitPrefix = vscShardCommitPrefix(input.vscKey, shard);
  const done = await store.committed(commitPrefix);
  if (done) return { ...VscShardReportSchema.parse(done.summary), skipped: true };

  const guided = params.enabled && params.guidance === 'fixed';
  if (guided && (!input.text || !input.audio))
    throw new Error(`compress ${shard}: fixed guidance needs the text and audio feature shards`);

  const visual = await openStoredParquet(store, input.visual);
  try {
    const index = await readFeatureIndex(visual);
    const okIds = new Set(index.rows.filter((r) => r.ok).map((r) => r.utteranceId));
    const tokens = index.rows.find((r) => r.ok)?.tokens ?? 1;
    for (const [i, r] of index.rows.entries()) {
      if (r.ok && r.tokens !== tokens)
        throw new FeatureShardCorruptError(
          input.visual,
          `row ${i} (${r.utteranceId}) has ${r.tokens} tokens per frame, earlier rows ${tokens}`,
        );
    }
    const guide = guided
      ? await guidanceFor(store, input.text!, input.audio!, okIds, index.dim, params.guidanceSeed)
      : null;

    const partial = vscPartialPrefix(input.vscKey, shard);
    const parts = await resumeParts(store, partial, index, params.maxFrames);
    const resumedFrom = parts.length ? parts[parts.length - 1].end : 0;
    ctx.heartbeat({ shard, cursor: resumedFrom, total: index.rows.length, resumedFrom });

    const vsc = createVsc(params, { tokens, dim: index.dim });
    const width = params.maxFrames * index.dim;
    let pending = { start: resumedFrom, ids: [] as string[], lengths: [] as number[], seqs: [] as Float32Array[] };
    const flush = async (end: number) => {
      const rows: Part = {
        start: pending.start,
        end,
        ids: pending.ids,
        lengths: Int32Array.from(pending.lengths),
        sequences: concat(pending.seqs, width),
      };
      await store.put(
        vscChunkKey(partial, rows.start, end),
        vscRowsToParquet(rows, { maxFrames: params.maxFrames, dim: index.dim }, input.vscKey),
      );
      parts.push(rows);
      ctx.heartbeat({ shard, cursor: end, total: index.rows.length, resumedFrom });
      pending = { start: end, ids: [], lengths: [], seqs: [] };
    };

    let scratch = new Float32Array(0);
    let firstRow = 0;
    for (let g = 0; g < visual.groupRows.length; g++) {
      const groupEnd = firstRow + visual.groupRows[g];
      if (groupEnd > resumedFrom) {
        const blobs = await readSequenceGroup(visual, g, firstRow, index);
        for (let row = Math.max(firstRow, resumedFrom); row < groupEnd; row++) {
          if (ctx.signal?.aborted) throw ctx.signal.reason ?? new Error('cancelled');
          const info = index.rows[row];
          const blob = blobs[row - firstRow];
          if (info.ok && blob) {
            const n = blob.length / 2;
            if (scratch.length < n) scratch = new Float32Array(n);
            const values = decodeFloat16(blob, scratch).subarray(0, n);
            const out = vsc.compress(values, info.steps, guide?.get(info.utteranceId) ?? null);
            pending.ids.push(info.utteranceId);
            pending.lengths.push(out.length);
            pending.seqs.push(out.sequence);
          }
          if (row + 1 - pending.start === chunkSize) await flush(row + 1);
        }
      }
      firstRow = groupEnd;
    }
    if (pending.start < index.rows.length) await flush(index.rows.length);

    const all: VscRows = {
      ids: parts.flatMap((p) => p.ids),
      lengths: Int32Array.from(parts.flatMap((p) => [...p.lengths])),
      sequences: concat(
        parts.map((p) => p.sequences),
        0,
      ),
    };
    const bytes = vscRowsToParquet(all, { maxFrames: params.maxFrames, dim: index.dim }, input.vscKey);
    await store.put(vscShardKey(input.vscKey, shard), bytes);

    let valuesIn = 0;
    let framesIn = 0;
    for (const r of index.rows) {
      if (!r.ok) continue;
      valuesIn += r.steps * r.tokens * r.dim;
      framesIn += r.steps;
    }
    const framesOut = all.lengths.reduce((a, b) => a + b, 0);
    const red = reduction(valuesIn, framesOut * index.dim);
    const report: VscShardReport = {
      shard,
      utterances: all.ids.length,
      valuesIn,
      valuesOut: red.valuesOut,
      ratio: red.ratio,
      bytesIn: valuesIn * 2,
      bytesOut: bytes.length,
      framesIn,
      framesOut,
      guidanceMissing: guide ? guide.missing : 0,
      seconds: (performance.now() - started) / 1000,
      resumedFrom,
    };
    await store.commit(commitPrefix, { stage: 'compress/vsc-shard', summary: report });
    await store.deletePrefix(listingPrefix(partial));
    return { ...report, skipped: false };
  } finally {
    await visual.close();
  }
}

function concat(arrays: readonly Float32Array[], width: number): Float32Array {
  const out = new Float32Array(arrays.reduce((n, a) => n + a.length, 0));
  let at = 0;
  for (const a of arrays) {
    if (width && a.length !== width) throw new RangeError(`vsc: sequence of ${a.length} values, expected ${width}`);
    out.set(a, at);
    at += a.length;
  }
  return out;
}

interface GuideMap {
  get(id: string): Float32Array | null;
  missing: number;
}

/** G([t; a]) for every ok utterance of the shard; a quarantined text or audio row contributes zeros. */
async function guidanceFor(
  store: ObjectStore,
  textKey: string,
  audioKey: string,
  ids: ReadonlySet<string>,
  dim: number,
  seed: number,
): Promise<GuideMap> {
  const pooled = async (key: string) => {
    const groups = await openStoredParquet(store, key);
    try {
      return await readPooled(groups, ids);
    } finally {
      await groups.close();
    }
  };
  const text = await pooled(textKey);
  const audio = await pooled(audioKey);
  const g: Guidance = createGuidance(seed, { text: text.dim, audio: audio.dim, visual: dim });
  const guides = new Map<string, Float32Array>();
  let missing = 0;
  for (const id of ids) {
    const t = text.vectors.get(id) ?? null;
    const a = audio.vectors.get(id) ?? null;
    if (!t || !a) missing++;
    guides.set(id, g.apply(t, a));
  }
  return { get: (id) => guides.get(id) ?? null, missing };
}

/**
 * The leading run of stored chunks from row 0, each checked against the input: a chunk whose ids are
 * not the input's ok rows of its range was written for other data, and everything is redone.
 */
async function resumeParts(
  store: ObjectStore,
  partial: string,
  index: FeatureIndex,
  maxFrames: number,
): Promise<Part[]> {
  const listed = await store.list(listingPrefix(partial));
  const chunks = listed
    .flatMap((o) => {
      const range = vscChunkRange(o.key);
      return range ? [{ key: o.key, ...range }] : [];
    })
    .sort((a, b) => a.start - b.start);
  const parts: Part[] = [];
  let next = 0;
  for (const c of chunks) {
    if (c.start !== next || c.end <= c.start || c.end > index.rows.length) break;
    const expected = index.rows
      .slice(c.start, c.end)
      .filter((r) => r.ok)
      .map((r) => r.utteranceId);
    const part = await readChunk(store, c.key, c.start, c.end);
    const shapeOk = part !== null && part.sequences.length === part.ids.length * maxFrames * index.dim;
    if (!shapeOk || part.ids.length !== expected.length || part.ids.some((id, i) => id !== expected[i])) {
      await store.deletePrefix(listingPrefix(partial));
      return [];
    }
    parts.push(part);
    next = c.end;
  }
  return parts;
}

async function readChunk(store: ObjectStore, key: string, start: number, end: number): Promise<Part | null> {
  let groups: ParquetGroups | null = null;
  try {
    groups = await openParquetGroups(await store.get(key), key);
    const shape = vscShardShape(groups);
    const ids: string[] = [];
    const lengths: number[] = [];
    const seqs: Float32Array[] = [];
    for (let g = 0; g < groups.groupRows.length; g++) {
      const r = await readVscGroup(groups, g, shape);
      ids.push(...r.ids);
      lengths.push(...r.lengths);
      seqs.push(...r.sequences.map((s) => s.slice()));
    }
    return { start, end, ids, lengths: Int32Array.from(lengths), sequences: concat(seqs, 0) };
  } catch {
    // An unreadable chunk (a torn write on a store without atomic puts) is recomputed, not fatal.
    return null;
  } finally {
    await groups?.close();
  }
}
