import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { aggregateMetrics, foldMetrics, REFERENCE_NOTE } from '../../activities/evaluate/metrics.ts';
import { classificationMetrics } from '../../activities/model/metrics.ts';
import { AggregateMetricsSchema, FoldMetricsSchema, type FoldMetrics } from '../../schemas/metrics.ts';

/**
 * Evaluate-stage metrics against values worked out by hand and against scikit-learn
 * (test/fixtures/evaluate/sklearn-metrics.json, written by scripts/evaluate/make_metrics_fixtures.py;
 * no Python is needed here).
 */

const TOL = 1e-12;

function close(actual: number, expected: number, what: string): void {
  assert.ok(Number.isFinite(actual), `${what}: ${actual} is not finite`);
  assert.ok(Math.abs(actual - expected) <= TOL, `${what}: got ${actual}, expected ${expected}`);
}
function closeAll(actual: readonly number[], expected: readonly number[], what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  actual.forEach((x, i) => close(x, expected[i], `${what}[${i}]`));
}

// ---------------------------------------------------------------------------------------------
// A small case by hand: 3 classes a, b, c; 10 samples.
//
//   labels    0 0 0 0 1 1 1 2 2 2
//   predicted 0 0 1 2 1 1 0 2 2 1
//
// confusion[true][pred]     pred a  b  c | support
//                   true a     2  1  1  |  4
//                   true b     1  2  0  |  3
//                   true c     0  1  2  |  3
//                   predicted  3  4  3
// accuracy = (2 + 2 + 2) / 10 = 0.6
// a: P = 2/3, R = 2/4 = 1/2, F1 = 2PR/(P+R) = (2/3)/(7/6) = 4/7
// b: P = 2/4 = 1/2, R = 2/3, F1 = 4/7
// c: P = 2/3, R = 2/3, F1 = 2/3
// weighted F1 = (4 * 4/7 + 3 * 4/7 + 3 * 2/3) / 10 = (16/7 + 12/7 + 2) / 10 = (4 + 2) / 10 = 0.6
// macro F1    = (4/7 + 4/7 + 2/3) / 3 = (24/21 + 14/21) / 3 = 38/63
// normalised rows: a [2/4, 1/4, 1/4], b [1/3, 2/3, 0], c [0, 1/3, 2/3]
// reference: accuracy = R = 1/2, 2/3, 2/3; "F1" = 2R/(1+R) = 1/(3/2) = 2/3, (4/3)/(5/3) = 4/5, 4/5
// ---------------------------------------------------------------------------------------------
const HAND = {
  classes: ['a', 'b', 'c'],
  labels: [0, 0, 0, 0, 1, 1, 1, 2, 2, 2],
  predicted: [0, 0, 1, 2, 1, 1, 0, 2, 2, 1],
};

describe('foldMetrics: hand-worked 3-class case', () => {
  const m = foldMetrics(HAND.labels, HAND.predicted, HAND.classes);

  test('counts and headline figures', () => {
    assert.equal(m.n, 10);
    assert.deepEqual(m.confusion, [
      [2, 1, 1],
      [1, 2, 0],
      [0, 1, 2],
    ]);
    close(m.accuracy, 0.6, 'accuracy');
    close(m.weightedF1, 0.6, 'weightedF1');
    close(m.macroF1, 38 / 63, 'macroF1');
  });

  test('per-class precision, recall, F1, support', () => {
    assert.deepEqual(
      m.perClass.map((p) => [p.class, p.support]),
      [
        ['a', 4],
        ['b', 3],
        ['c', 3],
      ],
    );
    closeAll(
      m.perClass.map((p) => p.precision),
      [2 / 3, 1 / 2, 2 / 3],
      'precision',
    );
    closeAll(
      m.perClass.map((p) => p.recall),
      [1 / 2, 2 / 3, 2 / 3],
      'recall',
    );
    closeAll(
      m.perClass.map((p) => p.f1),
      [4 / 7, 4 / 7, 2 / 3],
      'f1',
    );
  });

  test('row-normalised confusion', () => {
    closeAll(
      m.confusionNormalized.flat(),
      [1 / 2, 1 / 4, 1 / 4, 1 / 3, 2 / 3, 0, 0, 1 / 3, 2 / 3],
      'confusionNormalized',
    );
  });

  test("the reference's per-class figures: recall and 2R/(1+R)", () => {
    assert.deepEqual(
      m.reference.perClass.map((r) => r.class),
      HAND.classes,
    );
    closeAll(
      m.reference.perClass.map((r) => r.accuracy),
      [1 / 2, 2 / 3, 2 / 3],
      'reference accuracy',
    );
    closeAll(
      m.reference.perClass.map((r) => r.f1),
      [2 / 3, 4 / 5, 4 / 5],
      'reference f1',
    );
    assert.equal(m.reference.note, REFERENCE_NOTE);
    // F1 with precision taken as 1 can only overstate the real F1.
    m.perClass.forEach((p, c) => assert.ok(m.reference.perClass[c].f1 >= p.f1));
  });

  test('valid against FoldMetricsSchema, and the same numbers as model selection', () => {
    FoldMetricsSchema.parse(m);
    const sel = classificationMetrics(HAND.labels, HAND.predicted, 3);
    assert.equal(m.accuracy, sel.accuracy);
    assert.equal(m.weightedF1, sel.weightedF1);
    assert.equal(m.macroF1, sel.macroF1);
  });

  test('typed arrays work like plain arrays', () => {
    assert.deepEqual(foldMetrics(Int32Array.from(HAND.labels), Uint8Array.from(HAND.predicted), HAND.classes), m);
  });
});

