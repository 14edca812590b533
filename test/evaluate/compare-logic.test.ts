import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { coincidence, dialogueOf } from '../../activities/evaluate/compare/coincide.ts';
import { diffReports, diffValues, flatten } from '../../activities/evaluate/compare/diff.ts';
import { entryId } from '../../activities/evaluate/compare/compare.ts';
import { comparisonHtml, comparisonText } from '../../activities/evaluate/compare/render.ts';
import { ComparisonSchema } from '../../schemas/compare.ts';
import {
  ComparedReportSchema,
  reportedIntervals,
  reportedPooledIntervals,
  type ComparedVariant,
  type LoadedReport,
} from '../../activities/evaluate/compare/read.ts';
import { parquetToPredictions, predictionsToParquet, type PredictionRows } from '../../activities/train/predictions.ts';

/** The parts of `mer compare` that decide what it claims: the provenance diff and test-set coincidence. */

function loaded(
  overrides: { train?: Record<string, unknown>; encoders?: Record<string, string>; extra?: object } = {},
) {
  const metrics = ComparedReportSchema.parse({
    schema: 'mer-metrics',
    version: 2,
    evalKey: 'e1',
    dataset: 'iemocap',
    labelSet: '6class',
    classes: ['hap', 'sad', 'neu'],
    protocol: 'loso',
    optimistic: false,
    config: { train: { preset: 'compact', maxEpochs: 3, ...overrides.train }, vsc: { topK: 16 } },
    provenance: {
      sourceKey: 's',
      manifestKey: 'm',
      encoders: { text: 't0', audio: 'a0', visual: 'v0', ...overrides.encoders },
      featureKeys: { text: 'ft', audio: 'fa', visual: 'fv' },
      vscKeys: ['k'],
      splitsKey: 'p',
      code: { package: '0.1.0', train: 1, vsc: 1, evaluate: 2 },
    },
    variants: [
      {
        name: 'T+A+V',
        aggregate: {
          folds: 1,
          mean: { accuracy: 0.5, weightedF1: 0.4, macroF1: 0.3 },
          std: { accuracy: 0, weightedF1: 0, macroF1: 0 },
        },
        ...overrides.extra,
      },
    ],
    ablation: null,
    figures: [],
  });
  return { dir: '/nowhere', metrics, run: null } satisfies LoadedReport;
}

function rows(ids: string[], labels: number[], predicted: number[], classes: string[]): PredictionRows {
  return {
    utteranceIds: ids,
    fold: 'f',
    labels: Int32Array.from(labels),
    predicted: Int32Array.from(predicted),
    probabilities: new Float32Array(ids.length * classes.length),
    classes,
  };
}

describe('provenance diff', () => {
  test('two reports that differ only in train.lr differ in exactly that path', () => {
    const a = loaded({ train: { lr: 0.001 } });
    const b = loaded({ train: { lr: 0.01 } });
    assert.deepEqual(diffReports(a, b), [{ path: 'config.train.lr', a: '0.001', b: '0.01' }]);
    assert.deepEqual(diffReports(a, a), []);
  });

  test('a setting on one side only, an encoder hash and a v1 config hash', () => {
    const a = loaded();
    const b = loaded({ train: { lr: 0.01 }, encoders: { audio: 'a1' } });
    assert.deepEqual(diffReports(a, b), [
      { path: 'config.train.lr', a: null, b: '0.01' },
      { path: 'provenance.encoders.audio', a: '"a0"', b: '"a1"' },
    ]);
    // The run's own config hash (embedded by version 1 reports) is not how the report was made.
    const v1 = { ...a, metrics: { ...a.metrics, provenance: { ...a.metrics.provenance, configHash: 'cafe' } } };
    assert.deepEqual(diffReports(a, v1), []);
    // Run settings join the diff when both sides have them (a run named on the command line).
    const ra = { ...a, runConfig: { segment: { frames: 15, aspect: 'pad' } } };
    const rb = { ...a, runConfig: { segment: { frames: 8, aspect: 'pad' } } };
    assert.deepEqual(diffReports(ra, rb), [{ path: 'run.segment.frames', a: '15', b: '8' }]);
    // A folder has no run settings: against a run that is no difference.
    assert.deepEqual(diffReports(ra, a), []);
  });

  test('flatten walks objects to their leaves and keeps arrays whole', () => {
    assert.deepEqual(
      [...flatten({ a: { b: 1, c: [1, 2], d: {} }, e: 'x', f: undefined, g: null })],
      [
        ['a.b', '1'],
        ['a.c', '[1,2]'],
        ['a.d', '{}'],
        ['e', '"x"'],
        ['g', 'null'],
      ],
    );
    assert.deepEqual(diffValues({ v: [1, 2] }, { v: [2, 1] }), [{ path: 'v', a: '[1,2]', b: '[2,1]' }]);
  });
});

