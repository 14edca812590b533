/**
 * `mer compare` on two real reports that differ in one parameter: two trainings of the same tiny fold
 * (trainFoldStep) at different train.lr, each scored by the real evaluate activity into its own
 * content-addressed report, fetched as `mer report` lays them out, then compared by the real `mer`
 * bin. It must name exactly `config.train.lr`, give the pooled metric difference with its paired test,
 * and render a page headless Chromium draws.
 */
import assert from 'node:assert/strict';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { compareReports } from '../../activities/evaluate/compare/compare.ts';
import { evaluateDatasetStep } from '../../activities/evaluate/finalize.ts';
import { resolveCompareArguments } from '../../cli/compare.ts';
import { trainFoldStep, type TrainFoldResult } from '../../activities/train/fold.ts';
import { vscParams } from '../../schemas/compress.ts';
import { ComparisonSchema, type Comparison } from '../../schemas/compare.ts';
import type { ModalityFeaturesResult } from '../../schemas/config.ts';
import { COMMIT_MARKER, modelKeys, reportKeys } from '../../schemas/layout.ts';
import { MetricsReportSchema } from '../../schemas/report.ts';
import { TrainParamsSchema } from '../../schemas/train.ts';
import { chromiumSkipReason, launchChromium } from '../helpers/chromium.ts';
import { runMer } from '../helpers/cli.ts';
import { foldStore, recordingContext, type FoldStore } from '../train/fold-store.ts';

const ARTIFACTS = fileURLToPath(new URL('../../artifacts/compare/', import.meta.url));
const SEGMENT_REPORT = 'segments/sg/report.json';
const TRAIN = { batchSize: 8, maxEpochs: 3, patience: 3, checkpointEverySteps: 0 };

let fx: FoldStore;
const reports: Record<string, string> = {};
const pooled: Record<string, { accuracy: number; weightedF1: number }> = {};

function modality(m: 'text' | 'audio' | 'visual', prefix: string, dim: number): ModalityFeaturesResult {
  return {
    modality: m,
    featuresPrefix: prefix,
    reportKey: `${prefix}/report.json`,
    shardKeys: [],
    modelSha256: `${m[0]}`.repeat(64),
    dim,
    rows: 96,
    ok: 96,
    quarantined: 0,
    quarantineReasons: {},
    ran: true,
  };
}

/** Trains the fold at `lr`, evaluates it and copies the report where `mer report` would put it. */
async function reportAt(name: string, lr: number): Promise<string> {
  const params = TrainParamsSchema.parse({ ...TRAIN, lr });
  const input = fx.input(params);
  const r: TrainFoldResult = await trainFoldStep(input, recordingContext(), { threads: 1 });
  const configHash = `run-${name}`;
  const evaluated = await evaluateDatasetStep({
    store: input.store,
    configHash,
    labels: 'sentiment3',
    acquired: {
      dataset: 'meld',
      sourceKey: 'src',
      rawPrefix: 'raw/meld/src',
      manifestKey: 'man',
      summaryKey: 'datasets/meld/man/summary.json',
      rows: 96,
      inLabelSet: 96,
      issues: 0,
      ran: { download: false, extract: false, manifest: false },
    },
    segmented: {
      dataset: 'meld',
      segKey: 'sg',
      prefix: 'segments/sg',
      reportKey: SEGMENT_REPORT,
      shardKeys: [],
      utterances: 96,
      ok: 96,
      quarantined: 0,
      audioSeconds: 96,
      frames: 0,
      ran: false,
    },
    features: {
      dataset: 'meld',
      modalities: {
        text: modality('text', input.features.text.prefix, input.features.text.dim),
        audio: modality('audio', input.features.audio.prefix, input.features.audio.dim),
        visual: modality('visual', 'features/visual/fv', 4),
      },
      ran: false,
    },
    compressed: { dataset: 'meld', outputs: [], ran: false },
    trained: {
      dataset: 'meld',
      splitsKey: fx.splitsKey,
      planKey: `splits/${fx.splitsKey}/plan.json`,
      protocol: 'official',
      optimistic: false,
      classes: r.classes,
      folds: [],
      variants: [input.variant.name],
      runs: [
        {
          trainKey: r.trainKey,
          variant: r.variant,
          fold: r.fold,
          bestEpoch: r.bestEpoch,
          validation: r.validation,
          test: r.test,
          epochs: r.epochs,
          resumedFromStep: 0,
          resultKey: modelKeys(r.trainKey).result,
          reused: r.skipped,
        },
      ],
      ran: true,
    },
    variants: [input.variant],
    settings: { train: params, vsc: vscParams() },
    timings: [],
  });
  // `mer report`'s layout: the report's objects less runs/ and _COMMIT, and this run's file as run.json.
  const dir = join(fx.root, 'fetched', name, 'meld');
  const keys = reportKeys(evaluated.evalKey);
  for (const o of await fx.store.list(keys.contents)) {
    const rel = o.key.slice(keys.contents.length);
    if (rel === COMMIT_MARKER || o.key.startsWith(keys.runs)) continue;
    await mkdir(dirname(join(dir, rel)), { recursive: true });
    await writeFile(join(dir, rel), await fx.store.get(o.key));
  }
  await writeFile(join(dir, 'run.json'), await fx.store.get(keys.run(configHash)));
  const metrics = MetricsReportSchema.parse(JSON.parse(await readFile(join(dir, 'metrics.json'), 'utf8')));
  pooled[name] = metrics.variants[0].aggregate.pooled;
  return join(fx.root, 'fetched', name);
}

