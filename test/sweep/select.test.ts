import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { tInterval } from '../../activities/evaluate/stats/index.ts';
import { renderSweepHtml } from '../../activities/sweep/report.ts';
import { SELECTION_RULE, selectOnValidation, type SweepSettingOutcome } from '../../activities/sweep/select.ts';
import type { DatasetTrainResult, TrainRunSummary } from '../../schemas/config.ts';
import { sweepOutcome } from '../../schemas/sweep-outcome.ts';
import { SweepReportSchema, type SweepReport } from '../../schemas/sweep.ts';

const m = (weightedF1: number) => ({ accuracy: weightedF1 + 0.01, weightedF1, macroF1: weightedF1 - 0.01, n: 50 });

/** A run of `variant` on `fold` with these validation and test weighted F1 (and a seed when given). */
function run(variant: string, fold: string, val: number | null, test: number, seed?: number): TrainRunSummary {
  return {
    trainKey: `${variant}-${fold}-${val}-${test}-${seed ?? 0}`,
    variant,
    fold,
    bestEpoch: 1,
    validation: val === null ? null : m(val),
    test: m(test),
    epochs: 2,
    resumedFromStep: 0,
    resultKey: 'r',
    reused: false,
    ...(seed === undefined ? {} : { seed }),
  };
}

function trained(runs: TrainRunSummary[], o: Partial<DatasetTrainResult> = {}): DatasetTrainResult {
  return {
    dataset: 'iemocap',
    splitsKey: 's',
    planKey: 'p',
    protocol: 'loso',
    optimistic: false,
    classes: ['a', 'b'],
    folds: [],
    variants: ['T+A+V', 'T'],
    runs,
    ran: true,
    ...o,
  };
}

function outcome(
  index: number,
  t: DatasetTrainResult | undefined,
  status: SweepSettingOutcome['status'] = 'completed',
): SweepSettingOutcome {
  return {
    index,
    label: `train.lr=${index}`,
    values: { 'train.lr': index },
    status,
    workflowId: `w/setting-${index}`,
    configHash: `h${index}`,
    datasets: sweepOutcome(t ? { iemocap: t } : {}),
  };
}

/** Per-fold validation and test weighted F1 of the full model, and a T variant that tests better still. */
const folds = (val: number[], test: number[]) => [
  ...val.map((v, i) => run('T+A+V', `f${i}`, v, test[i])),
  ...val.map((_, i) => run('T', `f${i}`, 0.99, 0.99)),
];