describe('test-set coincidence', () => {
  const ids = ['Ses01F_impro01_F000', 'Ses01F_impro01_M001', 'Ses01F_script01_1_F000', 'Ses02M_impro03_M002'];

  test('the same utterances and labels coincide; B is aligned to A by id and class name', () => {
    const a = rows(ids, [0, 1, 2, 0], [0, 1, 1, 2], ['hap', 'sad', 'neu']);
    // B lists the utterances in another order and its classes in another order.
    const order = [3, 1, 0, 2];
    const bClasses = ['neu', 'hap', 'sad'];
    const toB = (k: number) => bClasses.indexOf(a.classes[k]);
    const b = rows(
      order.map((i) => ids[i]),
      order.map((i) => toB(a.labels[i])),
      order.map((i) => toB([2, 1, 0, 0][i])),
      bClasses,
    );
    const c = coincidence(a, b);
    assert.equal(c.coincide, true);
    assert.equal(c.reason, undefined);
    assert.deepEqual(c.utterances, { a: 4, b: 4, shared: 4 });
    assert.deepEqual([...c.aligned!.predB], [2, 1, 0, 0]);
    assert.deepEqual([...c.aligned!.yTrue], [0, 1, 2, 0]);
    assert.deepEqual(c.aligned!.clusters, ['Ses01F_impro01', 'Ses01F_impro01', 'Ses01F_script01_1', 'Ses02M_impro03']);
  });

  test('different test sets are counted and named, never tested on their overlap', () => {
    const classes = ['hap', 'sad', 'neu'];
    const a = rows(ids, [0, 1, 2, 0], [0, 0, 0, 0], classes);
    const b = rows([ids[0], ids[1], 'Ses05F_impro01_F000'], [0, 2, 1], [0, 0, 0], classes);
    const c = coincidence(a, b);
    assert.equal(c.coincide, false);
    assert.equal(c.aligned, undefined);
    assert.deepEqual(
      { utterances: c.utterances, onlyInA: c.onlyInA, onlyInB: c.onlyInB, labelDiffers: c.labelDiffers },
      { utterances: { a: 4, b: 3, shared: 2 }, onlyInA: 2, onlyInB: 1, labelDiffers: 1 },
    );
    assert.match(c.reason!, /2 test utterance\(s\) only in A, 1 only in B/);
    assert.match(c.reason!, /1 shared utterance\(s\) with a different true label/);
    const d = coincidence(a, rows(ids, [0, 1, 2, 0], [0, 0, 0, 0], ['hap', 'sad', 'neu', 'ang']));
    assert.equal(d.coincide, false);
    assert.match(d.reason!, /different classes/);
  });

  test('dialogues come from utterance ids as the acquire stage builds them', () => {
    assert.equal(dialogueOf('Ses01F_script02_2_M013'), 'Ses01F_script02_2');
    assert.equal(dialogueOf('meld_test_dia12_utt3'), 'meld_test_dia12');
    assert.equal(dialogueOf('plain'), 'plain');
  });
});

