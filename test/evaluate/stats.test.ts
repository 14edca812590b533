import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  bootstrapInterval,
  holm,
  pairedTest,
  randomisationSeed,
  tInterval,
  tQuantile,
  type StatMetric,
} from '../../activities/evaluate/stats/index.ts';
import { classificationMetrics } from '../../activities/model/metrics.ts';
import { mulberry32 } from '../../activities/common/mulberry32.ts';

/**
 * The evaluate stage's statistics against Python (test/fixtures/evaluate/stats-reference.json, written
 * by scripts/evaluate/make_stats_fixtures.py: scipy's t, statsmodels' Holm, np.quantile, scikit-learn,
 * and a naive re-implementation of the same generator and resampling), plus properties any correct
 * implementation has.
 */

interface Dataset {
  classes: number;
  yTrue: number[];
  yPred: number[];
  clusters: string[];
}
interface Fixture {
  datasets: Record<string, Dataset>;
  bootstrap: {
    data: string;
    metric: StatMetric;
    seed: number;
    rounds: number;
    level: number;
    estimate: number;
    low: number;
    high: number;
    clusters: number;
  }[];
  paired: {
    data: string;
    variant: string;
    predB: number[];
    metric: StatMetric;
    method: 'bootstrap' | 'randomisation';
    seed: number;
    rounds: number;
    level: number;
    difference: number;
    low: number;
    high: number;
    pValue: number;
  }[];
  tQuantiles: { df: number; p: number; t: number }[];
  tIntervals: { values: number[]; level: number; n: number; mean: number; std: number; low: number; high: number }[];
  mulberry32: { seed: number; draws: number[] }[];
  randomisationSeeds: { seed: number; stream: number }[];
  holm: { pValues: number[]; alpha: number; adjusted: number[]; reject: boolean[] }[];
}

const FIX = JSON.parse(
  readFileSync(new URL('../fixtures/evaluate/stats-reference.json', import.meta.url), 'utf8'),
) as Fixture;

function close(actual: number, expected: number, what: string, tol = 1e-12): void {
  assert.ok(Number.isFinite(actual), `${what}: ${actual} is not finite`);
  const scale = Math.max(1, Math.abs(expected));
  assert.ok(Math.abs(actual - expected) <= tol * scale, `${what}: got ${actual}, expected ${expected}`);
}

describe('mulberry32', () => {
  test('the same stream as the Python re-implementation, bit for bit', () => {
    for (const c of FIX.mulberry32) {
      const draw = mulberry32(c.seed);
      assert.deepEqual(
        c.draws.map(() => draw()),
        c.draws,
        `seed ${c.seed}`,
      );
    }
    for (const c of FIX.randomisationSeeds) assert.equal(randomisationSeed(c.seed), c.stream);
  });
});

describe('Student t against scipy', () => {
  test('quantiles, relative 1e-12', () => {
    for (const c of FIX.tQuantiles) close(tQuantile(c.p, c.df), c.t, `t.ppf(${c.p}, ${c.df})`);
    close(tQuantile(0.025, 5), -FIX.tQuantiles.find((c) => c.df === 5 && c.p === 0.975)!.t, 'lower tail');
  });
  test('tInterval = scipy.stats.t.interval with ddof=1 std', () => {
    for (const c of FIX.tIntervals) {
      const r = tInterval(c.values, c.level);
      const what = `n=${c.n} level=${c.level}`;
      assert.equal(r.n, c.n);
      assert.equal(r.degenerate, false);
      close(r.mean, c.mean, `${what} mean`);
      close(r.std, c.std, `${what} std`);
      close(r.low, c.low, `${what} low`);
      close(r.high, c.high, `${what} high`);
    }
  });
  test('one value: a flagged point; none: an error', () => {
    assert.deepEqual(tInterval([0.7]), { n: 1, mean: 0.7, std: 0, low: 0.7, high: 0.7, degenerate: true });
    assert.throws(() => tInterval([]), /no values/);
    assert.throws(() => tInterval([0.1, Number.NaN]), /not finite/);
  });
});

