import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { aggregateMetrics, foldMetrics } from '../../activities/evaluate/metrics.ts';
import { renderReport } from '../../activities/evaluate/report-build.ts';
import { describeReportRun } from '../../cli/report.ts';
import { reportKeys } from '../../schemas/layout.ts';
import {
  MetricsReportSchema,
  REPORT_VERSION,
  ReportRunSchema,
  readMetricsReport,
  type MetricsReport,
} from '../../schemas/report.ts';

/**
 * A report is a content-addressed object (`reports/<evalKey>/`): the same key must hold the same bytes
 * in any store, whichever run wrote it. The run's config hash and stage timings live beside it in
 * `runs/<configHash>.json`; version 1 reports, which embedded them, stay readable.
 */

const CLASSES = ['neu', 'hap', 'sad'];
const LABELS = [0, 1, 2, 0, 1, 2, 0, 1];
const PREDICTED = [0, 1, 2, 1, 1, 0, 0, 1];
const TIMINGS = [
  { stage: 'acquire', status: 'done', seconds: 4 },
  { stage: 'train', status: 'skipped', seconds: 62 },
];

function report(): Omit<MetricsReport, 'figures'> {
  const fold = foldMetrics(LABELS, PREDICTED, CLASSES);
  return {
    schema: 'mer-metrics',
    version: REPORT_VERSION,
    evalKey: 'e0e0e0e0e0e0e0e0e0e0',
    dataset: 'iemocap',
    labelSet: '6class',
    classes: CLASSES,
    protocol: 'loso',
    optimistic: false,
    config: { train: { preset: 'compact' }, vsc: { topK: 16 } },
    provenance: {
      sourceKey: 's',
      manifestKey: 'm',
      encoders: { text: 't', audio: 'a', visual: 'v' },
      featureKeys: { text: 'ft', audio: 'fa', visual: 'fv' },
      vscKeys: ['k'],
      splitsKey: 'p',
      code: { package: '0.1.0', train: 1, vsc: 1, evaluate: 2 },
    },
    variants: [
      {
        name: 'T+A+V',
        modalities: ['t', 'a', 'v'],
        vsc: true,
        contrastive: true,
        folds: [
          {
            fold: 'Session1',
            testGroup: 'Session1',
            trainKey: 'tk',
            bestEpoch: 0,
            epochs: 1,
            resumedFromStep: 0,
            seconds: 1,
            metrics: fold,
          },
        ],
        aggregate: aggregateMetrics([{ labels: LABELS, predicted: PREDICTED }], CLASSES),
        predictionsKey: 'predictions/T+A+V.parquet',
      },
    ],
    ablation: null,
    stages: {
      acquire: { rows: 8, inLabelSet: 8, issues: 0 },
      segment: { utterances: 8, ok: 8, quarantined: 0, reasons: {}, audioSeconds: 12 },
      extract: { text: { ok: 8, quarantined: 0, reasons: {}, dim: 4 } },
      compress: [{ vscKey: 'k', enabled: true, utterances: 8, ratio: 3, byteRatio: 3, seconds: 1 }],
      train: { trainings: 1, seconds: 1, resumed: 0 },
      splits: { rows: 8, unlabelled: 0, excluded: 0, used: 8 },
    },
  };
}

describe('report provenance', () => {
  test('the content-addressed report carries no config hash and no stage timings', async () => {
    const r = report();
    assert.equal(REPORT_VERSION, 3);
    const parsed = MetricsReportSchema.parse({ ...r, figures: [] });
    assert.ok(!('configHash' in parsed.provenance));
    assert.ok(!('timings' in parsed.stages));
    // The strict schema refuses the run-specific fields back in.
    assert.throws(() =>
      MetricsReportSchema.parse({ ...r, figures: [], provenance: { ...r.provenance, configHash: 'abc' } }),
    );
    assert.throws(() => MetricsReportSchema.parse({ ...r, figures: [], stages: { ...r.stages, timings: TIMINGS } }));
    const rendered = await renderReport(r, []);
    for (const doc of [rendered.html, rendered.markdown]) {
      assert.doesNotMatch(doc, /config hash/i);
      assert.doesNotMatch(doc, /how long it took/);
    }
  });

  test('a version 1 report stays readable: the report in the current shape, its run side split off', () => {
    const r = report();
    const v1 = {
      ...r,
      version: 1,
      figures: [],
      provenance: { ...r.provenance, configHash: 'cafe01' },
      stages: { ...r.stages, timings: TIMINGS },
    };
    const { report: read, embeddedRun } = readMetricsReport(JSON.parse(JSON.stringify(v1)));
    assert.deepEqual(read, MetricsReportSchema.parse({ ...r, figures: [] }));
    assert.deepEqual(ReportRunSchema.parse(embeddedRun), {
      schema: 'mer-report-run',
      version: 1,
      evalKey: r.evalKey,
      configHash: 'cafe01',
      wrote: true,
      timings: TIMINGS,
    });
    assert.equal(readMetricsReport({ ...r, figures: [] }).embeddedRun, null);
    // Version 2 (before seeds, intervals and paired tests) reads as the current shape without them.
    const v2 = readMetricsReport({ ...r, figures: [], version: 2 });
    assert.deepEqual(v2, { report: MetricsReportSchema.parse({ ...r, figures: [] }), embeddedRun: null });
    assert.throws(() => readMetricsReport({ ...r, figures: [], version: REPORT_VERSION + 1 }));
  });

  test('the run side lives beside the report, one file per run, and `mer report` words it', () => {
    const keys = reportKeys('e0e0');
    assert.equal(keys.run('cafe01'), 'reports/e0e0/runs/cafe01.json');
    assert.ok(keys.run('cafe01').startsWith(keys.runs));
    assert.ok(!keys.metrics.startsWith(keys.runs));
    const run = ReportRunSchema.parse({
      schema: 'mer-report-run',
      version: 1,
      evalKey: 'e0e0',
      configHash: 'cafe01',
      wrote: false,
      timings: TIMINGS,
    });
    assert.equal(
      describeReportRun(run),
      'run cafe01 reused this report; stage times: acquire 4s, train 1m02s (reused)',
    );
  });
});