// ---------------------------------------------------------------------------------------------
// scikit-learn fixtures

interface SkFold {
  accuracy: number;
  f1_weighted: number;
  f1_macro: number;
  precision: number[];
  recall: number[];
  f1: number[];
  support: number[];
  confusion: number[][];
  confusion_normalized: number[][];
  reference_accuracy: number[];
  reference_f1: number[];
}
interface SkCase {
  name: string;
  description: string;
  classes: string[];
  y_true: number[];
  y_pred: number[];
  sklearn: SkFold;
}
interface SkAggregate {
  name: string;
  description: string;
  classes: string[];
  folds: { name: string; y_true: number[]; y_pred: number[]; sklearn: SkFold }[];
  mean: { accuracy: number; f1_weighted: number; f1_macro: number };
  std: { accuracy: number; f1_weighted: number; f1_macro: number };
  per_class_f1_mean: number[];
  per_class_f1_std: number[];
  pooled: SkFold;
}
const fixture = JSON.parse(
  readFileSync(new URL('../fixtures/evaluate/sklearn-metrics.json', import.meta.url), 'utf8'),
) as {
  versions: Record<string, string>;
  cases: SkCase[];
  aggregates: SkAggregate[];
};

function matchesSklearn(m: FoldMetrics, sk: SkFold, classes: readonly string[], n: number, what: string): void {
  FoldMetricsSchema.parse(m);
  assert.equal(m.n, n, `${what}: n`);
  close(m.accuracy, sk.accuracy, `${what}: accuracy`);
  close(m.weightedF1, sk.f1_weighted, `${what}: weightedF1`);
  close(m.macroF1, sk.f1_macro, `${what}: macroF1`);
  assert.deepEqual(
    m.perClass.map((p) => p.class),
    [...classes],
    `${what}: class names`,
  );
  closeAll(
    m.perClass.map((p) => p.precision),
    sk.precision,
    `${what}: precision`,
  );
  closeAll(
    m.perClass.map((p) => p.recall),
    sk.recall,
    `${what}: recall`,
  );
  closeAll(
    m.perClass.map((p) => p.f1),
    sk.f1,
    `${what}: f1`,
  );
  assert.deepEqual(
    m.perClass.map((p) => p.support),
    sk.support,
    `${what}: support`,
  );
  assert.deepEqual(m.confusion, sk.confusion, `${what}: confusion`);
  closeAll(m.confusionNormalized.flat(), sk.confusion_normalized.flat(), `${what}: confusionNormalized`);
  closeAll(
    m.reference.perClass.map((r) => r.accuracy),
    sk.reference_accuracy,
    `${what}: reference accuracy`,
  );
  closeAll(
    m.reference.perClass.map((r) => r.f1),
    sk.reference_f1,
    `${what}: reference f1`,
  );
}

