import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { join, relative } from 'node:path';
import { describe, test } from 'node:test';
import { WorkflowFailedError } from '@temporalio/client';
import { parquetReadObjects } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import { decodeCheckpoint } from '../../activities/model/checkpoint.ts';
import { exportedConfig, predict } from '../../activities/model/predict.ts';
import { readInferenceModel } from '../../activities/predict/model.ts';
import { LocalStore } from '../../activities/store/local.ts';
import { loadFeatureSets } from '../../activities/train/dataset.ts';
import { readSplitPlan } from '../../activities/train/plan.ts';
import { fetchReports } from '../../cli/report.ts';
import { pipelineWorkflowId } from '../../cli/run.ts';
import { renderStatus, runStatus } from '../../cli/status.ts';
import type { PipelineInput, TrainRunSummary } from '../../schemas/config.ts';
import { MetricsReportSchema } from '../../schemas/report.ts';
import { modelKeys } from '../../schemas/layout.ts';
import { FoldTrainResultSchema } from '../../schemas/train.ts';
import { failureMessage } from '../../workflows/pipeline.ts';
import { TINY } from '../extract/inputs.ts';
import { launchChromium } from '../helpers/chromium.ts';
import { pipelineInput as buildInput, runInProcess } from '../helpers/pipeline.ts';
import { pipelineTest } from '../helpers/pipeline-test.ts';
import { embeddedRun, seedsScenario } from './train-seeds.ts';

/**
 * The cue corpus end to end: every label leaves a trace in the words, the pitch and a colour band of
 * the video, each in 60% of the utterances, so only a model that combines modalities can be right
 * most of the time. acquire -> segment -> extract (tiny encoders) -> compress -> train through the
 * real Temporal server, five leave-one-session-out folds, the full model and each single modality.
 */

const fx = pipelineTest({ name: 'train-wf', seed: 3, scale: 'small', cue: true, iemocap: 'archive' });

const TRAIN = {
  lr: 0.001,
  maxEpochs: 20,
  patience: 6,
  batchSize: 16,
  // Epoch-end checkpoints only (mid-epoch ones are the train kill test's subject): each is ~40 MB.
  checkpointEverySteps: 0,
  splits: { iemocap: { protocol: 'loso' } },
  variants: [{}, { modalities: ['t'] }, { modalities: ['a'] }, { modalities: ['v'] }],
};

function pipelineInput(store: string, train: Record<string, unknown> = TRAIN): Promise<PipelineInput> {
  const rel = (p: string) => relative(fx.dir, p);
  const extract = {
    text: { model: rel(TINY.text) },
    audio: { model: rel(TINY.audio) },
    visual: { model: rel(TINY.visual) },
  };
  return buildInput(
    { iemocap: fx.archive('iemocap'), store, until: 'evaluate', taskQueuePrefix: 'train-wf' },
    { file: join(fx.dir, 'mer.json'), config: { extract, train, segment: { shardSize: 64, parallelism: 2 } } },
  );
}

const run = (input: PipelineInput) => runInProcess(fx.env, input);

/** The pipeline's own report in headless Chromium: every figure drawn and visible; a screenshot kept. */
async function renderInChromium(html: string, classes: readonly string[]): Promise<void> {
  const browser = await launchChromium();
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.setDefaultTimeout(30_000);
    const requests: string[] = [];
    page.on('request', (r) => requests.push(r.url()));
    const url = pathToFileURL(html).href;
    await page.goto(url, { waitUntil: 'load' });
    assert.match(await page.title(), /DeepMSI-MER evaluation: IEMOCAP 6class, loso protocol/);
    for (const id of ['confusion', 'curves', 'ablation', 'differences', 'slices', 'class-gains']) {
      const svg = page.locator(`figure#${id} svg[data-chart="${id}"]`);
      assert.equal(await svg.count(), 1, `${id}: one chart`);
      assert.ok(await svg.isVisible(), `${id}: visible`);
      const box = await svg.boundingBox();
      assert.ok(box && box.width > 300 && box.height > 200, `${id}: bounding box ${JSON.stringify(box)}`);
    }
    const labels = (await page.locator('figure#confusion svg text').allTextContents()).map((t) => t.trim());
    for (const c of classes) assert.ok(labels.includes(c), `confusion labels ${c}`);
    assert.equal(await page.locator('figure#confusion g.mark-rect.cells_marks path').count(), classes.length ** 2);
    assert.equal(await page.locator('figure#curves svg g.curve_loss_marks path').count(), 5, 'a loss curve per fold');
    const text = await page.locator('main').innerText();
    assert.match(text, /Reference per-class figures/);
    assert.match(text, /quarantined/);
    await mkdir(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'pipeline-report.png'), fullPage: true });
    assert.deepEqual(requests, [url], 'the report loads nothing but itself');
  } finally {
    await browser.close();
  }
}

