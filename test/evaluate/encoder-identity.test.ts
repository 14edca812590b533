/**
 * The encoders' identity through the stages (issue 17): each extract shard commit records the
 * folder's model_type and file hashes, the extract report.json names family, model_type and files,
 * and the evaluate provenance reads them back per modality (null for an extract output written
 * before they were recorded).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { localStepContext } from '../../activities/common/context.ts';
import { encoderModels, encoderRows } from '../../activities/evaluate/encoders.ts';
import { finalizeExtractStep } from '../../activities/extract/finalize.ts';
import { planExtractStep } from '../../activities/extract/plan.ts';
import { releaseEncoderSessions } from '../../activities/extract/sessions.ts';
import { extractShardStep } from '../../activities/extract/shard.ts';
import { closeStores, createStore } from '../../activities/store/index.ts';
import type { ObjectStore } from '../../activities/store/types.ts';
import { ExtractParamsSchema, type Modality } from '../../schemas/extract.ts';
import { featuresReportKey } from '../../schemas/layout.ts';
import { OnnxRuntimeSettingsSchema } from '../../schemas/runtime.ts';
import { TINY } from '../extract/inputs.ts';
import { buildSegments } from '../extract/segment-fixture.ts';

let root: string;
let store: ObjectStore;
const reportKeys = {} as Record<Modality, { reportKey: string }>;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'mer-encoder-identity-'));
  const spec = { kind: 'local' as const, root };
  store = createStore(spec);
  const seg = await buildSegments(
    store,
    'seg-identity',
    [
      {
        id: 'dia1_utt0',
        dialogue: '1',
        index: 0,
        text: 'Hi.',
        audio: { samples: 800, seed: 1 },
        frames: { count: 1, seed: 1 },
      },
    ],
    64,
  );
  const params = ExtractParamsSchema.parse({
    text: { model: TINY.text },
    audio: { model: TINY.audio },
    visual: { model: TINY.visual },
  });
  const runtime = OnnxRuntimeSettingsSchema.parse({ threads: 1 });
  for (const modality of ['text', 'audio', 'visual'] as const) {
    const base = { store: spec, modality, segmentPrefix: seg.segmentPrefix, manifestKey: seg.manifestKey, params };
    const plan = await planExtractStep({ ...base, shardKeys: seg.shardKeys });
    await extractShardStep(
      { ...base, shardKey: seg.shardKeys[0], featuresPrefix: plan.featuresPrefix, modelSha256: plan.modelSha256 },
      localStepContext(),
      runtime,
    );
    await finalizeExtractStep({
      store: spec,
      modality,
      featuresPrefix: plan.featuresPrefix,
      modelSha256: plan.modelSha256,
      dim: plan.dim,
      shardKeys: seg.shardKeys,
    });
    reportKeys[modality] = { reportKey: featuresReportKey(plan.featuresPrefix) };
  }
});

after(async () => {
  await releaseEncoderSessions();
  await closeStores();
  await rm(root, { recursive: true, force: true });
});

const sha256 = async (path: string) =>
  createHash('sha256')
    .update(await readFile(path))
    .digest('hex');

describe('encoder identity', () => {
  test('the extract report names family, model_type and the sha256 of each file read', async () => {
    const report = JSON.parse((await store.get(reportKeys.text.reportKey)).toString('utf8')) as {
      encoder: { family: string; modelType: string; files: Array<{ path: string; size: number; sha256: string }> };
    };
    assert.deepEqual([report.encoder.family, report.encoder.modelType], ['BERT', 'bert']);
    assert.deepEqual(
      report.encoder.files.map((f) => f.path),
      ['config.json', 'tokenizer.json', 'onnx/model.onnx'],
    );
    for (const f of report.encoder.files) assert.equal(f.sha256, await sha256(join(TINY.text, f.path)), f.path);
  });

  test('the evaluate provenance reads each modality back, and renders one row of families', async () => {
    const models = await encoderModels(store, reportKeys);
    assert.deepEqual(
      [models.text?.modelType, models.audio?.modelType, models.visual?.modelType],
      ['bert', 'wav2vec2', 'swin'],
    );
    assert.equal(
      models.audio?.files.find((f) => f.path === 'onnx/model.onnx')?.sha256,
      await sha256(join(TINY.audio, 'onnx/model.onnx')),
    );
    assert.deepEqual(encoderRows(models), [
      ['encoder families', 'text BERT (bert), audio wav2vec2 (wav2vec2), visual Swin (swin)'],
    ]);
    assert.deepEqual(encoderRows(undefined), []);
  });

  test('an extract report written before the identity was recorded gives null for its modality', async () => {
    const key = 'features/text/old/report.json';
    await store.put(key, JSON.stringify({ modality: 'text', featuresPrefix: 'features/text/old', rows: 1 }));
    const models = await encoderModels(store, { ...reportKeys, text: { reportKey: key } });
    assert.equal(models.text, null);
    assert.equal(models.visual?.family, 'Swin');
    assert.match(encoderRows(models)[0][1], /^text unknown, audio wav2vec2/);
  });
});
