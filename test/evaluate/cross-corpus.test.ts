/**
 * Cross-corpus evaluation called directly (no Temporal) on two tiny stored datasets in the IEMOCAP
 * (4class) and MELD (meld7) label sets whose features carry the same cue per shared class: each
 * dataset's real trained model (trainFoldStep) on the other's cached feature shards, over the shared
 * classes, its in-corpus figure recomputed over the same classes, the drop, the content-addressed
 * output reused, a feature-width mismatch refused, the config rules, and the page in headless Chromium.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { MerError } from '../../activities/common/errors.ts';
import {
  checkDimensions,
  crossCorpusStep,
  type CrossCorpusDataset,
} from '../../activities/evaluate/cross-corpus/step.ts';
import { Rng } from '../../activities/model/rng.ts';
import { LocalStore } from '../../activities/store/index.ts';
import { trainFoldStep, type TrainFoldResult } from '../../activities/train/fold.ts';
import { ConfigError, toPipelineInput } from '../../cli/config.ts';
import { RunConfigSchema, type DatasetName, type ModalityFeaturesResult } from '../../schemas/config.ts';
import { CrossCorpusReportSchema, SHARED_CLASS_MAP, sharedClasses } from '../../schemas/cross-corpus.ts';
import { crossCorpusKeys, modelKeys, splitPlanKey } from '../../schemas/layout.ts';
import { SplitPlanSchema, TrainParamsSchema, type Partition, type ResolvedVariant } from '../../schemas/train.ts';
import { featureShard } from '../compress/feature-shards.ts';
import { TINY } from '../extract/inputs.ts';
import { chromiumSkipReason, launchChromium } from '../helpers/chromium.ts';
import { recordingContext } from '../train/fold-store.ts';

const DT = 6;
const DA = 5;
const VARIANT: ResolvedVariant = { name: 'T+A', modalities: ['t', 'a'], vsc: true, contrastive: true };
const TRAIN = TrainParamsSchema.parse({ batchSize: 8, maxEpochs: 5, patience: 5, checkpointEverySteps: 0, lr: 0.01 });
const SHARED = ['neutral', 'happy', 'sad', 'angry'];

let root: string;
let store: LocalStore;
const data: Record<string, CrossCorpusDataset> = {};
const trained: Record<string, TrainFoldResult> = {};
const testIds: Record<string, { shared: number; other: number }> = {};

/**
 * A dataset of `n` utterances with labels cycling through `classes`; an utterance of a shared class
 * carries that class's cue (the same direction in both datasets) plus noise, others noise only.
 */
