/**
 * extractShardStep end to end on a segment-shaped store built from the schemas/segment.ts contract:
 * features shards read back by an independent Parquet reader (hyparquet) with exact values,
 * per-utterance quarantine, resume within a shard, content-addressed keys, and the stage commit.
 */
import assert from 'node:assert/strict';
import { cp, mkdtemp, rm, appendFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parquetMetadata, parquetReadObjects } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import { ExtractParamsSchema, type ExtractParams, type Modality } from '../../schemas/extract.ts';
import { OnnxRuntimeSettingsSchema } from '../../schemas/runtime.ts';
import { tableToFeatureRows } from '../../schemas/features.ts';
import { featureShardKey } from '../../schemas/layout.ts';
import { localStepContext } from '../../activities/common/context.ts';
import { MerError } from '../../activities/common/errors.ts';
import { decodeFloat16, encodeFloat16 } from '../../activities/common/float16.ts';
import { parquetToTable } from '../../activities/common/parquet.ts';
import { openAudioEncoder } from '../../activities/extract/audio-encoder.ts';
import { isQuarantine } from '../../activities/extract/encoder.ts';
import { readModelFolder } from '../../activities/extract/model-folder.ts';
import { releaseEncoderSessions } from '../../activities/extract/sessions.ts';
import { finalizeExtractStep } from '../../activities/extract/finalize.ts';
import { planExtractStep, type ExtractPlan } from '../../activities/extract/plan.ts';
import { extractShardStep } from '../../activities/extract/shard.ts';
import { TransformerTextEncoder, type TextInput } from '../../activities/extract/text-encoder.ts';
import { closeStores, createStore } from '../../activities/store/index.ts';
import type { ObjectStore } from '../../activities/store/types.ts';
import { MODELS, TINY, expected, lcgSamples, maxAbsDiff } from './inputs.ts';
import { buildSegments, type BuiltSegments, type UtteranceSpec } from './segment-fixture.ts';

const plain = expected.text.find((c) => c.name === 'plain')!;
/** MELD-style ids (`dia<d>_utt<i>`) name the dialogue and the index within it. */
function utterance(
  id: string,
  text: string,
  audio: UtteranceSpec['audio'],
  frames: UtteranceSpec['frames'],
  segmentQuarantine?: string,
): UtteranceSpec {
  const [, dialogue, index] = /^dia(\d+)_utt(\d+)$/.exec(id)!;
  return {
    id,
    dialogue,
    index: Number(index),
    text,
    audio,
    frames,
    ...(segmentQuarantine ? { segmentQuarantine } : {}),
  };
}

const UTTERANCES: UtteranceSpec[] = [
  utterance('dia1_utt0', plain.text, { samples: 16000, seed: 1 }, { count: 3, seed: 1 }),
  utterance('dia1_utt1', '', { samples: 8000, seed: 3 }, { count: 1, seed: 2 }),
  utterance('dia1_utt2', 'Fine.', { samples: 300, seed: 5 }, { count: 2, seed: 3 }),
  utterance('dia1_utt3', 'Where were you?', { samples: 8000, seed: 4 }, null),
  utterance('dia2_utt0', 'Oh my God!', null, null, 'no_audio_stream: the clip has no audio'),
  utterance(
    'dia2_utt1',
    'Could this BE any more awkward?',
    { bytes: new TextEncoder().encode('not a wav file'), samples: 7000 },
    { count: 1, seed: 4 },
  ),
  utterance('dia2_utt2', 'Pivot! PIVOT!', { samples: 7013, seed: 2 }, { count: 2, seed: 5 }),
];

const runtime = OnnxRuntimeSettingsSchema.parse({ threads: 1 });
let root: string;
let store: ObjectStore;
let spec: { kind: 'local'; root: string };
let seg: BuiltSegments;

function params(
  over: {
    text?: Partial<ExtractParams['text']>;
    audio?: Partial<ExtractParams['audio']>;
    visual?: Partial<ExtractParams['visual']>;
  } = {},
): ExtractParams {
  return ExtractParamsSchema.parse({
    text: { model: TINY.text, batchSize: 2, ...over.text },
    audio: { model: TINY.audio, batchSize: 4, ...over.audio },
    visual: { model: TINY.visual, batchFrames: 3, ...over.visual },
  });
}

