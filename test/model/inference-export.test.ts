/**
 * The exported standalone inference model (weights as initializers) against the eval-mode forward
 * the trainer validates with (same model code, weights fed as inputs).
 *
 * Both run in float32 on the same kernels, but with the weights as initializers onnxruntime folds
 * constant subgraphs (weight norm, BatchNorm scale) at load time, which rounds differently from
 * computing them per run: we allow 1e-5 relative to the logits' scale, ~100 float32 ulps.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import onnxProto from 'onnx-proto';
import { floatData, openSession } from '../../activities/engine/session.ts';
import { defaultLossConfig, defaultOptimizerConfig } from '../../activities/model/config.ts';
import { gatherBatch } from '../../activities/model/data.ts';
import { featureFeeds } from '../../activities/model/feeds.ts';
import { argmaxRows } from '../../activities/model/metrics.ts';
import { exportedConfig, predict } from '../../activities/model/predict.ts';
import { Evaluator, TrainStepRunner } from '../../activities/model/runtime.ts';
import { train } from '../../activities/model/trainer.ts';
import type { TrainResult } from '../../activities/model/trainer.ts';
import { syntheticFeatures } from './synthetic.ts';
import { tinyConfig } from './tiny.ts';

const model = tinyConfig({ summary: 'guided' });
const testSet = syntheticFeatures(model, { n: 23, informative: ['v', 'a'], seed: 9 });
const rows = Int32Array.from({ length: testSet.n }, (_, i) => i);

describe('inference export', () => {
  let result: TrainResult;
  before(async () => {
    result = await train(
      {
        train: syntheticFeatures(model, { n: 40, informative: ['v', 'a'], seed: 3 }),
        validation: syntheticFeatures(model, { n: 12, informative: ['v', 'a'], seed: 4 }),
      },
      {
        model,
        loss: defaultLossConfig(),
        optimizer: { ...defaultOptimizerConfig(), lr: 1e-2 },
        batchSize: 8,
        maxEpochs: 2,
        patience: 2,
        seed: 77,
        checkpointEverySteps: 0,
      },
      { runtime: { threads: 1 } },
    );
  });

  test('gives the eval-mode logits of the selected weights', async () => {
    const session = await openSession(result.exportInference(), { threads: 1 });
    const exported = floatData(
      (await session.run(featureFeeds(model, gatherBatch(testSet, model, rows, false), 'float32'))).logits,
    );
    // eval graph with the same weights as inputs, via a runner loaded with them
    const runner = await TrainStepRunner.create(model, defaultLossConfig(), defaultOptimizerConfig(), { threads: 1 });
    runner.load(result.weights);
    const evaluator = await Evaluator.create(model, { threads: 1 });
    const reference = await evaluator.logits(gatherBatch(testSet, model, rows, false), runner.weightFeeds());
    const scale = Math.max(...Array.from(reference, Math.abs));
    assert.ok(scale > 0.1, 'degenerate logits');
    for (let i = 0; i < reference.length; i++)
      assert.ok(Math.abs(exported[i] - reference[i]) <= 1e-5 * scale, `logit ${i}: ${exported[i]} vs ${reference[i]}`);
    await Promise.all([session.release(), runner.release(), evaluator.release()]);
  });

  test('is batch-independent, outputs probabilities and carries its configuration', async () => {
    const bytes = result.exportInference({ classes: 'hap,sad,neu' });
    const session = await openSession(bytes, { threads: 1 });
    assert.deepEqual([...session.inputNames].sort(), ['a', 't', 'v', 'v_len']);
    assert.deepEqual([...session.outputNames].sort(), ['logits', 'probabilities']);
    const all = await session.run(featureFeeds(model, gatherBatch(testSet, model, rows, false), 'float32'));
    const logits = floatData(all.logits);
    const probs = floatData(all.probabilities);
    for (let i = 0; i < testSet.n; i++) {
      const one = await session.run(featureFeeds(model, gatherBatch(testSet, model, [i], false), 'float32'));
      const l1 = floatData(one.logits);
      for (let c = 0; c < 3; c++)
        assert.ok(
          Math.abs(l1[c] - logits[i * 3 + c]) <= 1e-5 * (1 + Math.abs(l1[c])),
          `sample ${i} differs alone vs in a batch`,
        );
      const sum = probs[i * 3] + probs[i * 3 + 1] + probs[i * 3 + 2];
      assert.ok(Math.abs(sum - 1) < 1e-6);
    }
    await session.release();
    const proto = onnxProto.onnx.ModelProto.decode(bytes);
    const meta = new Map(proto.metadataProps.map((p) => [p.key, p.value]));
    assert.equal(meta.get('classes'), 'hap,sad,neu');
    assert.deepEqual(JSON.parse(String(meta.get('model_config'))), model);
    assert.equal(Number(proto.opsetImport[0].version), 17);
    assert.ok(
      (proto.graph?.node ?? []).every((n) => !n.domain),
      'only standard-domain operators',
    );
  });

  test('predict() reads the configuration from the file and matches a direct run, in chunks', async () => {
    const bytes = result.exportInference();
    assert.deepEqual(exportedConfig(bytes), model);
    const { labels: _drop, ...unlabelled } = testSet;
    const chunked = await predict(bytes, unlabelled, { threads: 1 }, 5);
    const session = await openSession(bytes, { threads: 1 });
    const direct = floatData(
      (await session.run(featureFeeds(model, gatherBatch(testSet, model, rows, false), 'float32'))).logits,
    );
    await session.release();
    for (let i = 0; i < direct.length; i++)
      assert.ok(Math.abs(chunked.logits[i] - direct[i]) <= 1e-5 * (1 + Math.abs(direct[i])));
    assert.deepEqual(chunked.predicted, argmaxRows(direct, 3));
    await assert.rejects(predict(bytes, { ...unlabelled, vLengths: undefined }), /vLengths/);
  });
});