async function dataset(name: DatasetName, labelSet: '4class' | 'meld7', classes: string[], n: number, seed: number) {
  const map = SHARED_CLASS_MAP[labelSet];
  const ids = Array.from({ length: n }, (_, i) => `${name}_dia${Math.floor(i / 4)}_u${i}`);
  const label = (i: number) => i % classes.length;
  const rng = new Rng(seed, 3);
  const cue = (dim: number, i: number) => {
    const s = SHARED.indexOf(map[classes[label(i)]] ?? '');
    return Float32Array.from({ length: dim }, (_, d) => (d === s ? 3 : 0) + 0.4 * rng.normal());
  };
  const rows = ids.map((id) => ({ id, steps: 2 }));
  for (const [modality, dim] of [
    ['text', DT],
    ['audio', DA],
  ] as const) {
    const shard = featureShard(modality, dim, 1, rows, seed, 8, (rs) => rs.forEach((r, i) => (r.pooled = cue(dim, i))));
    await store.put(`features/${modality}/${name}-${modality}/shards/00000/features.parquet`, shard.bytes);
  }
  const part = (keep: (i: number) => boolean): Partition => {
    const idx = ids.map((_, i) => i).filter(keep);
    return { utteranceIds: idx.map((i) => ids[i]), labels: idx.map(label) };
  };
  const isTest = (i: number) => i % 5 === 0;
  const isVal = (i: number) => i % 5 === 1;
  await store.put(
    splitPlanKey(`plan-${name}`),
    JSON.stringify(
      SplitPlanSchema.parse({
        dataset: name,
        labelSet,
        classes,
        params: { protocol: name === 'meld' ? 'official' : 's5' },
        optimistic: false,
        counts: { rows: n, unlabelled: 0, excluded: 0, used: n },
        folds: [
          {
            index: 0,
            name: name === 'meld' ? 'official' : 's5',
            test: part(isTest),
            testGroup: 'test',
            train: part((i) => !isTest(i) && !isVal(i)),
            validation: part(isVal),
            validationRule: 'every fifth utterance',
            optimistic: false,
          },
        ],
      }),
    ),
  );
  const tests = ids.map((_, i) => i).filter(isTest);
  testIds[name] = {
    shared: tests.filter((i) => map[classes[label(i)]]).length,
    other: tests.filter((i) => !map[classes[label(i)]]).length,
  };
  const features = {
    text: { prefix: `features/text/${name}-text`, dim: DT },
    audio: { prefix: `features/audio/${name}-audio`, dim: DA },
    visual: { prefix: 'visual-vsc/none', dim: 4, frames: 2 },
  };
  const r = await trainFoldStep(
    {
      store: { kind: 'local', root },
      dataset: name,
      splitsKey: `plan-${name}`,
      foldIndex: 0,
      variant: VARIANT,
      params: TRAIN,
      features,
    },
    recordingContext(),
    { threads: 1 },
  );
  trained[name] = r;
  const modality = (m: 'text' | 'audio' | 'visual', prefix: string, dim: number): ModalityFeaturesResult => ({
    modality: m,
    featuresPrefix: prefix,
    reportKey: `${prefix}/report.json`,
    shardKeys: [],
    modelSha256: m[0].repeat(64),
    dim,
    rows: n,
    ok: n,
    quarantined: 0,
    quarantineReasons: {},
    ran: true,
  });
  data[name] = {
    dataset: name,
    labels: labelSet,
    features: {
      dataset: name,
      modalities: {
        text: modality('text', features.text.prefix, DT),
        audio: modality('audio', features.audio.prefix, DA),
        visual: modality('visual', 'features/visual/none', 4),
      },
      ran: true,
    },
    compressed: {
      dataset: name,
      outputs: [
        {
          enabled: true,
          vscKey: 'none',
          prefix: 'visual-vsc/none',
          reportKey: 'visual-vsc/none/report.json',
          shardKeys: [],
          frames: 2,
          dim: 4,
          utterances: n,
          ratio: 1,
          byteRatio: 1,
          seconds: 0,
          ran: true,
        },
      ],
      ran: true,
    },
    trained: {
      dataset: name,
      splitsKey: `plan-${name}`,
      planKey: splitPlanKey(`plan-${name}`),
      protocol: name === 'meld' ? 'official' : 's5',
      optimistic: false,
      classes,
      folds: [],
      variants: [VARIANT.name],
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
          reused: false,
        },
      ],
      ran: true,
    },
  };
}

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'mer-cross-'));
  store = new LocalStore(root);
  await dataset('iemocap', '4class', ['neu', 'hap', 'ang', 'sad'], 120, 5);
  await dataset('meld', 'meld7', ['neutral', 'joy', 'surprise', 'anger', 'sadness', 'disgust', 'fear'], 140, 6);
});

