/**
 * The train-pipeline test's seeds scenario (issue 18), kept apart so that file stays readable: the cue
 * corpus trained with 3 seeds, the full model, V alone and a deliberately null variant (the full model
 * under another name), then evaluated with intervals and paired tests. On the store the pipeline test
 * already filled, so acquire, segment, extract and compress are reused and only trainings run.
 *
 * The `paper` protocol with 2 folds keeps it small (12 short trainings): every utterance is tested once
 * per seed, so the paired tests see the whole corpus's dialogues; its model selection on the test fold
 * (optimistic) does not matter to what is asserted here. The runs are served as `mer run` serves an
 * embedded run: `train.parallelism` unset, so as many trainings at once as the machine has cores.
 */
import assert from 'node:assert/strict';
import type { PipelineInput, PipelineResult } from '../../schemas/config.ts';
import { MetricsReportSchema } from '../../schemas/report.ts';
import type { LocalStore } from '../../activities/store/local.ts';
import { readSplitPlan } from '../../activities/train/plan.ts';
import type { ProgressSnapshot } from '../../workflows/progress.ts';
import { availableParallelism } from 'node:os';
import { embeddedTrainSlots, withEmbeddedParallelism } from '../../cli/run-queues.ts';
import { FoldTrainResultSchema } from '../../schemas/train.ts';
import { createEmbeddedWorkers } from '../../cli/session.ts';
import { runInProcess, type TemporalTarget } from '../helpers/pipeline.ts';

export const SEEDS_TRAIN = {
  lr: 0.001,
  maxEpochs: 3,
  patience: 3,
  batchSize: 16,
  checkpointEverySteps: 0,
  splits: { iemocap: { protocol: 'paper', folds: 2 } },
  seeds: 3,
  variants: [{}, { modalities: ['v'] }, { name: 'T+A+V-again' }],
};

type Run = (input: PipelineInput) => Promise<{ result: PipelineResult; progress: ProgressSnapshot }>;

/** Wall time per stage of a run, for the log: what this scenario adds to the suite. */
function stageTimes(progress: ProgressSnapshot): string {
  return progress.stages
    .filter((s) => s.startedAt && s.endedAt)
    .map((s) => `${s.stage} ${((Date.parse(s.endedAt!) - Date.parse(s.startedAt!)) / 1000).toFixed(1)} s`)
    .join(', ');
}

/** A run as the embedded `mer run` serves it: trainings side by side as the cores allow. */
export function embeddedRun(env: TemporalTarget): Run {
  return async (input) => {
    const embedded = withEmbeddedParallelism(input);
    const workers = await createEmbeddedWorkers(env.nativeConnection, 'default', embedded);
    return runInProcess(env, embedded, { workers });
  };
}

export async function seedsScenario(
  store: LocalStore,
  input: (train: Record<string, unknown>) => Promise<PipelineInput>,
  run: Run,
): Promise<void> {
  const { result, progress } = await run(await input(SEEDS_TRAIN));
  console.log(`# seeds run: ${stageTimes(progress)}`);
  const trained = result.trained!.iemocap;
  assert.deepEqual(trained.variants, ['T+A+V', 'V', 'T+A+V-again']);
  // Every (variant, seed, fold) is a training, in variant, seed, fold order, carrying its seed.
  assert.equal(trained.runs.length, 3 * 3 * 2);
  assert.deepEqual(
    trained.runs.filter((r) => r.variant === 'V').map((r) => [r.seed, r.fold]),
    [0, 1, 2].flatMap((s) => trained.folds.map((f) => [s, f.name])),
  );
  const keys = (v: string) => trained.runs.filter((r) => r.variant === v).map((r) => r.trainKey);
  assert.equal(new Set([...keys('T+A+V'), ...keys('V')]).size, 12, 'a key per (variant, seed, fold)');
  // The name is in no key: the null variant is the full model's trainings, reused, not trained again.
  assert.deepEqual(keys('T+A+V-again'), keys('T+A+V'));
  assert.ok(trained.runs.filter((r) => r.variant === 'T+A+V-again').every((r) => r.reused));

  // Served as an embedded run: as many trainings at once as cores, each with cores / that many threads.
  const slots = embeddedTrainSlots(withEmbeddedParallelism(await input(SEEDS_TRAIN)));
  assert.equal(slots.concurrency, availableParallelism());
  const fresh = trained.runs.find((r) => !r.reused)!;
  const stored = FoldTrainResultSchema.parse(JSON.parse((await store.get(fresh.resultKey)).toString('utf8')));
  assert.equal(stored.threads, slots.threads ?? 0);
  assert.equal(stored.seed, fresh.seed);

  // Seed 1 of the list is the training `train.seed: 1` alone would make: same keys, nothing trained.
  const { seeds: _s, ...single } = SEEDS_TRAIN;
  const again = await run(await input({ ...single, seed: 1, variants: [{}] }));
  console.log(`# single-seed rerun: ${stageTimes(again.progress)}`);
  const one = again.result.trained!.iemocap;
  assert.deepEqual(
    one.runs.map((r) => [r.trainKey, r.reused, r.seed]),
    trained.runs.filter((r) => r.variant === 'T+A+V' && r.seed === 1).map((r) => [r.trainKey, true, 1]),
  );

  const report = MetricsReportSchema.parse(
    JSON.parse((await store.get(result.reports!.iemocap.metricsKey)).toString('utf8')),
  );
  const plan = await readSplitPlan(store, trained.splitsKey);
  const tested = plan.folds.reduce((n, f) => n + f.test.utteranceIds.length, 0);
  for (const v of report.variants) {
    assert.deepEqual(v.seeds?.seeds, [0, 1, 2]);
    assert.equal(v.seeds?.degenerate, false);
    const i = v.seeds.interval.weightedF1;
    assert.ok(i.low <= i.estimate && i.estimate <= i.high, `${v.name}: t interval ${JSON.stringify(i)}`);
    assert.equal(v.pooledInterval?.items, 3 * tested, 'every seed stacked');
    assert.equal(v.pooledInterval?.rounds, 1000);
  }
  const byName = (variant: string, metric: string) =>
    report.comparisons?.find((c) => c.variant === variant && c.metric === metric);
  for (const metric of ['accuracy', 'weightedF1']) {
    // The cue modalities' known effect: the full model reads three cues, V one.
    const v = byName('V', metric)!;
    console.log(
      `# V - T+A+V ${metric}: ${v.difference.toFixed(3)} [${v.low.toFixed(3)}, ${v.high.toFixed(3)}], Holm p ${v.pAdjusted}`,
    );
    assert.ok(v.difference < 0 && v.high < 0, `V trails the full model: ${JSON.stringify(v)}`);
    assert.equal(v.holds, true);
    // The null variant: the same predictions, difference 0, p 1 after Holm.
    const d = byName('T+A+V-again', metric)!;
    assert.deepEqual([d.difference, d.pValue, d.pAdjusted, d.holds], [0, 1, 1, false]);
    assert.equal(d.items, 3 * tested);
  }
  assert.deepEqual(report.statistics?.seeds, [0, 1, 2]);
  assert.match(report.statistics.statement, /approximate randomisation over dialogues \(10,000 rounds, seed 0/);
  const html = (await store.get(result.reports!.iemocap.htmlKey)).toString('utf8');
  for (const shown of ['Intervals (95%)', 'Paired tests against T+A+V', 'does not hold', 'data-chart="differences"'])
    assert.ok(html.includes(shown), `the report shows ${shown}`);
  assert.match(html, /Score \(mean over seeds, 95% t interval\)/, 'error bars are the intervals over seeds');
}