const ARTIFACTS = fileURLToPath(new URL('../../artifacts/report/', import.meta.url));

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

// First, while the store's feature shards are intact (the test below corrupts one at its end).
describe('seeds, intervals and paired tests on the cue corpus', () => {
  test('3 seeds: V trails the full model significantly, a duplicate of the full model does not differ', async () => {
    const storeRoot = join(fx.dir, 'store');
    await seedsScenario(new LocalStore(storeRoot), (train) => pipelineInput(storeRoot, train), embeddedRun(fx.env));
  });
});

describe('MerPipeline on the cue corpus, through evaluate', () => {
  test('the full model beats every single modality on held-out sessions; outputs are content-addressed and a rerun trains nothing; a corrupt shard fails the stage naming it', async () => {
    const storeRoot = join(fx.dir, 'store');
    const store = new LocalStore(storeRoot);
    const input = await pipelineInput(storeRoot);
    const { result, progress } = await run(input);
    assert.equal(progress.status, 'completed');

    const compressed = result.compressed!.iemocap;
    assert.equal(compressed.outputs.length, 1, 'no variant trains without VSC: one compress output');
    const vsc = compressed.outputs[0];
    assert.ok(vsc.ratio > 1, `VSC shrank the visual data (${vsc.ratio}x)`);
    assert.ok(await store.committed(vsc.prefix));
    const report = JSON.parse((await store.get(vsc.reportKey)).toString('utf8')) as {
      utterances: number;
      seconds: number;
    };
    assert.equal(report.utterances, vsc.utterances);

    const trained = result.trained!.iemocap;
    assert.equal(trained.protocol, 'loso');
    assert.equal(trained.folds.length, 5);
    assert.deepEqual(trained.variants, ['T+A+V', 'T', 'A', 'V']);
    assert.equal(trained.runs.length, 20);
    assert.equal(new Set(trained.runs.map((r) => r.trainKey)).size, 20, 'every (variant, fold) has its own key');

    // Held-out data: each fold tests on a session it never trained or selected on.
    const plan = await readSplitPlan(store, trained.splitsKey);
    for (const f of plan.folds) {
      const train = new Set(f.train.utteranceIds);
      assert.ok(
        f.test.utteranceIds.every((id) => !train.has(id)) && f.validation.utteranceIds.every((id) => !train.has(id)),
      );
      assert.equal(f.optimistic, false);
    }
    const byVariant = (v: string): TrainRunSummary[] => trained.runs.filter((r) => r.variant === v);
    const score = (v: string) => ({
      weightedF1: mean(byVariant(v).map((r) => r.test.weightedF1)),
      accuracy: mean(byVariant(v).map((r) => r.test.accuracy)),
    });
    const full = score('T+A+V');
    for (const single of ['T', 'A', 'V']) {
      const s = score(single);
      console.log(
        `# ${single}: accuracy ${s.accuracy.toFixed(3)}, weighted F1 ${s.weightedF1.toFixed(3)}; T+A+V ${full.accuracy.toFixed(3)}, ${full.weightedF1.toFixed(3)}`,
      );
      assert.ok(full.weightedF1 > s.weightedF1, `T+A+V weighted F1 ${full.weightedF1} beats ${single} ${s.weightedF1}`);
      assert.ok(full.accuracy > s.accuracy, `T+A+V accuracy ${full.accuracy} beats ${single} ${s.accuracy}`);
    }

    // One fold's outputs in full: committed, readable by an independent Parquet reader, consistent.
    const first = trained.runs[0];
    const keys = modelKeys(first.trainKey);
    assert.ok(await store.committed(keys.prefix));
    const full0 = FoldTrainResultSchema.parse(JSON.parse((await store.get(keys.result)).toString('utf8')));
    assert.equal(full0.resumedFromStep, 0);
    assert.deepEqual(
      (await store.list(keys.checkpoints)).map((o) => o.key),
      [],
      'mid-run checkpoints are gone after commit',
    );
    assert.equal(decodeCheckpoint(await store.get(keys.final)).header.progress.finished, true);
    const weights = decodeCheckpoint(await store.get(keys.weights));
    assert.ok(
      weights.tensors.params.size > 0 && weights.tensors.adamM.size === 0,
      'best weights carry parameters, not optimiser state',
    );
    const history = JSON.parse((await store.get(keys.history)).toString('utf8')) as {
      history: {
        train?: { accuracy: number; weightedF1: number };
        validation: { accuracy: number; weightedF1: number } | null;
        loss: number;
      }[];
    };
    assert.equal(history.history.length, full0.epochs);
    for (const e of history.history) {
      assert.ok(
        e.train && Number.isFinite(e.train.accuracy) && Number.isFinite(e.train.weightedF1),
        'train metrics every epoch',
      );
      assert.ok(e.validation && Number.isFinite(e.validation.weightedF1), 'validation metrics every epoch');
    }
    const fold = plan.folds[0];
    const rows = (await parquetReadObjects({
      file: (await readFile(join(storeRoot, keys.predictions))).buffer,
      compressors,
    })) as {
      utteranceId: string;
      fold: string;
      label: number;
      predicted: number;
      probabilities: number[];
    }[];
    assert.deepEqual(
      rows.map((r) => r.utteranceId),
      fold.test.utteranceIds,
    );
    assert.deepEqual(
      rows.map((r) => r.label),
      fold.test.labels,
    );
    for (const r of rows) {
      assert.equal(r.fold, fold.name);
      assert.ok(Math.abs(r.probabilities.reduce((a, b) => a + b, 0) - 1) < 1e-4);
      assert.equal(r.predicted, r.probabilities.indexOf(Math.max(...r.probabilities)));
    }
    assert.equal(rows.filter((r) => r.label === r.predicted).length / rows.length, full0.test.accuracy);
    // The exported model stands alone: fed the fold's test features it gives the stored predictions.
    const onnx = new Uint8Array(await store.get(keys.onnx));
    assert.deepEqual(exportedConfig(onnx).modalities, ['t', 'a', 'v']);
    const refs = (keys: string[]) => keys.map((key) => ({ key }));
    const sources = {
      text: refs(result.features!.iemocap.modalities.text.shardKeys),
      audio: refs(result.features!.iemocap.modalities.audio.shardKeys),
      visual: refs(vsc.shardKeys),
    };
    const { sets } = await loadFeatureSets(store, sources, { test: fold.test });
    const again = await predict(onnx, sets.test);
    assert.deepEqual(
      [...again.predicted],
      rows.map((r) => r.predicted),
    );

    // The report: metrics.json validates and agrees with the trainings; the HTML shows its charts.
    const rep = result.reports!.iemocap;
    assert.equal(rep.ran, true);
    const metrics = MetricsReportSchema.parse(JSON.parse((await store.get(rep.metricsKey)).toString('utf8')));
    assert.deepEqual(
      metrics.variants.map((v) => v.name),
      ['T+A+V', 'T', 'A', 'V'],
    );
    assert.equal(metrics.variants[0].aggregate.mean.weightedF1, full.weightedF1);
    assert.equal(
      metrics.variants[0].aggregate.pooled.n,
      plan.folds.reduce((n, f) => n + f.test.utteranceIds.length, 0),
    );
    assert.equal(metrics.ablation?.length, 4);
    assert.equal(metrics.provenance.encoders.visual, result.features!.iemocap.modalities.visual.modelSha256);
    assert.deepEqual(
      metrics.figures.map((f) => f.id),
      ['confusion', 'curves', 'ablation', 'differences', 'slices', 'class-gains'],
    );
    // Slices: every variant by gender, actor, interaction and duration; the full model's gains over T, A, V.
    assert.deepEqual(
      metrics.slices?.variants.map((v) => v.variant),
      ['T+A+V', 'T', 'A', 'V'],
    );
    const kinds = new Set(metrics.slices?.variants[0].slices.map((x) => x.kind));
    assert.deepEqual([...kinds], ['gender', 'speaker', 'interaction', 'duration']);
    assert.ok(metrics.slices?.variants[0].slices.every((x) => x.kind !== 'speaker' || /^Ses\d\d[FM]$/.test(x.name)));
    assert.deepEqual(metrics.slices?.classGains?.against, ['T', 'A', 'V']);
    const fetched = await fetchReports(fx.env.client, input.configHash, join(fx.dir, 'fetched'));
    assert.equal(fetched.length, 1);
    // Stage timings belong to the run: beside the report (runs/<configHash>.json), not in it.
    assert.equal(fetched[0].run?.configHash, input.configHash);
    assert.ok(
      fetched[0].run?.timings.some((t) => t.stage === 'train' && (t.seconds ?? 0) > 0),
      'stage timings are reported',
    );
    await renderInChromium(fetched[0].html, metrics.classes);

    // Rerun: every training is found committed; nothing new is written under models/.
    const objects = (await store.list('models/')).map((o) => o.key).sort();
    const second = await run(input);
    assert.equal(second.result.trained!.iemocap.ran, false);
    assert.ok(second.result.trained!.iemocap.runs.every((r) => r.reused));
    assert.deepEqual(
      second.result.trained!.iemocap.runs.map((r) => r.test),
      trained.runs.map((r) => r.test),
    );
    assert.equal(second.result.compressed!.iemocap.ran, false);
    assert.equal(second.result.reports!.iemocap.ran, false);
    assert.equal(second.result.reports!.iemocap.evalKey, rep.evalKey);
    assert.deepEqual((await store.list('models/')).map((o) => o.key).sort(), objects);

    // An ablation without VSC and without the contrastive loss: one more compress output (VSC off)
    // next to the cached one, trained on it; everything before compress is reused.
    const off = await run(
      await pipelineInput(storeRoot, {
        ...TRAIN,
        splits: { iemocap: { protocol: 's5' } },
        variants: [{ vsc: false, contrastive: false }],
      }),
    );
    const outs = off.result.compressed!.iemocap.outputs;
    assert.deepEqual(
      outs.map((o) => [o.enabled, o.ran]),
      [
        [true, false],
        [false, true],
      ],
    );
    assert.equal(outs[0].vscKey, vsc.vscKey);
    assert.ok(outs[1].ratio < vsc.ratio, 'without VSC the visual data shrinks less');
    assert.equal(off.result.features!.iemocap.ran, false);
    const offRun = off.result.trained!.iemocap.runs;
    assert.deepEqual(
      offRun.map((r) => r.variant),
      ['T+A+V-noVSC-noCL'],
    );
    const offModel = readInferenceModel(
      new Uint8Array(await store.get(modelKeys(offRun[0].trainKey).onnx)),
      'noVSC model',
    );
    assert.equal(offModel.recipe.vsc.enabled, false, 'the model records that its visual input had no VSC');
    const offReport = MetricsReportSchema.parse(
      JSON.parse((await store.get(off.result.reports!.iemocap.metricsKey)).toString('utf8')),
    );
    assert.deepEqual(
      offReport.variants.map((v) => [v.name, v.vsc, v.contrastive]),
      [['T+A+V-noVSC-noCL', false, false]],
    );
    assert.equal(offReport.provenance.vscKeys.length, 2);

    // A forced divergence (an absurd learning rate in one variant): that training fails once, typed and
    // not retried; the other variant trains and is reported; the report and `mer status` show it.
    const divergingInput = await pipelineInput(storeRoot, {
      ...TRAIN,
      splits: { iemocap: { protocol: 's5' } },
      variants: [{ modalities: ['t'] }, { lr: 1e20 }],
    });
    const div = await run(divergingInput);
    assert.equal(div.progress.status, 'completed', 'a diverged variant is a result, not a failed run');
    const divTrained = div.result.trained!.iemocap;
    assert.deepEqual(divTrained.variants, ['T', 'T+A+V-lr1e+20']);
    assert.deepEqual(
      divTrained.runs.map((r) => r.variant),
      ['T'],
    );
    assert.deepEqual(
      divTrained.diverged?.map((d) => [d.variant, d.fold, d.epoch]),
      [['T+A+V-lr1e+20', 's5', 0]],
    );
    assert.match(divTrained.diverged[0].message, /lower the lr of variant T\+A\+V-lr1e\+20 \(now 1e\+20\)/);
    const divChild = await fx.env.client.workflow
      .getHandle(`${pipelineWorkflowId(divergingInput.configHash)}/train/iemocap`)
      .fetchHistory();
    const divFailures = (divChild.events ?? []).filter((e) => e.activityTaskFailedEventAttributes);
    assert.deepEqual(
      divFailures.map((e) => e.activityTaskFailedEventAttributes!.failure?.applicationFailureInfo?.type),
      ['MerTrainingDiverged'],
      'the diverged training ran once: no retry',
    );
    const divReport = MetricsReportSchema.parse(
      JSON.parse((await store.get(div.result.reports!.iemocap.metricsKey)).toString('utf8')),
    );
    assert.deepEqual(
      divReport.variants.map((v) => v.name),
      ['T'],
    );
    assert.deepEqual(
      divReport.diverged?.map((d) => d.variant),
      ['T+A+V-lr1e+20'],
    );
    const divHtml = (await store.get(div.result.reports!.iemocap.htmlKey)).toString('utf8');
    assert.match(divHtml, /Diverged: T\+A\+V-lr1e\+20/);
    const divStatus = await runStatus(fx.env.client, divergingInput.configHash);
    const statusText = renderStatus(divStatus).join('\n');
    assert.match(statusText, /diverged: train: iemocap variant T\+A\+V-lr1e\+20 fold s5 diverged/);
    // A rerun with a changed setting trains only what the change touches: T is reused.
    const fixedRun = await run(
      await pipelineInput(storeRoot, {
        ...TRAIN,
        splits: { iemocap: { protocol: 's5' } },
        variants: [{ modalities: ['t'] }, { lr: 1e-3, name: 'T+A+V-fixed' }],
      }),
    );
    const fixedTrained = fixedRun.result.trained!.iemocap;
    assert.equal(fixedTrained.diverged, undefined);
    assert.deepEqual(
      fixedTrained.runs.map((r) => [r.variant, r.reused]),
      [
        ['T', true],
        ['T+A+V-fixed', false],
      ],
    );

    // A corrupt feature shard: the stage fails without retries, naming the shard; committed models stay.
    const textShard = sources.text[1].key;
    const bytes = await store.get(textShard);
    await writeFile(join(storeRoot, textShard), bytes.subarray(0, Math.floor(bytes.length / 2)));
    const other = await pipelineInput(storeRoot, { ...TRAIN, seed: 1, variants: [{}] });
    const failed = await run(other).then(
      () => assert.fail('the run should fail on the corrupt shard'),
      (err: unknown) => err,
    );
    assert.ok(failed instanceof WorkflowFailedError, String(failed));
    const msg = failureMessage(failed);
    assert.match(msg, /corrupt shard/);
    assert.ok(msg.includes(textShard), `the failure names the shard: ${msg}`);
    // Retrying reads the same bytes: the failing activity ran once.
    const child = await fx.env.client.workflow
      .getHandle(`${pipelineWorkflowId(other.configHash)}/train/iemocap`)
      .fetchHistory();
    const failures = (child.events ?? []).filter((e) => e.activityTaskFailedEventAttributes);
    assert.equal(failures.length, 1);
    assert.equal(
      failures[0].activityTaskFailedEventAttributes!.failure?.applicationFailureInfo?.type,
      'MerFeatureShardCorrupt',
    );
    const later = new Set([offRun[0], ...divTrained.runs, ...fixedTrained.runs].map((r) => r.trainKey));
    later.add(divTrained.diverged[0].trainKey);
    const models = (await store.list('models/'))
      .map((o) => o.key)
      .filter((k) => ![...later].some((key) => k.includes(key)))
      .sort();
    assert.deepEqual(models, objects, 'nothing committed was lost or touched');
  });
});