describe('cluster bootstrap against the Python re-implementation', () => {
  test('estimate, percentile interval and cluster count, 1e-12', () => {
    for (const c of FIX.bootstrap) {
      const d = FIX.datasets[c.data];
      const r = bootstrapInterval(d, c.metric, { rounds: c.rounds, seed: c.seed, level: c.level });
      const what = `${c.data} ${c.metric} seed ${c.seed}`;
      close(r.estimate, c.estimate, `${what} estimate`);
      close(r.low, c.low, `${what} low`);
      close(r.high, c.high, `${what} high`);
      assert.equal(r.clusters, c.clusters, `${what} clusters`);
      assert.equal(r.rounds, c.rounds);
      assert.equal(r.seed, c.seed);
      assert.ok(r.low <= r.estimate && r.estimate <= r.high, `${what}: interval contains the estimate`);
    }
  });
  test('the estimate is the evaluate stage metric; defaults are 1000 rounds, seed 0; seeded', () => {
    const d = FIX.datasets['meld-7class-40-dialogues'];
    const m = classificationMetrics(d.yTrue, d.yPred, d.classes);
    const r = bootstrapInterval(d, 'weightedF1');
    assert.equal(r.estimate, m.weightedF1);
    assert.equal(bootstrapInterval(d, 'accuracy').estimate, m.accuracy);
    assert.equal(r.rounds, 1000);
    assert.equal(r.seed, 0);
    assert.deepEqual(bootstrapInterval(d, 'weightedF1'), r);
    assert.notDeepEqual(bootstrapInterval(d, 'weightedF1', { seed: 1 }), r);
  });
  test('clusters matter: whole-dialogue resampling is wider than per-utterance resampling', () => {
    const d = FIX.datasets['meld-7class-40-dialogues'];
    const byDialogue = bootstrapInterval(d, 'accuracy');
    const byUtterance = bootstrapInterval({ ...d, clusters: d.yTrue.map((_, i) => `u${i}`) }, 'accuracy');
    assert.ok(byDialogue.high - byDialogue.low > byUtterance.high - byUtterance.low);
  });
  test('bad input names what is wrong', () => {
    const d = FIX.datasets['iemocap-4class-5-sessions'];
    assert.throws(() => bootstrapInterval({ ...d, yPred: d.yPred.slice(1) }, 'accuracy'), /predictions/);
    assert.throws(() => bootstrapInterval({ ...d, classes: 3 }, 'accuracy'), /not a class index/);
    assert.throws(() => bootstrapInterval(d, 'accuracy', { seed: -1 }), /seed/);
    assert.throws(() => bootstrapInterval(d, 'macroF1' as StatMetric), /metric/);
  });
});

describe('paired tests against the Python re-implementation', () => {
  test('difference, interval and p-value (exact tie counts), 1e-12', () => {
    for (const c of FIX.paired) {
      const d = FIX.datasets[c.data];
      const r = pairedTest(
        { yTrue: d.yTrue, predA: d.yPred, predB: c.predB, clusters: d.clusters, classes: d.classes },
        c.metric,
        { method: c.method, rounds: c.rounds, seed: c.seed, level: c.level },
      );
      const what = `${c.data} ${c.variant} ${c.metric} ${c.method}`;
      close(r.difference, c.difference, `${what} difference`);
      close(r.low, c.low, `${what} low`);
      close(r.high, c.high, `${what} high`);
      close(r.pValue, c.pValue, `${what} p`, 0);
      assert.equal(r.method, c.method);
    }
  });

  const d = FIX.datasets['meld-7class-40-dialogues'];
  const base = { yTrue: d.yTrue, predA: d.yPred, clusters: d.clusters, classes: d.classes };
  const worse = FIX.paired.find((c) => c.variant === 'much-worse')!.predB;

  test('identical predictions: difference 0, p = 1, under both methods', () => {
    for (const method of ['randomisation', 'bootstrap'] as const) {
      for (const metric of ['accuracy', 'weightedF1'] as const) {
        const r = pairedTest({ ...base, predB: d.yPred }, metric, { method, rounds: 500 });
        assert.equal(r.difference, 0);
        assert.equal(r.pValue, 1);
        assert.equal(r.low, 0);
        assert.equal(r.high, 0);
      }
    }
  });
  test('a much better system: p < 0.01 both ways, the interval excludes 0; swapping A and B flips the sign', () => {
    const r = pairedTest({ ...base, predB: worse }, 'weightedF1');
    assert.equal(r.rounds, 10000);
    assert.equal(r.method, 'randomisation');
    assert.ok(r.difference > 0 && r.pValue < 0.01 && r.low > 0, JSON.stringify(r));
    assert.ok(r.low <= r.difference && r.difference <= r.high);
    const b = pairedTest({ ...base, predB: worse }, 'weightedF1', { method: 'bootstrap' });
    assert.ok(b.pValue < 0.01, JSON.stringify(b));
    const flipped = pairedTest({ ...base, predA: worse, predB: d.yPred }, 'weightedF1');
    assert.equal(flipped.difference, -r.difference);
    assert.equal(flipped.pValue, r.pValue); // the swap distribution is symmetric in A and B
  });
  test('deterministic per seed', () => {
    const opts = { rounds: 300, seed: 5 };
    assert.deepEqual(
      pairedTest({ ...base, predB: worse }, 'accuracy', opts),
      pairedTest({ ...base, predB: worse }, 'accuracy', opts),
    );
    assert.notDeepEqual(
      pairedTest({ ...base, predB: worse }, 'accuracy', opts).low,
      pairedTest({ ...base, predB: worse }, 'accuracy', { ...opts, seed: 6 }).low,
    );
  });
});

describe('Holm against statsmodels', () => {
  test('adjusted p-values and rejections', () => {
    for (const c of FIX.holm) {
      const r = holm(c.pValues, c.alpha);
      r.adjusted.forEach((p, i) => close(p, c.adjusted[i], `adjusted[${i}] of ${c.pValues.join(',')}`));
      assert.deepEqual(r.reject, c.reject);
    }
  });
  test('edge cases', () => {
    assert.deepEqual(holm([]), { adjusted: [], reject: [] });
    assert.deepEqual(holm([0.04]).reject, [true]);
    assert.throws(() => holm([0.1, 1.5]), /not in \[0, 1\]/);
  });
});