after(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

describe('cross-corpus evaluation', () => {
  test("each dataset's model on the other's test split over the shared classes, beside its in-corpus figure", async () => {
    const input = { store: { kind: 'local' as const, root }, datasets: [data.iemocap, data.meld], variants: [VARIANT] };
    const ctx = recordingContext();
    const first = await crossCorpusStep(input, ctx, { threads: 1 });
    assert.equal(first.skipped, false);
    const report = CrossCorpusReportSchema.parse(JSON.parse((await store.get(first.reportKey)).toString('utf8')));
    assert.deepEqual(report.sharedClasses, SHARED);
    assert.deepEqual(report.mapping.meld.classes, { neutral: 'neutral', joy: 'happy', sadness: 'sad', anger: 'angry' });
    assert.deepEqual(
      report.directions.map((d) => [d.source, d.target, d.targetUtterances, d.targetLeftOut]),
      [
        ['iemocap', 'meld', testIds.meld.shared, testIds.meld.other],
        ['meld', 'iemocap', testIds.iemocap.shared, 0],
      ],
    );
    const [im, mi] = report.directions.map((d) => d.variants[0]);
    // Every 4class class is shared, one to one: the in-corpus figure is the fold's own test figure.
    assert.ok(Math.abs(im.inCorpus.accuracy - trained.iemocap.test.accuracy) < 1e-12);
    assert.ok(Math.abs(im.inCorpus.weightedF1 - trained.iemocap.test.weightedF1) < 1e-12);
    assert.equal(im.folds[0].crossCorpus.n, testIds.meld.shared);
    assert.equal(im.folds[0].inCorpus.n, trained.iemocap.test.n);
    // The cue is the same in both corpora: a correct mapping transfers far above chance (1/4).
    for (const v of [im, mi]) {
      assert.ok(v.crossCorpus.accuracy > 0.6, `cross-corpus accuracy ${v.crossCorpus.accuracy}`);
      assert.ok(Math.abs(v.drop.accuracy - (v.inCorpus.accuracy - v.crossCorpus.accuracy)) < 1e-12);
      assert.ok(Math.abs(v.drop.weightedF1 - (v.inCorpus.weightedF1 - v.crossCorpus.weightedF1)) < 1e-12);
    }
    assert.ok(ctx.beats.some((b) => b.phase === 'predict'));
    assert.deepEqual(
      first.headline.map((h) => [h.source, h.target, h.accuracyDrop]),
      [
        ['iemocap', 'meld', im.drop.accuracy],
        ['meld', 'iemocap', mi.drop.accuracy],
      ],
    );
    const again = await crossCorpusStep(input, recordingContext(), { threads: 1 });
    assert.equal(again.skipped, true);
    assert.equal(again.key, first.key);
    assert.equal(first.prefix, crossCorpusKeys(first.key).prefix);
  });

  test('features of different widths are refused with a config error naming them', () => {
    const wide = structuredClone(data.meld);
    wide.features.modalities.text.dim = DT + 2;
    assert.throws(
      () => checkDimensions(data.iemocap, wide, [VARIANT]),
      (e: unknown) =>
        e instanceof MerError && e.type === 'MerConfigInvalid' && /text iemocap 6 vs meld 8/.test(e.message),
    );
    checkDimensions(data.iemocap, data.meld, [VARIANT]);
  });

  test('config: only with both datasets and emotion label sets; absent from the hash unless enabled', () => {
    const base = {
      store: { kind: 'local', root: join(root, 'cfg-store') },
      datasets: { iemocap: { source: root, labels: '6class' }, meld: { source: root } },
      extract: { text: { model: TINY.text }, audio: { model: TINY.audio }, visual: { model: TINY.visual } },
    };
    const plain = toPipelineInput(RunConfigSchema.parse(base), root, false);
    const off = toPipelineInput(RunConfigSchema.parse({ ...base, evaluate: { crossCorpus: false } }), root, false);
    const on = toPipelineInput(RunConfigSchema.parse({ ...base, evaluate: { crossCorpus: true } }), root, false);
    assert.equal(off.configHash, plain.configHash);
    assert.equal(plain.evaluate, undefined);
    assert.deepEqual(on.evaluate, { crossCorpus: true });
    assert.notEqual(on.configHash, plain.configHash);
    const until = toPipelineInput(
      RunConfigSchema.parse({ ...base, until: 'train', evaluate: { crossCorpus: true } }),
      root,
      false,
    );
    assert.equal(until.evaluate, undefined);
    assert.throws(
      () =>
        toPipelineInput(
          RunConfigSchema.parse({ ...base, datasets: { meld: { source: root } }, evaluate: { crossCorpus: true } }),
          root,
          false,
        ),
      (e: unknown) => e instanceof ConfigError && /needs both iemocap and meld/.test(e.message),
    );
    assert.throws(
      () =>
        toPipelineInput(
          RunConfigSchema.parse({
            ...base,
            datasets: { ...base.datasets, meld: { source: root, labels: 'sentiment3' } },
            evaluate: { crossCorpus: true },
          }),
          root,
          false,
        ),
      (e: unknown) => e instanceof ConfigError && /share no emotion classes/.test(e.message),
    );
    // 6class leaves exc out; 4class's hap already holds it.
    assert.deepEqual(sharedClasses('6class', 'meld7'), SHARED);
    assert.equal(SHARED_CLASS_MAP['6class'].exc, undefined);
  });

  test(
    'the cross-corpus page renders in headless Chromium with the mapping',
    { skip: chromiumSkipReason() },
    async () => {
      const key = (await store.list('cross-corpus/')).find((o) => o.key.endsWith('/report.html'))!.key;
      const browser = await launchChromium();
      try {
        const page = await browser.newPage();
        await page.goto(`file://${join(root, key)}`, { waitUntil: 'load' });
        assert.match(await page.title(), /cross-corpus evaluation: iemocap and meld/);
        const text = await page.locator('main').innerText();
        assert.match(text, /meld7: neutral -> neutral, joy -> happy, sadness -> sad, anger -> angry/);
        assert.match(text, /iemocap models on meld/);
        assert.equal(await page.locator('table').count(), 3, 'the mapping and one table per direction');
      } finally {
        await browser.close();
      }
    },
  );
});
