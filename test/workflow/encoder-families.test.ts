import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { readModelFolder } from '../../activities/extract/model-folder.ts';
import { LocalStore } from '../../activities/store/local.ts';
import { MetricsReportSchema, type EncoderIdentity } from '../../schemas/report.ts';
import { MODELS, TINY } from '../extract/inputs.ts';
import { pipelineInput, runInProcess } from '../helpers/pipeline.ts';
import { pipelineTest } from '../helpers/pipeline-test.ts';

/**
 * Encoders as configuration (issue 17), end to end: a run config that switches text to RoBERTa and
 * speech to WavLM (the tiny random-weight fixtures of those architectures) goes through acquire,
 * segment, extract, compress, train and evaluate on a tiny MELD corpus (official split: one
 * training, one epoch), and the report's provenance names each modality's family, model_type and
 * the sha256 of every encoder file, next to the folder fingerprints.
 */

const fx = pipelineTest({ name: 'enc-families', seed: 5, meld: 'archive' });

const ENCODERS = {
  text: { dir: join(MODELS, 'tiny-roberta'), family: 'RoBERTa', modelType: 'roberta' },
  audio: { dir: join(MODELS, 'tiny-wavlm'), family: 'WavLM', modelType: 'wavlm' },
  visual: { dir: TINY.visual, family: 'Swin', modelType: 'swin' },
} as const;

const sha256 = async (path: string) =>
  createHash('sha256')
    .update(await readFile(path))
    .digest('hex');

describe('encoder families through the pipeline', () => {
  test('RoBERTa text and WavLM speech through train and evaluate; the report names families and file hashes', async () => {
    await fx.whenReady();
    const storeRoot = join(fx.dir, 'store');
    const input = await pipelineInput(
      { meld: fx.archive('meld'), store: storeRoot, until: 'evaluate', taskQueuePrefix: 'enc-families' },
      {
        file: join(fx.dir, 'mer.json'),
        config: {
          segment: { frames: 4 },
          extract: {
            text: { model: ENCODERS.text.dir },
            audio: { model: ENCODERS.audio.dir },
            visual: { model: ENCODERS.visual.dir },
          },
          train: { maxEpochs: 1, patience: 1, batchSize: 8, checkpointEverySteps: 0 },
        },
      },
    );
    const { result, progress } = await runInProcess(fx.env, input);
    assert.equal(progress.status, 'completed');

    const store = new LocalStore(storeRoot);
    const features = result.features!.meld.modalities;
    const evaluated = result.reports!.meld;
    const report = MetricsReportSchema.parse(JSON.parse((await store.get(evaluated.metricsKey)).toString('utf8')));
    const models = report.provenance.encoderModels;
    assert.ok(models, 'the provenance names the encoders');
    for (const m of ['text', 'audio', 'visual'] as const) {
      const want = ENCODERS[m];
      const folder = await readModelFolder(m, want.dir);
      assert.equal(features[m].ok > 0, true, `${m}: features were computed`);
      assert.equal(report.provenance.encoders[m], folder.sha256, `${m}: the folder fingerprint`);
      const got: EncoderIdentity | null = models[m];
      assert.deepEqual([got?.family, got?.modelType], [want.family, want.modelType], m);
      assert.deepEqual(
        got!.files.map((f) => f.path),
        folder.files.map((f) => f.path),
      );
      for (const f of got!.files) assert.equal(f.sha256, await sha256(join(want.dir, f.path)), `${m}: ${f.path}`);
    }
    const markdown = (await store.get(evaluated.markdownKey)).toString('utf8');
    assert.match(markdown, /encoder families.*text RoBERTa \(roberta\), audio WavLM \(wavlm\), visual Swin \(swin\)/);
  });
});
