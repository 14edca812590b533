import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { tableToParquet } from '../../activities/common/parquet.ts';
import { aggregateMetrics, foldMetrics } from '../../activities/evaluate/metrics.ts';
import { renderReport } from '../../activities/evaluate/report-build.ts';
import { computeSlices, storedSlices, type SliceVariantInput } from '../../activities/evaluate/slices/index.ts';
import { LocalStore } from '../../activities/store/index.ts';
import { predictionsToParquet } from '../../activities/train/predictions.ts';
import { rowsToArrowTable, type ManifestRow } from '../../schemas/manifest.ts';
import { manifestRowBase } from '../train/manifests.ts';
import { MetricsReportSchema, REPORT_VERSION, type MetricsReport } from '../../schemas/report.ts';
import type { Slices } from '../../schemas/slices.ts';
import { chromiumSkipReason, launchChromium } from '../helpers/chromium.ts';

/**
 * Slices as the evaluate stage makes them: the manifest and the pooled predictions read from a real
 * store (Parquet), the Slices section of a rendered report, and its charts in headless Chromium.
 */

const FIX = JSON.parse(
  readFileSync(new URL('../fixtures/evaluate/slices-reference.json', import.meta.url), 'utf8'),
) as {
  cases: { name: string; classes: string[]; manifest: Record<string, unknown[]>; variants: SliceVariantInput[] }[];
};
const CASE = FIX.cases.find((c) => c.name === 'meld-like')!;
const N = CASE.manifest.utteranceId.length;

function manifestRows(): ManifestRow[] {
  const m = CASE.manifest;
  return Array.from({ length: N }, (_, i) => ({
    ...manifestRowBase,
    utteranceId: m.utteranceId[i] as string,
    dataset: 'meld',
    split: 'test',
    session: null,
    dialogueId: m.dialogueId[i] as string,
    speaker: m.speaker[i] as string,
    startSec: m.startSec[i] as number,
    endSec: m.endSec[i] as number,
    text: '',
    labelNative: 'neutral',
    labelSet: 'meld7',
    labelIndex: 0,
    labelName: 'neutral',
    sentiment: 'neutral',
    utteranceIndex: i,
  }));
}

let dir: string;
let store: LocalStore;
const variants = CASE.variants.map((v) => ({
  name: v.name,
  modalities: v.modalities,
  predictionsKey: `reports/e/predictions/${v.name}.parquet`,
}));

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mer-slices-'));
  store = new LocalStore(dir);
  await store.put('manifest.parquet', tableToParquet(rowsToArrowTable(manifestRows())));
  for (const [i, v] of CASE.variants.entries()) {
    const n = v.utteranceIds.length;
    const probabilities = new Float32Array(n * CASE.classes.length);
    for (let j = 0; j < n; j++) probabilities[j * CASE.classes.length + v.predicted[j]] = 1;
    await store.put(
      variants[i].predictionsKey,
      predictionsToParquet({
        utteranceIds: v.utteranceIds,
        fold: 'test',
        labels: Int32Array.from(v.labels),
        predicted: Int32Array.from(v.predicted),
        probabilities,
        classes: CASE.classes,
      }),
    );
  }
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

function draft(slices: Slices): Omit<MetricsReport, 'figures'> {
  const v = CASE.variants[0];
  const fold = foldMetrics(v.labels, v.predicted, CASE.classes);
  return {
    schema: 'mer-metrics',
    version: REPORT_VERSION,
    evalKey: 'e0e0e0e0e0e0e0e0e0e0',
    dataset: 'meld',
    labelSet: 'meld7',
    classes: CASE.classes,
    protocol: 'meld',
    optimistic: false,
    config: { train: {}, vsc: {} },
    provenance: {
      sourceKey: 's',
      manifestKey: 'manifest.parquet',
      encoders: { text: 't', audio: 'a', visual: 'v' },
      featureKeys: { text: 'ft', audio: 'fa', visual: 'fv' },
      vscKeys: [],
      splitsKey: 'p',
      code: { package: '0.1.0', train: 1, vsc: 1, evaluate: 3 },
    },
    variants: [
      {
        ...variants[0],
        modalities: ['t', 'a', 'v'],
        vsc: true,
        contrastive: true,
        folds: [
          {
            fold: 'test',
            testGroup: 'test',
            trainKey: 'k',
            bestEpoch: 0,
            epochs: 1,
            resumedFromStep: 0,
            seconds: 1,
            metrics: fold,
          },
        ],
        aggregate: aggregateMetrics([{ labels: v.labels, predicted: v.predicted }], CASE.classes),
      },
    ],
    ablation: null,
    slices,
    stages: {
      acquire: { rows: N, inLabelSet: N, issues: 0 },
      segment: { utterances: N, ok: N, quarantined: 0, reasons: {}, audioSeconds: 1 },
      extract: {},
      compress: [],
      train: { trainings: 3, seconds: 1, resumed: 0 },
      splits: { rows: N, unlabelled: 0, excluded: 0, used: N },
    },
  };
}

