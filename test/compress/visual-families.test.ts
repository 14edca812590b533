/**
 * A family with more tokens than Swin through the extract stage and compression: the tiny /16 ViT's
 * 196 patch tokens per frame (CLS left out), and the same pooled to 7x7 = 49 by `poolGrid`. The plan
 * states bytes per utterance and the projected store size, the report carries them, the features key
 * changes only for set options, and VSC compresses the stored float16 tokens whatever their count.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { decodeFloat16 } from '../../activities/common/float16.ts';
import { openParquetGroups } from '../../activities/common/parquet-groups.ts';
import { parquetToTable } from '../../activities/common/parquet.ts';
import { localStepContext } from '../../activities/common/context.ts';
import { compressShardStep } from '../../activities/compress/shard.ts';
import { readVscGroup, vscShardShape } from '../../activities/compress/vsc-table.ts';
import { compressFrame, createVsc } from '../../activities/compress/vsc.ts';
import { finalizeExtractStep } from '../../activities/extract/finalize.ts';
import { planExtractStep, type ExtractPlan } from '../../activities/extract/plan.ts';
import { releaseEncoderSessions } from '../../activities/extract/sessions.ts';
import { extractShardStep } from '../../activities/extract/shard.ts';
import { closeStores, createStore } from '../../activities/store/index.ts';
import type { ObjectStore } from '../../activities/store/types.ts';
import { vscParams } from '../../schemas/compress.ts';
import { ExtractParamsSchema, type ExtractParams } from '../../schemas/extract.ts';
import { tableToFeatureRows } from '../../schemas/features.ts';
import { vscShardKey } from '../../schemas/layout.ts';
import { OnnxRuntimeSettingsSchema } from '../../schemas/runtime.ts';
import { MODELS, TINY } from '../extract/inputs.ts';
import { buildSegments, type BuiltSegments, type UtteranceSpec } from '../extract/segment-fixture.ts';

const VIT = `${MODELS}tiny-vit`;
const DIM = 32;
const runtime = OnnxRuntimeSettingsSchema.parse({ threads: 1 });
const utterances: UtteranceSpec[] = [
  { id: 'dia1_utt0', dialogue: '1', index: 0, text: 'a', audio: null, frames: { count: 3, seed: 1 } },
  { id: 'dia1_utt1', dialogue: '1', index: 1, text: 'b', audio: null, frames: { count: 1, seed: 2 } },
  { id: 'dia1_utt2', dialogue: '1', index: 2, text: 'c', audio: null, frames: null },
];

let root: string;
let store: ObjectStore;
let seg: BuiltSegments;
const spec = () => ({ kind: 'local' as const, root });
const params = (visual: Partial<ExtractParams['visual']>) =>
  ExtractParamsSchema.parse({
    text: { model: TINY.text },
    audio: { model: TINY.audio },
    visual: { model: VIT, ...visual },
  });
const plan = (visual: Partial<ExtractParams['visual']> = {}) =>
  planExtractStep({
    store: spec(),
    modality: 'visual',
    segmentPrefix: seg.segmentPrefix,
    shardKeys: seg.shardKeys,
    manifestKey: seg.manifestKey,
    params: params(visual),
  });

/** Extracts and finalises the visual features; returns the plan, the shard's feature key and the report. */
async function extract(visual: Partial<ExtractParams['visual']>) {
  const pl = await plan(visual);
  const r = await extractShardStep(
    {
      store: spec(),
      modality: 'visual',
      segmentPrefix: seg.segmentPrefix,
      manifestKey: seg.manifestKey,
      params: params(visual),
      shardKey: seg.shardKeys[0],
      featuresPrefix: pl.featuresPrefix,
      modelSha256: pl.modelSha256,
    },
    localStepContext(),
    runtime,
  );
  const report = await finalizeExtractStep({
    store: spec(),
    modality: 'visual',
    featuresPrefix: pl.featuresPrefix,
    modelSha256: pl.modelSha256,
    dim: pl.dim,
    shardKeys: seg.shardKeys,
    projection: pl.projection,
  });
  return { pl, key: r.key, report };
}

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'mer-visual-families-'));
  store = createStore(spec());
  seg = await buildSegments(store, 'seg-vit', utterances, 8);
});
after(async () => {
  await releaseEncoderSessions();
  await closeStores();
  await rm(root, { recursive: true, force: true });
});