async function plan(modality: Modality, p = params()): Promise<ExtractPlan> {
  return planExtractStep({
    store: spec,
    modality,
    segmentPrefix: seg.segmentPrefix,
    shardKeys: seg.shardKeys,
    manifestKey: seg.manifestKey,
    params: p,
  });
}

async function runShard(modality: Modality, pl: ExtractPlan, shard: number, p = params(), ctx = localStepContext()) {
  return extractShardStep(
    {
      store: spec,
      modality,
      segmentPrefix: seg.segmentPrefix,
      manifestKey: seg.manifestKey,
      params: p,
      shardKey: seg.shardKeys[shard],
      featuresPrefix: pl.featuresPrefix,
      modelSha256: pl.modelSha256,
    },
    ctx,
    runtime,
  );
}

type HyRow = Record<string, unknown>;
async function readIndependently(key: string): Promise<HyRow[]> {
  const bytes = await store.get(key);
  const file = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  return (await parquetReadObjects({ file, compressors, utf8: false })) as HyRow[];
}
const str = (v: unknown): string | null =>
  v === null || v === undefined ? null : typeof v === 'string' ? v : new TextDecoder().decode(v as Uint8Array);

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'mer-extract-shard-'));
  spec = { kind: 'local', root };
  store = createStore(spec);
  // two shards: utterances 0-3 and 4-6 (dialogue 2's context lives in the manifest, not the shard)
  seg = await buildSegments(store, 'seg-test', UTTERANCES, 4);
});
after(async () => {
  await releaseEncoderSessions();
  await closeStores();
  await rm(root, { recursive: true, force: true });
});