describe('slices in the evaluate stage', () => {
  let slices: Slices;
  test('read from the store: the same slices as from the predictions in memory', async () => {
    slices = await storedSlices(store, 'manifest.parquet', variants, CASE.classes, { rounds: 100 });
    const manifest = manifestRows();
    assert.deepEqual(
      slices,
      computeSlices({ classes: CASE.classes, manifest, variants: CASE.variants }, { rounds: 100 }),
    );
    assert.equal(slices.variants.length, 3);
    await assert.rejects(
      storedSlices(store, 'manifest.parquet', [{ ...variants[0], name: 'x' }], ['a', 'b']),
      (e: Error) => e.name === 'MerOutputInvalid' && /slices of manifest\.parquet/.test(e.message),
    );
  });

  test(
    'the report carries them in metrics.json and renders tables and both charts',
    { skip: chromiumSkipReason() },
    async () => {
      const rendered = await renderReport(draft(slices), []);
      const report = MetricsReportSchema.parse({
        ...draft(slices),
        figures: rendered.figures.map(({ id, file, caption }) => ({ id, file, caption })),
      });
      assert.deepEqual(report.slices, slices);
      assert.deepEqual(
        rendered.figures.map((f) => f.id),
        ['confusion', 'slices', 'class-gains'],
      );
      assert.match(rendered.markdown, /## Slices/);
      assert.match(rendered.markdown, /\| speaker \| other \| 18 \| 15 \| .* \| small \|/);
      const html = join(dir, 'report.html');
      await writeFile(html, rendered.html);
      const browser = await launchChromium();
      try {
        const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
        await page.goto(pathToFileURL(html).href, { waitUntil: 'load' });
        const points = slices.variants.reduce((a, v) => a + v.slices.length, 0);
        const small = slices.variants.reduce((a, v) => a + v.slices.filter((s) => s.small).length, 0);
        for (const id of ['slices', 'class-gains']) {
          const svg = page.locator(`figure#${id} svg[data-chart="${id}"]`);
          assert.equal(await svg.count(), 1, id);
          const box = await svg.boundingBox();
          assert.ok(box && box.width > 300 && box.height > 200, `${id}: ${JSON.stringify(box)}`);
        }
        // One point and one error bar per (variant, slice); small slices hollow (white fill).
        const marks = page.locator('figure#slices svg g.mark-symbol.points_marks path');
        assert.equal(await marks.count(), points);
        assert.equal(
          await page.locator('figure#slices svg g.mark-symbol.points_marks path[fill="white"]').count(),
          small,
        );
        assert.ok(small > 0, 'the MELD-like case has a small slice ("other")');
        const gains = slices.classGains!;
        const bars = gains.perClass.length * gains.against.length;
        assert.equal(await page.locator('figure#class-gains svg g.mark-rect.gains_marks path').count(), bars);
        const texts = await page.locator('figure#slices svg text').allTextContents();
        for (const label of ['speaker: Rachel', 'speaker: other', 'duration: long', 'full', 'text', 'audio'])
          assert.ok(texts.includes(label), `${label} in ${JSON.stringify(texts)}`);
      } finally {
        await browser.close();
      }
    },
  );
});
