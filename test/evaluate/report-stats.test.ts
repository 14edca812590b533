import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { REPO_ROOT } from '../../activities/common/tools.ts';
import { aggregateMetrics, foldMetrics } from '../../activities/evaluate/metrics.ts';
import { renderReport } from '../../activities/evaluate/report-build.ts';
import {
  compareVariants,
  dialogueClusters,
  pooledInterval,
  seedSummary,
  statistics,
  type RunPredictions,
  type VariantPredictions,
} from '../../activities/evaluate/significance.ts';
import { holm, tInterval } from '../../activities/evaluate/stats/index.ts';
import { MetricsReportSchema, REPORT_VERSION, type MetricsReport, type VariantReport } from '../../schemas/report.ts';
import { chromiumSkipReason, launchChromium } from '../helpers/chromium.ts';

/**
 * The evaluate stage's intervals and paired tests as the report uses them (significance.ts): seeds
 * stacked and aligned by (seed, utterance), dialogues as clusters, Holm over every comparison; then the
 * whole report rendered and checked in headless Chromium (interval tables, the paired tests, error bars).
 * The statistics themselves are checked against Python in the stats library's own tests.
 */

const CLASSES = ['neu', 'hap', 'sad'];
const DIALOGUES = 24;
const PER_DIALOGUE = 6;
const SEEDS = [0, 1, 2];
const FOLDS = ['f0', 'f1'];

/** A small deterministic generator (tests need fixed data, not a statistics-grade stream). */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

const rows = Array.from({ length: DIALOGUES * PER_DIALOGUE }, (_, i) => ({
  utteranceId: `d${Math.floor(i / PER_DIALOGUE)}_u${i % PER_DIALOGUE}`,
  split: 'Session1',
  dialogueId: `d${Math.floor(i / PER_DIALOGUE)}`,
}));
const labelRng = lcg(7);
const LABELS = rows.map(() => Math.floor(labelRng() * CLASSES.length));

/** A variant right with probability `skill` per (seed, utterance); fold f tests dialogues d with d % 2 = f. */
function variantRuns(skill: number, salt: number): RunPredictions[] {
  const runs: RunPredictions[] = [];
  for (const seed of SEEDS) {
    const rng = lcg(1000 * salt + seed);
    for (const [f, fold] of FOLDS.entries()) {
      const idx = rows.map((_, i) => i).filter((i) => Math.floor(i / PER_DIALOGUE) % 2 === f);
      const labels = idx.map((i) => LABELS[i]);
      const predicted = labels.map((y) => (rng() < skill ? y : (y + 1 + Math.floor(rng() * 2)) % 3));
      const m = foldMetrics(labels, predicted, CLASSES);
      runs.push({
        seed,
        fold,
        utteranceIds: idx.map((i) => rows[i].utteranceId),
        labels,
        predicted,
        metrics: { accuracy: m.accuracy, weightedF1: m.weightedF1, macroF1: m.macroF1 },
      });
    }
  }
  return runs;
}

const FULL = variantRuns(0.9, 1);
const VARIANTS: VariantPredictions[] = [
  { name: 'T+A+V', runs: FULL },
  { name: 'V', runs: variantRuns(0.5, 2) },
  // The null variant: the full model under another name (a duplicate shares the full model's keys).
  { name: 'T+A+V-again', runs: FULL },
];
const clusterOf = dialogueClusters(rows);

function variantReport(v: VariantPredictions): VariantReport {
  return {
    name: v.name,
    modalities: v.name === 'V' ? ['v'] : ['t', 'a', 'v'],
    vsc: true,
    contrastive: true,
    folds: v.runs.map((r) => ({
      fold: r.fold,
      seed: r.seed,
      testGroup: r.fold,
      trainKey: `k-${v.name}-${r.seed}-${r.fold}`,
      bestEpoch: 0,
      epochs: 1,
      resumedFromStep: 0,
      seconds: 1,
      metrics: foldMetrics(r.labels, r.predicted, CLASSES),
    })),
    aggregate: aggregateMetrics(v.runs, CLASSES),
    predictionsKey: `predictions/${v.name}.parquet`,
    seeds: seedSummary(v.runs),
    pooledInterval: pooledInterval(v.runs, clusterOf, CLASSES.length),
  };
}