describe('reading reports', () => {
  test('intervals come from version 3 reports (seeds, pooled bootstrap); a v2 report has none', () => {
    const v2 = loaded().metrics.variants[0];
    assert.deepEqual(reportedIntervals(v2), {});
    assert.deepEqual(reportedPooledIntervals(v2), {});
    const e = (estimate: number, low: number, high: number) => ({ estimate, low, high });
    const seeds = (n: number) => ({
      seeds: Array.from({ length: n }, (_, i) => i),
      perSeed: [],
      mean: { accuracy: 0.5, weightedF1: 0.4, macroF1: 0.3 },
      std: { accuracy: 0.02, weightedF1: 0.03, macroF1: 0.04 },
      level: 0.95,
      interval: { accuracy: e(0.5, 0.45, 0.55), weightedF1: e(0.4, 0.33, 0.47), macroF1: e(0.3, 0.2, 0.4) },
      degenerate: n < 2,
    });
    const v3 = {
      ...v2,
      seeds: seeds(3),
      pooledInterval: {
        level: 0.95,
        rounds: 1000,
        seed: 0,
        clusterBy: 'dialogues',
        clusters: 40,
        items: 120,
        accuracy: e(0.52, 0.48, 0.56),
        weightedF1: e(0.41, 0.37, 0.45),
      },
    } as ComparedVariant;
    const method = 'Student t over 3 seeds, 95%';
    assert.deepEqual(reportedIntervals(v3), {
      accuracy: { low: 0.45, high: 0.55, method },
      weightedF1: { low: 0.33, high: 0.47, method },
      macroF1: { low: 0.2, high: 0.4, method },
    });
    assert.deepEqual(reportedPooledIntervals(v3), {
      accuracy: { estimate: 0.52, low: 0.48, high: 0.56, method: 'bootstrap over dialogues, 1000 rounds, 95%' },
      weightedF1: { estimate: 0.41, low: 0.37, high: 0.45, method: 'bootstrap over dialogues, 1000 rounds, 95%' },
    });
    // One seed: the interval is degenerate, so none is shown.
    assert.deepEqual(reportedIntervals({ ...v3, seeds: seeds(1) }), {});
    // Unknown extra fields of a later version pass the lenient reader.
    assert.equal(loaded({ extra: { somethingNew: { count: 3 } } }).metrics.variants[0].name, 'T+A+V');
  });

  test('pooled predictions read back with their probabilities (the in-corpus cross-corpus figures use them)', () => {
    const probabilities = Float32Array.from([0.75, 0.25, 0.125, 0.875]);
    const bytes = predictionsToParquet({
      utteranceIds: ['a_1', 'a_2'],
      fold: ['f0', 'f1'],
      labels: Int32Array.from([0, 1]),
      predicted: Int32Array.from([0, 1]),
      probabilities,
      classes: ['neu', 'hap'],
    });
    const back = parquetToPredictions(bytes, 'round trip');
    assert.deepEqual([...back.probabilities], [...probabilities]);
    assert.deepEqual(back.fold, ['f0', 'f1']);
  });

  test('entries are named A..Z, AA, ...', () => {
    assert.deepEqual([0, 1, 25, 26, 27].map(entryId), ['A', 'B', 'Z', 'AA', 'AB']);
  });
});

describe('rendering a comparison', () => {
  const f = (accuracy: number) => ({ accuracy, weightedF1: accuracy - 0.1, macroF1: accuracy - 0.2 });
  const comparison = ComparisonSchema.parse({
    schema: 'mer-compare',
    version: 1,
    entries: ['A', 'B'].map((id) => ({
      id,
      argument: `mer-${id}`,
      kind: 'run',
      dataset: 'meld',
      evalKey: `e${id}`,
      labelSet: 'meld7',
      protocol: 'official',
      configHash: id,
      dir: '/tmp',
    })),
    metrics: [
      {
        entry: 'A',
        dataset: 'meld',
        variant: 'T+A+V',
        folds: 1,
        mean: f(0.6),
        std: f(0.01),
        intervals: { accuracy: { low: 0.55, high: 0.65, method: 'Student t over 3 seeds, 95%' } },
        pooled: {
          accuracy: { estimate: 0.61, low: 0.57, high: 0.66, method: 'bootstrap over dialogues, 1000 rounds, 95%' },
        },
      },
      { entry: 'B', dataset: 'meld', variant: 'T+A+V', folds: 1, mean: f(0.5), std: f(0.02) },
    ],
    pairs: [
      {
        dataset: 'meld',
        variant: 'T+A+V',
        a: 'A',
        b: 'B',
        coincide: false,
        utterances: { a: 10, b: 12, shared: 10 },
        onlyInA: 0,
        onlyInB: 2,
        labelDiffers: 0,
        reason: 'the test sets differ: 0 test utterance(s) only in A, 2 only in B',
      },
    ],
    provenance: [{ dataset: 'meld', a: 'A', b: 'B', differences: [{ path: 'labelSet', a: '"x"', b: '"y"' }] }],
    method: 'paired test',
  });

  test('the text shows the intervals and pooled figures the reports give, and why a pair was not tested', async () => {
    const text = comparisonText(comparison).join('\n');
    assert.match(text, /60\.0% ± 1\.0 \[55\.0%, 65\.0%\]/);
    assert.match(
      text,
      /A T\+A\+V pooled: accuracy 61\.0% \[57\.0%, 66\.0%\] \(bootstrap over dialogues, 1000 rounds, 95%\)/,
    );
    assert.match(text, /T\+A\+V: no paired test: the test sets differ: 0 test utterance\(s\) only in A, 2 only in B/);
    assert.match(text, /labelSet: "x" -> "y"/);
    const html = await comparisonHtml(comparison);
    assert.match(html, /Pooled test predictions with the reports&#39; bootstrap intervals/);
    assert.match(html, /data-chart="compare"/);
  });
});