describe('extract plan: projected sizes and keys', () => {
  test('bytes per utterance and the projected store size from tokens x dim x float16 x frames', async () => {
    const full: ExtractPlan = await plan();
    // 4 frames over 3 utterances; 196 tokens x 32 x 2 bytes per frame plus a float32 pooled vector each
    assert.deepEqual(full.projection, {
      family: 'ViT',
      tokensPerFrame: 196,
      grid: '14x14',
      dim: DIM,
      utterances: 3,
      frames: 4,
      framesPerUtterance: 1.33,
      bytesPerUtterance: Math.round((4 * 196 * DIM * 2 + 3 * DIM * 4) / 3),
      projectedBytes: 4 * 196 * DIM * 2 + 3 * DIM * 4,
    });
    assert.match(
      full.note!,
      /^ViT 196 tokens\/frame \(14x14\) x 32, 1\.33 frames\/utterance: 16\.9 kB per utterance, 50\.6 kB for 3 utterances$/,
    );
    const pooled = await plan({ poolGrid: 7 });
    assert.equal(pooled.projection!.projectedBytes, 4 * 49 * DIM * 2 + 3 * DIM * 4);
    assert.equal(pooled.projection!.grid, '14x14 pooled to 7x7');
  });

  test('pooling and poolGrid enter the features key only when set', async () => {
    const base = (await plan()).featuresKey;
    assert.equal((await plan({ pooling: 'mean' })).featuresKey, base);
    assert.notEqual((await plan({ pooling: 'cls' })).featuresKey, base);
    assert.notEqual((await plan({ poolGrid: 7 })).featuresKey, base);
    // the family's own grid size is a key of its own too (it names a parameter, not an output)
    assert.notEqual((await plan({ poolGrid: 14 })).featuresKey, base);
  });

  test("'cls' pooling on Swin is refused when the stage is planned, before any shard runs", async () => {
    await assert.rejects(
      planExtractStep({
        store: spec(),
        modality: 'visual',
        segmentPrefix: seg.segmentPrefix,
        shardKeys: seg.shardKeys,
        manifestKey: seg.manifestKey,
        params: params({ model: TINY.visual, pooling: 'cls' }),
      }),
      (err: Error & { type?: string }) =>
        err.type === 'MerModelMismatch' && /Swin .* has no CLS token/.test(err.message),
    );
  });
});

describe('compression on the family token count', () => {
  for (const [label, visual, tokens] of [
    ['196 patch tokens (ViT /16)', {}, 196],
    ['a 14x14 grid pooled to 7x7', { poolGrid: 7 }, 49],
  ] as const) {
    test(`${label}: stored as such and compressed as VSC does on the decoded tokens`, async () => {
      const { key, report } = await extract(visual);
      assert.equal(report.projection!.tokensPerFrame, tokens);
      const rows = tableToFeatureRows(parquetToTable(await store.get(key))).filter((r) => r.status === 'ok');
      assert.deepEqual(
        rows.map((r) => [r.utteranceId, r.seqSteps, r.seqTokens, r.seqDim]),
        [
          ['dia1_utt0', 3, tokens, DIM],
          ['dia1_utt1', 1, tokens, DIM],
        ],
      );
      const params = vscParams({ topK: 16, maxFrames: 2, temporalThreshold: 0.99 });
      const r = await compressShardStep(
        { store: spec(), params, vscKey: `vit-${tokens}`, shard: 's0', visual: key, chunkUtterances: 1 },
        { heartbeat: () => {}, resumeDetails: () => undefined },
      );
      assert.equal(r.valuesIn, 4 * tokens * DIM);
      const groups = await openParquetGroups(await store.get(vscShardKey(`vit-${tokens}`, 's0')), 'vsc');
      const out = await readVscGroup(groups, 0, vscShardShape(groups));
      await groups.close();
      const vsc = createVsc(params, { tokens, dim: DIM });
      rows.forEach((row, i) => {
        const want = vsc.compress(decodeFloat16(row.sequence!), row.seqSteps!);
        assert.equal(out.lengths[i], want.length);
        assert.deepEqual([...out.sequences[i]], [...want.sequence]);
      });
      // selection among 196 tokens keeps exactly the top-k by cosine with the frame mean
      const frame = decodeFloat16(rows[0].sequence!).subarray(0, tokens * DIM);
      const kept = compressFrame(frame, { tokens, dim: DIM }, params).kept;
      const mean = new Float64Array(DIM);
      for (let p = 0; p < tokens; p++) for (let d = 0; d < DIM; d++) mean[d] += frame[p * DIM + d] / tokens;
      const cos = (p: number) => {
        let dot = 0;
        let n = 0;
        let m = 0;
        for (let d = 0; d < DIM; d++) {
          dot += frame[p * DIM + d] * mean[d];
          n += frame[p * DIM + d] ** 2;
          m += mean[d] ** 2;
        }
        return dot / Math.sqrt(n * m);
      };
      const top = Array.from({ length: tokens }, (_, p) => p)
        .sort((a, b) => cos(b) - cos(a) || a - b)
        .slice(0, 16)
        .sort((a, b) => a - b);
      assert.deepEqual([...kept], top);
    });
  }
});