describe(`foldMetrics matches scikit-learn ${fixture.versions['scikit-learn']}`, () => {
  test('the fixture holds the cases the brief asks for', () => {
    const names = fixture.cases.map((c) => c.name);
    for (const n of [
      'hand-3class',
      'random-4class',
      'random-6class',
      'random-7class',
      'never-predicted',
      'absent-from-true',
      'absent-from-both',
      'perfect',
    ]) {
      assert.ok(names.includes(n), n);
    }
    assert.ok(fixture.aggregates.length >= 1);
  });

  for (const c of fixture.cases) {
    test(`${c.name}: ${c.description}`, () => {
      matchesSklearn(foldMetrics(c.y_true, c.y_pred, c.classes), c.sklearn, c.classes, c.y_true.length, c.name);
    });
  }

  test('a class never predicted: precision 0, recall 0, F1 0, its row still counts', () => {
    const c = fixture.cases.find((x) => x.name === 'never-predicted')!;
    const m = foldMetrics(c.y_true, c.y_pred, c.classes);
    const row = m.perClass[3];
    assert.ok(row.support > 0);
    assert.deepEqual([row.precision, row.recall, row.f1], [0, 0, 0]);
    assert.equal(m.reference.perClass[3].f1, 0);
  });

  test('a class absent from y_true but predicted: support 0, zero row, counted in macro F1', () => {
    const c = fixture.cases.find((x) => x.name === 'absent-from-true')!;
    const m = foldMetrics(c.y_true, c.y_pred, c.classes);
    assert.equal(m.perClass[2].support, 0);
    assert.deepEqual(m.confusion[2], [0, 0, 0, 0]);
    assert.deepEqual(m.confusionNormalized[2], [0, 0, 0, 0]);
    close(m.macroF1, mean(m.perClass.map((p) => p.f1)), 'macro over all 4 classes');
  });

  test('a class absent from both: left out of macro F1 (sklearn default labels)', () => {
    const c = fixture.cases.find((x) => x.name === 'absent-from-both')!;
    const m = foldMetrics(c.y_true, c.y_pred, c.classes);
    close(m.macroF1, mean(m.perClass.slice(0, 5).map((p) => p.f1)), 'macro over the 5 present classes');
    assert.ok(m.macroF1 > mean(m.perClass.map((p) => p.f1)));
  });

  test('perfect predictions: every figure 1, identity normalised confusion', () => {
    const c = fixture.cases.find((x) => x.name === 'perfect')!;
    const m = foldMetrics(c.y_true, c.y_pred, c.classes);
    assert.deepEqual([m.accuracy, m.weightedF1, m.macroF1], [1, 1, 1]);
    m.confusionNormalized.forEach((row, i) => row.forEach((x, j) => assert.equal(x, i === j ? 1 : 0)));
  });
});

function mean(xs: readonly number[]): number {
  return xs.reduce((s, x) => s + x, 0) / xs.length;
}

