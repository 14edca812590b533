import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { coincidence, dialogueOf } from '../../activities/evaluate/compare/coincide.ts';
import { diffReports, diffValues, flatten } from '../../activities/evaluate/compare/diff.ts';
import { entryId } from '../../activities/evaluate/compare/compare.ts';
import {
  ComparedReportSchema,
  reportedIntervals,
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
  test('intervals are read by shape from later report versions; a v2 report has none', () => {
    const v2 = loaded().metrics.variants[0];
    assert.deepEqual(reportedIntervals(v2), {});
    const later = {
      ...v2,
      intervals: {
        bootstrap: { accuracy: { low: 0.41, high: 0.59, level: 0.95 }, weightedF1: { low: 0.3, high: 0.5 } },
      },
    } as ComparedVariant;
    assert.deepEqual(reportedIntervals(later), {
      accuracy: { low: 0.41, high: 0.59, method: 'intervals bootstrap, 95%' },
      weightedF1: { low: 0.3, high: 0.5, method: 'intervals bootstrap' },
    });
    // Unknown extra fields of a later version pass the lenient reader.
    assert.equal(loaded({ extra: { seeds: { count: 3 } } }).metrics.variants[0].name, 'T+A+V');
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