before(async () => {
  fx = await foldStore('compare', 96);
  await fx.store.put(
    SEGMENT_REPORT,
    JSON.stringify({
      dataset: 'meld',
      segKey: 'sg',
      manifestKey: 'man',
      ffmpegVersion: 'n/a',
      codeVersion: 1,
      params: {},
      createdAt: '2026-01-01T00:00:00.000Z',
      utterances: 96,
      ok: 96,
      quarantined: 0,
      flags: {},
      reasons: {},
      quarantinedItems: [],
      audioSeconds: 96,
      frames: 0,
      shards: [],
      timings: { wallMs: 0, shardMsTotal: 0, shardMsMax: 0, utterancesPerSecond: 0 },
    }),
  );
  reports.slow = await reportAt('slow', 0.0005);
  reports.fast = await reportAt('fast', 0.05);
});

after(async () => {
  if (fx) await rm(fx.root, { recursive: true, force: true });
});

describe('mer compare', () => {
  test('two runs differing in train.lr: exactly that parameter, the metric difference and its paired test', async () => {
    const out = join(fx.root, 'compare-out');
    const json = await runMer(['compare', reports.slow, join(reports.fast, 'meld'), '--json', '--out', out]);
    assert.equal(json.code, 0, json.stderr);
    const c: Comparison = ComparisonSchema.parse(JSON.parse(json.stdout));
    assert.deepEqual(
      c.entries.map((e) => [e.id, e.kind, e.dataset, e.configHash]),
      [
        ['A', 'report', 'meld', 'run-slow'],
        ['B', 'report', 'meld', 'run-fast'],
      ],
    );
    assert.deepEqual(c.provenance, [
      { dataset: 'meld', a: 'A', b: 'B', differences: [{ path: 'config.train.lr', a: '0.0005', b: '0.05' }] },
    ]);
    assert.equal(c.pairs.length, 1);
    const pair = c.pairs[0];
    assert.equal(pair.coincide, true, pair.reason);
    assert.equal(pair.onlyInA + pair.onlyInB + pair.labelDiffers, 0);
    assert.ok(pair.utterances.shared > 0);
    for (const metric of ['accuracy', 'weightedF1'] as const) {
      const t = pair.tests!.find((x) => x.metric === metric)!;
      // The test's difference is the pooled figure of B less that of A, as each report states it.
      assert.ok(Math.abs(t.difference - (pooled.fast[metric] - pooled.slow[metric])) < 1e-9, metric);
      assert.ok(t.low <= t.difference && t.difference <= t.high, `${metric} interval holds the difference`);
      assert.ok(t.pValue >= 0 && t.pValue <= 1);
      assert.equal(t.rounds, 10_000);
    }

    const text = await runMer(['compare', reports.slow, reports.fast, '--rounds', '2000']);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /what differs \(1\):\n\s+config\.train\.lr: 0\.0005 -> 0\.05\n/);
    assert.match(
      text.stdout,
      /T\+A: accuracy B − A [+−]\d+\.\d pts \[[+−]\d+\.\d, [+−]\d+\.\d\], p [=<] [\d.]+; weighted F1 B − A/,
    );
    assert.match(text.stdout, /2000 rounds, seed 0/);
    assert.equal(c.pairs[0].tests![0].method, 'randomisation');

    // The same report twice (in this process): made identically, difference 0.
    const same = await compareReports(await resolveCompareArguments([reports.slow, reports.slow], {}), {
      rounds: 500,
    });
    assert.deepEqual(same.provenance[0].differences, []);
    assert.ok(same.pairs[0].tests!.every((t) => t.difference === 0 && t.pValue === 1));
  });

  test('the comparison page renders in headless Chromium', { skip: chromiumSkipReason() }, async () => {
    const html = join(fx.root, 'compare-out', 'compare.html');
    const browser = await launchChromium();
    try {
      const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
      const requests: string[] = [];
      page.on('request', (r) => requests.push(r.url()));
      const url = pathToFileURL(html).href;
      await page.goto(url, { waitUntil: 'load' });
      assert.match(await page.title(), /DeepMSI-MER comparison: A, B/);
      const svg = page.locator('figure#headline-meld svg[data-chart="compare"]');
      assert.equal(await svg.count(), 1);
      assert.ok(await svg.isVisible());
      const box = await svg.boundingBox();
      assert.ok(box && box.width > 300 && box.height > 200, JSON.stringify(box));
      const text = await page.locator('main').innerText();
      assert.match(text, /config\.train\.lr\s+0\.0005\s+0\.05/);
      assert.match(text, /Paired tests, B − A/);
      await mkdir(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: join(ARTIFACTS, 'compare.png'), fullPage: true });
      assert.deepEqual(requests, [url], 'the page loads nothing but itself');
    } finally {
      await browser.close();
    }
  });
});