describe('confusionNormalized', () => {
  test('rows sum to 1, a row without samples is all 0', () => {
    // Class 1 has no samples but is predicted once; class 2 is never predicted.
    const m = foldMetrics([0, 0, 0, 2, 2], [0, 1, 0, 0, 0], ['x', 'y', 'z']);
    assert.deepEqual(m.confusion, [
      [2, 1, 0],
      [0, 0, 0],
      [2, 0, 0],
    ]);
    closeAll(m.confusionNormalized.flat(), [2 / 3, 1 / 3, 0, 0, 0, 0, 1, 0, 0], 'normalised');
    for (const [i, row] of m.confusionNormalized.entries()) {
      const s = row.reduce((a, b) => a + b, 0);
      if (m.perClass[i].support > 0) close(s, 1, `row ${i} sum`);
      else assert.equal(s, 0);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// aggregation

describe('aggregateMetrics', () => {
  test('by hand: population std (ddof=0), every fold counts once, pooled over all samples', () => {
    // fold 0: 2 samples, 1 right -> accuracy 1/2; fold 1: 4 samples, all right -> accuracy 1.
    // mean = (1/2 + 1) / 2 = 3/4; population std = sqrt(((1/2-3/4)^2 + (1-3/4)^2) / 2) = 1/4
    // (the sample std, ddof=1, would be sqrt(1/8) = 0.354). pooled accuracy = 5/6 (not 3/4).
    const a = aggregateMetrics(
      [
        { labels: [0, 1], predicted: [0, 0] },
        { labels: [0, 1, 1, 0], predicted: [0, 1, 1, 0] },
      ],
      ['p', 'q'],
    );
    AggregateMetricsSchema.parse(a);
    assert.equal(a.folds, 2);
    close(a.mean.accuracy, 3 / 4, 'mean accuracy');
    close(a.std.accuracy, 1 / 4, 'std accuracy');
    close(a.pooled.accuracy, 5 / 6, 'pooled accuracy');
    assert.equal(a.pooled.n, 6);
    // fold 0 per-class F1: p: P = 1/2, R = 1 -> 2/3; q: never predicted -> 0. fold 1: 1, 1.
    // p: mean (2/3 + 1)/2 = 5/6, std 1/6; q: mean 1/2, std 1/2.
    assert.deepEqual(
      a.perClassF1.map((x) => x.class),
      ['p', 'q'],
    );
    close(a.perClassF1[0].mean, 5 / 6, 'p mean');
    close(a.perClassF1[0].std, 1 / 6, 'p std');
    close(a.perClassF1[1].mean, 1 / 2, 'q mean');
    close(a.perClassF1[1].std, 1 / 2, 'q std');
  });

  test('a single fold: its own figures, std 0, pooled = the fold', () => {
    const a = aggregateMetrics([{ labels: HAND.labels, predicted: HAND.predicted }], HAND.classes);
    const f = foldMetrics(HAND.labels, HAND.predicted, HAND.classes);
    assert.equal(a.folds, 1);
    assert.deepEqual(a.mean, { accuracy: f.accuracy, weightedF1: f.weightedF1, macroF1: f.macroF1 });
    assert.deepEqual(a.std, { accuracy: 0, weightedF1: 0, macroF1: 0 });
    assert.deepEqual(a.pooled, f);
  });

  for (const g of fixture.aggregates) {
    test(`${g.name}: ${g.description} (np.mean / np.std)`, () => {
      const a = aggregateMetrics(
        g.folds.map((f) => ({ labels: f.y_true, predicted: f.y_pred })),
        g.classes,
      );
      AggregateMetricsSchema.parse(a);
      assert.equal(a.folds, g.folds.length);
      close(a.mean.accuracy, g.mean.accuracy, 'mean accuracy');
      close(a.mean.weightedF1, g.mean.f1_weighted, 'mean weightedF1');
      close(a.mean.macroF1, g.mean.f1_macro, 'mean macroF1');
      close(a.std.accuracy, g.std.accuracy, 'std accuracy');
      close(a.std.weightedF1, g.std.f1_weighted, 'std weightedF1');
      close(a.std.macroF1, g.std.f1_macro, 'std macroF1');
      assert.deepEqual(
        a.perClassF1.map((x) => x.class),
        g.classes,
      );
      closeAll(
        a.perClassF1.map((x) => x.mean),
        g.per_class_f1_mean,
        'per-class F1 mean',
      );
      closeAll(
        a.perClassF1.map((x) => x.std),
        g.per_class_f1_std,
        'per-class F1 std',
      );
      const n = g.folds.reduce((s, f) => s + f.y_true.length, 0);
      matchesSklearn(a.pooled, g.pooled, g.classes, n, `${g.name} pooled`);
      g.folds.forEach((f) =>
        matchesSklearn(foldMetrics(f.y_true, f.y_pred, g.classes), f.sklearn, g.classes, f.y_true.length, f.name),
      );
    });
  }
});

// ---------------------------------------------------------------------------------------------
// input errors

describe('input validation', () => {
  const cls = ['a', 'b', 'c'];
  test('labels and predictions of different lengths', () => {
    assert.throws(() => foldMetrics([0, 1, 2], [0, 1], cls), /3 labels but 2 predictions/);
  });
  test('no samples', () => {
    assert.throws(() => foldMetrics([], [], cls), /no samples/);
  });
  test('indices out of range, negative, fractional or NaN', () => {
    assert.throws(() => foldMetrics([0, 3], [0, 1], cls), /labels\[1\] = 3 is not a class index in \[0, 2\]/);
    assert.throws(() => foldMetrics([0, 1], [0, -1], cls), /predicted\[1\] = -1 is not a class index/);
    assert.throws(() => foldMetrics([0, 1.5], [0, 1], cls), /labels\[1\] = 1.5/);
    assert.throws(() => foldMetrics([0, 1], [Number.NaN, 1], cls), /predicted\[0\] = NaN/);
  });
  test('bad label sets', () => {
    assert.throws(() => foldMetrics([0], [0], []), /no classes/);
    assert.throws(() => foldMetrics([0], [0], ['a', 'a']), /"a" appears twice/);
    assert.throws(() => foldMetrics([0], [0], ['']), /non-empty/);
  });
  test('aggregation: no folds, and a bad fold names its index', () => {
    assert.throws(() => aggregateMetrics([], cls), /no folds/);
    assert.throws(
      () =>
        aggregateMetrics(
          [
            { labels: [0], predicted: [0] },
            { labels: [0, 1], predicted: [0] },
          ],
          cls,
        ),
      /^Error: fold 1: metrics: 2 labels but 1 predictions$/,
    );
  });
});