describe('selection on validation', () => {
  test('ranks by the full model’s mean validation weighted F1, not by test; only the chosen setting’s test metrics are results', () => {
    const val = { a: [0.6, 0.62, 0.64], b: [0.7, 0.71, 0.69], c: [0.5, 0.55, 0.52] };
    const test = { a: [0.9, 0.91, 0.92], b: [0.6, 0.61, 0.62], c: [0.4, 0.4, 0.4] };
    const settings = [
      outcome(0, trained(folds(val.a, test.a))),
      outcome(1, trained(folds(val.b, test.b))),
      outcome(2, trained(folds(val.c, test.c))),
      outcome(3, undefined, 'failed'),
      outcome(
        4,
        trained([run('T', 'f0', 0.99, 0.99)], {
          diverged: [
            { trainKey: 'x', variant: 'T+A+V', fold: 'f0', epoch: 0, step: 3, loss: 'NaN', message: 'diverged' },
          ],
        }),
        'diverged',
      ),
    ];
    settings[3].error = 'boom';
    const [d] = selectOnValidation(settings);
    assert.equal(d.variant, 'T+A+V');
    assert.equal(d.intervalOver, 'folds');
    const meanOf = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
    const best = (Object.keys(val) as (keyof typeof val)[]).sort((x, y) => meanOf(val[y]) - meanOf(val[x]));
    assert.equal(d.chosen?.index, ['a', 'b', 'c'].indexOf(best[0]), 'the best on validation');
    assert.notEqual(d.chosen?.index, 0, 'setting 0 is best on test, and not chosen');
    assert.deepEqual(d.chosen?.validation, tInterval(val.b));
    assert.deepEqual(d.chosen?.test.weightedF1, tInterval(test.b));
    assert.deepEqual(
      d.settings.map((s) => s.rank),
      [2, 1, 3, null, null],
    );
    assert.equal(d.settings[1].testNotForSelection, undefined, 'the chosen test metrics are reported once');
    assert.deepEqual(d.settings[0].testNotForSelection?.weightedF1, tInterval(test.a));
    assert.equal(d.settings[3].validation, null);
    assert.equal(d.settings[4].validation, null, 'a diverged full model is a result, not a rank');
    assert.match(d.notes.join(' '), /Not ranked: setting 4 \(failed: boom\); setting 5 \(diverged\)/);
    assert.equal(d.optimistic, false);
    const iv = d.chosen.validation;
    assert.ok(iv.low < iv.mean && iv.mean < iv.high && !iv.degenerate);
  });

  test('with several seeds the interval is over seeds (each seed’s fold mean); ties go to the earlier setting', () => {
    const seeded = (base: number) =>
      [0, 1, 2].flatMap((seed) =>
        ['f0', 'f1'].map((f, i) => run('T+A+V', f, base + seed * 0.01 + i * 0.02, 0.5, seed)),
      );
    const [d] = selectOnValidation([outcome(0, trained(seeded(0.6))), outcome(1, trained(seeded(0.6)))]);
    assert.equal(d.intervalOver, 'seeds');
    assert.equal(d.settings[0].seeds, 3);
    assert.equal(d.settings[0].folds, 2);
    const perSeed = [0, 1, 2].map((s) => (0.6 + s * 0.01 + 0.6 + s * 0.01 + 0.02) / 2);
    assert.equal(d.chosen?.validation.n, 3);
    assert.ok(Math.abs(d.chosen.validation.mean - perSeed.reduce((a, b) => a + b) / 3) < 1e-12);
    assert.equal(d.chosen?.index, 0, 'a tie goes to the earlier setting');
  });

  test('under the paper protocol the selection is said to be optimistic; without validation nothing is chosen', () => {
    const [paper] = selectOnValidation([
      outcome(0, trained(folds([0.6], [0.6]), { protocol: 'paper', optimistic: true })),
    ]);
    assert.equal(paper.optimistic, true);
    assert.match(paper.notes.join(' '), /Selection is optimistic: the paper protocol has no separate validation split/);
    const [none] = selectOnValidation([outcome(0, trained([run('T+A+V', 'f0', null, 0.5)]))]);
    assert.equal(none.chosen, null);
    assert.match(none.notes.join(' '), /No setting has validation metrics/);
  });

  test('the report page: the ranking, the chosen setting, the others labelled not for selection, a chart per key and a heat map', async () => {
    const settings = [0, 1, 2, 3].map((i) => {
      const o = outcome(i, trained(folds([0.5 + i * 0.03, 0.52 + i * 0.02], [0.5, 0.5])));
      o.values = { 'train.lr': i < 2 ? 0.001 : 0.01, 'train.contrastiveWeight': i % 2 ? 0.5 : 0 };
      o.label = Object.entries(o.values)
        .map(([k, v]) => `${k}=${v}`)
        .join(', ');
      return o;
    });
    const report: SweepReport = SweepReportSchema.parse({
      schema: 'mer-sweep',
      version: 1,
      sweepKey: 'k',
      reportKey: 'r',
      mode: 'grid',
      keys: ['train.lr', 'train.contrastiveWeight'],
      selection: SELECTION_RULE,
      settings: settings.map(({ datasets: _d, ...s }) => s),
      datasets: selectOnValidation(settings),
    });
    const html = await renderSweepHtml(report);
    assert.match(html, /Settings ranked by validation weighted F1/);
    assert.match(html, /1 \(chosen\)/);
    assert.match(html, /NOT FOR SELECTION/);
    assert.match(html, /Chosen: setting 4 \(train\.lr=0\.01, train\.contrastiveWeight=0\.5\)/);
    assert.equal(html.match(/data-chart="sweep-metric"/g)?.length, 2);
    assert.equal(html.match(/data-chart="sweep-heatmap"/g)?.length, 1);
  });

  test('a key whose only settings failed gets no chart; the page still renders', async () => {
    const ok = outcome(0, trained(folds([0.6, 0.62], [0.5, 0.5])));
    const failed = outcome(1, undefined, 'failed');
    failed.values = { 'extract.text.model': '/nowhere' };
    failed.label = 'extract.text.model=/nowhere';
    failed.error = 'MerModelMissing: no such folder';
    const settings = [ok, failed];
    const report: SweepReport = SweepReportSchema.parse({
      schema: 'mer-sweep',
      version: 1,
      sweepKey: 'k',
      reportKey: 'r',
      mode: 'list',
      keys: ['train.lr', 'extract.text.model'],
      selection: SELECTION_RULE,
      settings: settings.map(({ datasets: _d, ...s }) => s),
      datasets: selectOnValidation(settings),
    });
    const html = await renderSweepHtml(report);
    assert.equal(html.match(/data-chart="sweep-metric"/g)?.length, 1, 'train.lr only');
    assert.match(html, /MerModelMissing: no such folder/);
  });
});