describe('extract shards', () => {
  test('text features: stored exactly as the encoder computed them, read by hyparquet, empty text quarantined', async () => {
    const pl = await plan('text');
    assert.equal(pl.committed, false);
    assert.deepEqual(pl.pendingShardKeys, seg.shardKeys);
    const r = await runShard('text', pl, 0);
    assert.deepEqual([r.rows, r.ok, r.quarantined, r.skipped], [4, 3, 1, false]);
    assert.equal(r.key, featureShardKey(pl.featuresPrefix, seg.shardKeys[0]));

    const rows = await readIndependently(r.key);
    assert.equal(rows.length, 4);
    const byId = new Map(rows.map((x) => [str(x.utteranceId)!, x]));
    const empty = byId.get('dia1_utt1')!;
    assert.equal(str(empty.status), 'quarantined');
    assert.match(str(empty.reason)!, /^empty_text/);
    // hyparquet reports a null as undefined
    assert.ok(empty.pooled == null && empty.sequence == null && empty.seqSteps == null);

    // the same utterance encoded directly: pooled bit-exact, sequence blob byte-exact
    const enc = await TransformerTextEncoder.open(await readModelFolder('text', TINY.text), runtime);
    const [direct] = await enc.encode([enc.prepare(plain.text, [], 128) as TextInput]);
    const got = byId.get('dia1_utt0')!;
    assert.equal(str(got.status), 'ok');
    assert.deepEqual(Float32Array.from(got.pooled as number[]), direct.pooled);
    assert.deepEqual(new Uint8Array(got.sequence as Uint8Array), encodeFloat16(direct.sequence));
    assert.deepEqual(
      [got.seqSteps, got.seqTokens, got.seqDim, got.utteranceTokenStart, str(got.dtype)],
      [plain.shape[0], 1, 32, 0, 'float16'],
    );
    // and against PyTorch: pooled within 1e-4, the float16 sequence within its rounding
    assert.ok(maxAbsDiff(direct.pooled, plain.pooled) <= 1e-4);
    const seq = decodeFloat16(new Uint8Array(got.sequence as Uint8Array));
    seq.forEach((v, i) => assert.ok(Math.abs(v - plain.sequence[i]) <= Math.abs(plain.sequence[i]) * 2 ** -10 + 1e-4));

    const meta = await store
      .get(r.key)
      .then((b) => parquetMetadata(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer));
    assert.ok(
      meta.key_value_metadata?.some((kv) => kv.key === 'ARROW:schema'),
      'the Arrow schema (FixedSizeList) travels in the file',
    );

    // a committed shard runs nothing
    const again = await runShard('text', pl, 0);
    assert.deepEqual([again.skipped, again.batchesComputed, again.inferenceMs], [true, 0, 0]);
  });

  test('audio features: too short, unreadable and segment-quarantined utterances quarantined; equal lengths share a batch', async () => {
    const pl = await plan('audio');
    const r0 = await runShard('audio', pl, 0);
    // utt1 and utt3 have 8000 samples: one batch; utt0 another; utt2 (300 samples) never reaches the model
    assert.deepEqual([r0.rows, r0.ok, r0.quarantined, r0.batches], [4, 3, 1, 2]);
    const r1 = await runShard('audio', pl, 1);
    assert.deepEqual([r1.rows, r1.ok, r1.quarantined], [3, 1, 2]);

    const rows0 = tableToFeatureRows(parquetToTable(await store.get(r0.key)));
    const rows1 = tableToFeatureRows(parquetToTable(await store.get(r1.key)));
    const all = new Map([...rows0, ...rows1].map((x) => [x.utteranceId, x]));
    assert.match(all.get('dia1_utt2')!.reason!, /^audio_too_short: 300 samples/);
    assert.match(all.get('dia2_utt0')!.reason!, /^segment_quarantined: no_audio_stream/);
    assert.match(all.get('dia2_utt1')!.reason!, /^audio_unreadable: .*not a RIFF\/WAVE file/);
    for (const id of ['dia1_utt2', 'dia2_utt0', 'dia2_utt1'])
      assert.equal(all.get(id)!.pooled, null, 'never zero-filled');

    // stored values are the encoder's, and the one-second utterance is PyTorch's within 1e-4
    const oneSecond = expected.audio.cases.find((c) => c.name === 'one_second')!;
    const u0 = all.get('dia1_utt0')!;
    assert.deepEqual([u0.seqSteps, u0.seqTokens, u0.seqDim], [49, 1, 32]);
    assert.ok(maxAbsDiff(u0.pooled!, oneSecond.pooled) <= 1e-4);
    const odd = expected.audio.cases.find((c) => c.name === 'odd_length')!;
    assert.ok(maxAbsDiff(all.get('dia2_utt2')!.pooled!, odd.pooled) <= 1e-4);

    // batched in the shard (utt1 with utt3) == each alone
    const enc = await openAudioEncoder(await readModelFolder('audio', TINY.audio), runtime);
    const prepared = enc.prepare(lcgSamples(8000, 3), 16000, 15);
    assert.ok(!isQuarantine(prepared));
    const [alone] = await enc.encode([prepared]);
    assert.deepEqual(all.get('dia1_utt1')!.pooled, alone.pooled);
    assert.deepEqual(all.get('dia1_utt1')!.sequence, encodeFloat16(alone.sequence));
  });

  test('visual features: 49 tokens per frame, no-frames and segment-quarantined utterances quarantined', async () => {
    const pl = await plan('visual');
    const r0 = await runShard('visual', pl, 0);
    assert.deepEqual([r0.rows, r0.ok, r0.quarantined], [4, 3, 1]);
    const rows = await readIndependently(r0.key);
    const byId = new Map(rows.map((x) => [str(x.utteranceId)!, x]));
    assert.match(str(byId.get('dia1_utt3')!.reason)!, /^no_frames/);
    const u0 = byId.get('dia1_utt0')!;
    const three = expected.visual.find((c) => c.name === 'three_frames')!;
    assert.deepEqual([u0.seqSteps, u0.seqTokens, u0.seqDim], [3, 49, 64]);
    assert.equal((u0.sequence as Uint8Array).length, 3 * 49 * 64 * 2);
    assert.ok(maxAbsDiff(Float32Array.from(u0.pooled as number[]), three.pooled) <= 1e-4);
  });

  test('a shard interrupted after two batches resumes without recomputing them, with identical output', async () => {
    const p = params({ text: { batchSize: 1 } });
    const pl = await plan('text', p);
    const ac = new AbortController();
    let beats = 0;
    const interrupted = localStepContext({
      signal: ac.signal,
      onProgress: (d) => {
        assert.equal(d.batch, ++beats, 'a heartbeat per batch, with the cursor');
        if (beats === 2) ac.abort(new Error('worker killed'));
      },
    });
    await assert.rejects(runShard('text', pl, 1, p, interrupted), /worker killed/);
    const prefix = `${pl.featuresPrefix}/shards/00001`;
    assert.equal((await store.list(`${prefix}/parts/`)).length, 2);
    assert.equal(await store.committed(prefix), null);

    const resumed = await runShard('text', pl, 1, p);
    assert.deepEqual([resumed.batches, resumed.batchesReused, resumed.batchesComputed], [3, 2, 1]);
    assert.equal((await store.list(`${prefix}/parts/`)).length, 0, 'parts are removed once the shard is committed');

    // the resumed output equals the same shard computed in one go in another store
    const cleanRoot = await mkdtemp(join(tmpdir(), 'mer-extract-clean-'));
    try {
      const cleanSpec = { kind: 'local' as const, root: cleanRoot };
      const cleanStore = createStore(cleanSpec);
      await cp(join(root, 'segments'), join(cleanRoot, 'segments'), { recursive: true });
      await cp(join(root, 'datasets'), join(cleanRoot, 'datasets'), { recursive: true });
      const clean = await extractShardStep(
        {
          store: cleanSpec,
          modality: 'text',
          segmentPrefix: seg.segmentPrefix,
          manifestKey: seg.manifestKey,
          params: p,
          shardKey: seg.shardKeys[1],
          featuresPrefix: pl.featuresPrefix,
          modelSha256: pl.modelSha256,
        },
        localStepContext(),
        runtime,
      );
      assert.equal(clean.batchesComputed, 3);
      assert.deepEqual(
        tableToFeatureRows(parquetToTable(await store.get(resumed.key))),
        tableToFeatureRows(parquetToTable(await cleanStore.get(clean.key))),
      );
    } finally {
      await rm(cleanRoot, { recursive: true, force: true });
    }
  });

  test('dialogue context: k previous utterances from the manifest, pooled over the utterance only', async () => {
    const p = params({ text: { contextUtterances: 1 } });
    const pl = await plan('text', p);
    const r = await runShard('text', pl, 1, p);
    const rows = tableToFeatureRows(parquetToTable(await store.get(r.key)));
    const first = rows.find((x) => x.utteranceId === 'dia2_utt0')!;
    const third = rows.find((x) => x.utteranceId === 'dia2_utt2')!;
    assert.equal(first.utteranceTokenStart, 0, 'the first utterance of a dialogue has no context');
    assert.ok(third.utteranceTokenStart! > 2, 'context tokens precede the utterance');
    // a segment-quarantined utterance still has text features
    assert.equal(first.status, 'ok');
  });

  test('another text family through the stage: RoBERTa with context and first-token pooling', async () => {
    const p = params({ text: { model: `${MODELS}tiny-roberta`, contextUtterances: 1, pooling: 'first' } });
    const pl = await plan('text', p);
    const r = await runShard('text', pl, 1, p);
    assert.deepEqual([r.rows, r.ok], [3, 3]);
    const rows = tableToFeatureRows(parquetToTable(await store.get(r.key)));
    const third = rows.find((x) => x.utteranceId === 'dia2_utt2')!;
    assert.ok(third.utteranceTokenStart! > 3, 'context and <s> ... </s></s> precede the utterance');
    // the stored vector is the encoder's first-token pooling of the same input
    const enc = await TransformerTextEncoder.open(await readModelFolder('text', `${MODELS}tiny-roberta`), runtime);
    const input = enc.prepare('Pivot! PIVOT!', ['Could this BE any more awkward?'], 128) as TextInput;
    assert.equal(input.utteranceStart, third.utteranceTokenStart);
    const [direct] = await enc.encode([input], 'first');
    assert.deepEqual(third.pooled, direct.pooled);
  });

  test('keys: model, text parameters and manifest change the features key; batch sizes do not', async () => {
    const base = await plan('text');
    assert.equal((await plan('text', params({ text: { batchSize: 7 } }))).featuresKey, base.featuresKey);
    assert.notEqual((await plan('text', params({ text: { contextUtterances: 2 } }))).featuresKey, base.featuresKey);
    assert.notEqual((await plan('text', params({ text: { maxTokens: 64 } }))).featuresKey, base.featuresKey);
    // the default pooling is not in the key (features of earlier configs keep theirs); 'first' is
    assert.equal((await plan('text', params({ text: { pooling: 'mean' } }))).featuresKey, base.featuresKey);
    assert.notEqual((await plan('text', params({ text: { pooling: 'first' } }))).featuresKey, base.featuresKey);
    assert.equal(
      (await plan('audio', params({ audio: { batchSize: 1 } }))).featuresKey,
      (await plan('audio')).featuresKey,
    );
    const otherManifest = 'datasets/meld/other-manifest/manifest.parquet';
    await store.put(otherManifest, await store.get(seg.manifestKey));
    const withManifest = (modality: Modality) =>
      planExtractStep({
        store: spec,
        modality,
        segmentPrefix: seg.segmentPrefix,
        shardKeys: seg.shardKeys,
        manifestKey: otherManifest,
        params: params(),
      });
    assert.notEqual((await withManifest('text')).featuresKey, base.featuresKey, 'text depends on the manifest');
    assert.equal((await withManifest('audio')).featuresKey, (await plan('audio')).featuresKey, 'audio does not');

    const changed = join(root, 'models', 'tiny-bert-changed');
    await cp(TINY.text, changed, { recursive: true });
    assert.equal(
      (await plan('text', params({ text: { model: changed } }))).featuresKey,
      base.featuresKey,
      'same bytes elsewhere: same key',
    );
    await appendFile(join(changed, 'tokenizer.json'), ' ');
    const other = await plan('text', params({ text: { model: changed } }));
    assert.notEqual(other.featuresKey, base.featuresKey);
    assert.notEqual(other.modelSha256, base.modelSha256);

    // a worker holding another model than the plan's refuses to write under the plan's key
    const fresh = await plan('text', params({ text: { contextUtterances: 5 } }));
    await assert.rejects(
      runShard('text', fresh, 1, params({ text: { model: changed, contextUtterances: 5 } })),
      (err: unknown) =>
        err instanceof MerError &&
        err.type === 'MerModelMismatch' &&
        /not the one the stage was planned with/.test(err.message),
    );
  });

  test('finalise: report over all shards, then the plan sees the modality committed', async () => {
    const pl = await plan('audio');
    assert.deepEqual(pl.pendingShardKeys, [], 'both audio shards were committed above');
    const report = await finalizeExtractStep({
      store: spec,
      modality: 'audio',
      featuresPrefix: pl.featuresPrefix,
      modelSha256: pl.modelSha256,
      dim: pl.dim,
      shardKeys: seg.shardKeys,
    });
    assert.deepEqual([report.rows, report.ok, report.quarantined, report.dim], [7, 4, 3, 32]);
    assert.deepEqual(report.quarantineReasons, { audio_too_short: 1, segment_quarantined: 1, audio_unreadable: 1 });
    const again = await plan('audio');
    assert.equal(again.committed, true);
    // finalising before every shard is committed is an error, not a partial report
    const text = await plan('text', params({ text: { contextUtterances: 3 } }));
    await assert.rejects(
      finalizeExtractStep({
        store: spec,
        modality: 'text',
        featuresPrefix: text.featuresPrefix,
        modelSha256: text.modelSha256,
        dim: text.dim,
        shardKeys: seg.shardKeys,
      }),
      /not committed/,
    );
  });

  test('an uncommitted segment output or a broken shard index is a named error', async () => {
    await assert.rejects(
      planExtractStep({
        store: spec,
        modality: 'text',
        segmentPrefix: 'segments/missing',
        shardKeys: [],
        manifestKey: seg.manifestKey,
        params: params(),
      }),
      (err: unknown) => err instanceof MerError && err.type === 'MerSegmentsInvalid',
    );
    const pl = await plan('visual');
    await store.put('segments/seg-test/shards/broken.parquet', 'not parquet');
    await assert.rejects(
      extractShardStep(
        {
          store: spec,
          modality: 'visual',
          segmentPrefix: seg.segmentPrefix,
          manifestKey: seg.manifestKey,
          params: params(),
          shardKey: 'segments/seg-test/shards/broken.parquet',
          featuresPrefix: pl.featuresPrefix,
          modelSha256: pl.modelSha256,
        },
        localStepContext(),
        runtime,
      ),
      (err: unknown) =>
        err instanceof MerError &&
        err.type === 'MerSegmentsInvalid' &&
        /broken\.parquet: not a readable Parquet/.test(err.message),
    );
  });
});