function draft(): Omit<MetricsReport, 'figures'> {
  const variants = VARIANTS.map(variantReport);
  const ms = (v: VariantReport, k: 'accuracy' | 'weightedF1' | 'macroF1') => ({
    mean: v.aggregate.mean[k],
    std: v.aggregate.std[k],
  });
  return {
    schema: 'mer-metrics',
    version: REPORT_VERSION,
    evalKey: 'e5e5e5e5e5e5e5e5e5e5',
    dataset: 'iemocap',
    labelSet: '4class',
    classes: CLASSES,
    protocol: 'loso',
    optimistic: false,
    config: { train: { preset: 'compact', seeds: 3 }, vsc: { topK: 16 } },
    provenance: {
      sourceKey: 's',
      manifestKey: 'm',
      encoders: { text: 't', audio: 'a', visual: 'v' },
      featureKeys: { text: 'ft', audio: 'fa', visual: 'fv' },
      vscKeys: ['k'],
      splitsKey: 'p',
      code: { package: '0.1.0', train: 1, vsc: 1, evaluate: 3 },
    },
    variants,
    ablation: variants.map((v) => ({
      variant: v.name,
      modalities: v.modalities,
      vsc: v.vsc,
      contrastive: v.contrastive,
      accuracy: ms(v, 'accuracy'),
      weightedF1: ms(v, 'weightedF1'),
      macroF1: ms(v, 'macroF1'),
    })),
    comparisons: compareVariants(VARIANTS, clusterOf, CLASSES.length),
    statistics: statistics(SEEDS, 'iemocap'),
    stages: {
      acquire: { rows: rows.length, inLabelSet: rows.length, issues: 0 },
      segment: { utterances: rows.length, ok: rows.length, quarantined: 0, reasons: {}, audioSeconds: 100 },
      extract: { text: { ok: rows.length, quarantined: 0, reasons: {}, dim: 4 } },
      compress: [{ vscKey: 'k', enabled: true, utterances: rows.length, ratio: 3, byteRatio: 3, seconds: 1 }],
      train: { trainings: 18, seconds: 18, resumed: 0 },
      splits: { rows: rows.length, unlabelled: 0, excluded: 0, used: rows.length },
    },
  };
}

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mer-report-stats-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('intervals and paired tests of the report', () => {
  test('over seeds: each seed the mean over its folds, then the t interval over seeds', () => {
    const s = seedSummary(FULL);
    assert.deepEqual(s.seeds, SEEDS);
    for (const k of ['accuracy', 'weightedF1', 'macroF1'] as const) {
      const perSeed = SEEDS.map((seed) => {
        const mine = FULL.filter((r) => r.seed === seed).map((r) => r.metrics[k]);
        return mine.reduce((a, b) => a + b, 0) / mine.length;
      });
      assert.deepEqual(
        s.perSeed.map((p) => p.mean[k]),
        perSeed,
      );
      const t = tInterval(perSeed, 0.95);
      assert.equal(s.mean[k], t.mean);
      assert.equal(s.std[k], t.std);
      assert.deepEqual(s.interval[k], { estimate: t.mean, low: t.low, high: t.high });
    }
    assert.equal(s.degenerate, false);
    assert.equal(seedSummary(FULL.filter((r) => r.seed === 0)).degenerate, true, 'one seed: no spread');
  });

  test('pooled: every seed stacked, resampled by dialogue', () => {
    const p = pooledInterval(FULL, clusterOf, CLASSES.length);
    assert.equal(p.items, rows.length * SEEDS.length);
    assert.equal(p.clusters, DIALOGUES);
    assert.equal(p.rounds, 1000);
    const stacked = foldMetrics(
      FULL.flatMap((r) => Array.from(r.labels)),
      FULL.flatMap((r) => Array.from(r.predicted)),
      CLASSES,
    );
    assert.equal(p.accuracy.estimate, stacked.accuracy);
    assert.ok(Math.abs(p.weightedF1.estimate - stacked.weightedF1) < 1e-12);
    for (const k of ['accuracy', 'weightedF1'] as const)
      assert.ok(p[k].low < p[k].estimate && p[k].estimate < p[k].high, `${k}: ${JSON.stringify(p[k])}`);
  });

  test('paired: a real difference holds, the duplicate is exactly null, Holm covers every comparison', () => {
    const cs = compareVariants(VARIANTS, clusterOf, CLASSES.length);
    assert.deepEqual(
      cs.map((c) => [c.variant, c.metric]),
      [
        ['V', 'accuracy'],
        ['V', 'weightedF1'],
        ['T+A+V-again', 'accuracy'],
        ['T+A+V-again', 'weightedF1'],
      ],
    );
    for (const c of cs) {
      assert.equal(c.baseline, 'T+A+V');
      assert.equal(c.items, rows.length * SEEDS.length);
      assert.equal(c.clusters, DIALOGUES);
    }
    const [vAcc, vF1, dupAcc, dupF1] = cs;
    assert.ok(vAcc.difference < -0.2 && vAcc.high < 0, `V is far worse: ${JSON.stringify(vAcc)}`);
    assert.ok(vAcc.holds && vF1.holds);
    for (const d of [dupAcc, dupF1]) {
      assert.equal(d.difference, 0);
      assert.equal(d.pValue, 1);
      assert.equal(d.pAdjusted, 1);
      assert.equal(d.holds, false);
    }
    assert.deepEqual(
      cs.map((c) => c.pAdjusted),
      holm(cs.map((c) => c.pValue)).adjusted,
    );
    // Items are paired by (seed, utterance), not by position: the runs' order does not matter.
    const shuffled = compareVariants(
      [VARIANTS[0], { name: 'V', runs: [...VARIANTS[1].runs].reverse() }],
      clusterOf,
      CLASSES.length,
    );
    assert.deepEqual(
      shuffled.map((c) => c.difference),
      [vAcc.difference, vF1.difference],
    );
  });

  test(
    'the report shows intervals, the paired tests and error bars, in headless chromium',
    {
      skip: chromiumSkipReason(),
    },
    async () => {
      const d = draft();
      const rendered = await renderReport(d, []);
      MetricsReportSchema.parse({
        ...d,
        figures: rendered.figures.map(({ id, file, caption }) => ({ id, file, caption })),
      });
      assert.deepEqual(
        rendered.figures.map((f) => f.id),
        ['confusion', 'ablation', 'differences'],
      );
      assert.match(rendered.markdown, /Paired tests against T\+A\+V/);
      assert.match(rendered.markdown, /approximate randomisation over dialogues \(10,000 rounds, seed 0/);
      const html = join(dir, 'report.html');
      await writeFile(html, rendered.html);
      const browser = await launchChromium();
      try {
        const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
        page.setDefaultTimeout(30_000);
        const requests: string[] = [];
        page.on('request', (r) => requests.push(r.url()));
        const url = pathToFileURL(html).href;
        await page.goto(url, { waitUntil: 'load' });
        const text = await page.locator('main').innerText();
        assert.match(text, /Intervals \(95%\)/);
        assert.match(text, /Student t interval/);
        // The ablation table: the duplicate does not hold, V does.
        const ablation = page.locator('table', { hasText: 'Δ weighted F1' });
        const row = async (name: string) =>
          (
            await ablation.locator('tr', { has: page.locator(`td:first-child:text-is("${name}")`) }).innerText()
          ).replace(/\s+/g, ' ');
        assert.match(await row('T+A+V-again'), /\+?0\.0 \[0\.0, 0\.0\], p 1, does not hold/);
        assert.match(await row('V'), /-\d+\.\d \[-\d+\.\d, -\d+\.\d\], p [\d.e-]+, holds/);
        assert.match(await row('T+A+V'), /baseline/);
        for (const id of ['ablation', 'differences']) {
          const svg = page.locator(`figure#${id} svg[data-chart="${id}"]`);
          assert.equal(await svg.count(), 1, `${id}: one chart`);
          assert.ok(await svg.isVisible(), `${id}: visible`);
          const box = await svg.boundingBox();
          assert.ok(box && box.width > 300 && box.height > 100, `${id}: bounding box ${JSON.stringify(box)}`);
        }
        // Error bars: one rule per bar (3 variants x 2 metrics), drawn from the t interval over seeds.
        assert.equal(await page.locator('figure#ablation svg g.mark-rule.role-mark line').count(), 6);
        const axis = (await page.locator('figure#ablation svg text').allTextContents()).map((t) => t.trim());
        assert.ok(axis.includes('Score (mean over seeds, 95% t interval)'), JSON.stringify(axis));
        // One interval per comparison (2 variants x 2 metrics) and a point at each difference.
        assert.equal(
          await page.locator('figure#differences svg g.mark-rule[class*="intervals_layer"] line').count(),
          4,
        );
        assert.equal(await page.locator('figure#differences svg g.points_marks path').count(), 4);
        await mkdir(join(REPO_ROOT, 'artifacts', 'report'), { recursive: true });
        await page.screenshot({ path: join(REPO_ROOT, 'artifacts', 'report', 'report-stats.png'), fullPage: true });
        assert.deepEqual(requests, [url], 'the page loads nothing but itself');
      } finally {
        await browser.close();
      }
    },
  );
});
