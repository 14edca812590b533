import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rowsToArrowTable, type ManifestRow } from '../../schemas/manifest.ts';
import type { Fold, SplitPlan } from '../../schemas/train.ts';
import { SplitPlanSchema } from '../../schemas/train.ts';
import { tableToParquet } from '../../activities/common/parquet.ts';
import { LocalStore } from '../../activities/store/index.ts';
import { planSplitsStep, readSplitPlan } from '../../activities/train/plan.ts';
import { assertNoLeakage, buildSplits, naturalCompare, splitsKey } from '../../activities/train/splits.ts';
import { featureShard } from '../compress/feature-shards.ts';
import { Rng } from '../../activities/model/rng.ts';
import { iemocapRows, meldRows } from './manifests.ts';

const iemocap = iemocapRows({ dialogues: 6, session4Dialogues: 25, turns: 6, classes: 6, unlabelled: 0.2, seed: 3 });
const byId = new Map(iemocap.map((r) => [r.utteranceId, r]));
const excluded = new Set(
  iemocap.filter((_, i) => i % 17 === 0 && iemocap[i].labelIndex >= 0).map((r) => r.utteranceId),
);
const used = iemocap.filter((r) => r.labelIndex >= 0 && !excluded.has(r.utteranceId));

const ids = (f: Fold, part: 'train' | 'validation' | 'test') => f[part].utteranceIds;
const speakersOf = (list: readonly string[]) =>
  new Set(list.map((id) => `${byId.get(id)!.session}${byId.get(id)!.speaker}`));

/** Every fold: disjoint train/validation/test covering exactly the used rows, labels from the manifest. */
function checkCover(plan: SplitPlan, rows: readonly ManifestRow[]) {
  const want = new Map(rows.map((r) => [r.utteranceId, r.labelIndex]));
  for (const f of plan.folds) {
    // `paper` folds validate on their test fold, so only train + test must add up there.
    const all = [...f.train.utteranceIds, ...f.test.utteranceIds, ...(f.optimistic ? [] : f.validation.utteranceIds)];
    const union = new Set([...f.train.utteranceIds, ...f.validation.utteranceIds, ...f.test.utteranceIds]);
    assert.equal(union.size, want.size, `${f.name}: covers every used utterance once`);
    assert.equal(all.length, want.size, `${f.name}: no utterance in two splits`);
    for (const part of [f.train, f.validation, f.test]) {
      part.utteranceIds.forEach((id, i) => assert.equal(part.labels[i], want.get(id), `${f.name}: label of ${id}`));
    }
  }
  SplitPlanSchema.parse(plan);
}

describe('IEMOCAP loso', () => {
  const plan = buildSplits({ rows: iemocap, params: { protocol: 'loso' }, exclude: excluded });

  test('five folds, one per test session, leaving out unlabelled and quarantined rows', () => {
    assert.equal(plan.folds.length, 5);
    assert.deepEqual(plan.counts, {
      rows: iemocap.length,
      unlabelled: iemocap.length - used.length - excluded.size,
      excluded: excluded.size,
      used: used.length,
    });
    checkCover(plan, used);
    for (const [i, f] of plan.folds.entries()) {
      assert.equal(f.name, `loso-Session${i + 1}`);
      assert.ok(f.test.utteranceIds.every((id) => byId.get(id)!.session === i + 1));
      assert.equal(f.test.utteranceIds.length, used.filter((r) => r.session === i + 1).length);
      assert.equal(f.optimistic, false);
      for (const id of excluded)
        assert.ok(![ids(f, 'train'), ids(f, 'validation'), ids(f, 'test')].some((l) => l.includes(id)));
    }
  });

  test('speaker independence: test speakers never train or validate; the validation speaker never trains', () => {
    for (const [i, f] of plan.folds.entries()) {
      const train = speakersOf(f.train.utteranceIds);
      const validation = speakersOf(f.validation.utteranceIds);
      const testS = speakersOf(f.test.utteranceIds);
      for (const s of testS) assert.ok(!train.has(s) && !validation.has(s), `${f.name}: test speaker ${s} leaks`);
      assert.equal(validation.size, 1, `${f.name}: one validation actor`);
      const [v] = validation;
      assert.ok(!train.has(v), `${f.name}: validation speaker ${v} also trains`);
      // The session after the test session, actors alternating F/M over the folds.
      assert.equal(v, `${((i + 1) % 5) + 1}${i % 2 === 0 ? 'F' : 'M'}`);
      assert.match(f.validationRule, /speaker [FM] of Session\d/);
    }
  });

  test('session validation holds out a whole training session', () => {
    const p = buildSplits({
      rows: iemocap,
      params: { protocol: 'loso', losoValidation: 'session' },
      exclude: excluded,
    });
    checkCover(p, used);
    for (const [i, f] of p.folds.entries()) {
      const sessions = (l: readonly string[]) => new Set(l.map((id) => byId.get(id)!.session));
      assert.deepEqual([...sessions(f.validation.utteranceIds)], [((i + 1) % 5) + 1]);
      assert.equal(sessions(f.train.utteranceIds).size, 3);
    }
  });
});

describe('IEMOCAP s5', () => {
  test('sessions 1-4 train, the last 20 dialogues of session 4 (natural order) validate, session 5 tests', () => {
    const plan = buildSplits({ rows: iemocap, params: { protocol: 's5' } });
    const labelled = iemocap.filter((r) => r.labelIndex >= 0);
    checkCover(plan, labelled);
    const [f] = plan.folds;
    const dialogues = (l: readonly string[]) => new Set(l.map((id) => byId.get(id)!.dialogueId));
    // Natural order: impro6 .. impro25 are the last 20 (lexical order would end with impro9).
    assert.deepEqual(
      [...dialogues(f.validation.utteranceIds)].sort(naturalCompare),
      Array.from({ length: 20 }, (_, i) => `Ses04F_impro${i + 6}`),
    );
    const count = (pred: (r: ManifestRow) => boolean) => labelled.filter(pred).length;
    assert.equal(
      f.validation.utteranceIds.length,
      count((r) => r.session === 4 && Number(r.dialogueId.slice(12)) >= 6),
    );
    assert.equal(
      f.test.utteranceIds.length,
      count((r) => r.session === 5),
    );
    assert.equal(
      f.train.utteranceIds.length,
      count((r) => r.session! <= 3 || (r.session === 4 && Number(r.dialogueId.slice(12)) < 6)),
    );
    assert.equal(plan.optimistic, false);
    assert.match(f.validationRule, /last 20 of 25 dialogues of Session4 \(Ses04F_impro6 \.\. Ses04F_impro25\)/);
  });

  test('natural order compares digit runs as numbers', () => {
    const sorted = [
      'Ses01F_script01_10',
      'Ses01F_impro10',
      'Ses01F_script01_2',
      'Ses01F_impro9',
      'Ses01F_impro09',
    ].sort(naturalCompare);
    assert.deepEqual(sorted, [
      'Ses01F_impro9',
      'Ses01F_impro09',
      'Ses01F_impro10',
      'Ses01F_script01_2',
      'Ses01F_script01_10',
    ]);
  });
});

describe('paper protocol (random 10-fold, optimistic)', () => {
  test('test folds partition the data in near-equal sizes; validation is the test fold, flagged', () => {
    const plan = buildSplits({ rows: iemocap, params: { protocol: 'paper', seed: 5 }, exclude: excluded });
    assert.equal(plan.folds.length, 10);
    assert.equal(plan.optimistic, true);
    checkCover(plan, used);
    const seen = new Map<string, number>();
    for (const f of plan.folds) {
      assert.equal(f.optimistic, true);
      assert.deepEqual(f.validation, f.test);
      for (const id of f.test.utteranceIds) seen.set(id, (seen.get(id) ?? 0) + 1);
    }
    assert.equal(seen.size, used.length);
    assert.ok(
      [...seen.values()].every((n) => n === 1),
      'every utterance is tested exactly once',
    );
    const sizes = plan.folds.map((f) => f.test.utteranceIds.length);
    assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1, `sizes ${sizes.join(',')}`);
  });

  test('seeded: same seed same folds whatever the row order; another seed other folds', () => {
    const a = buildSplits({ rows: iemocap, params: { protocol: 'paper', seed: 5 } });
    const shuffled = [...iemocap];
    const perm = new Rng(9, 9).permutation(shuffled.length);
    const b = buildSplits({ rows: Array.from(perm, (i) => iemocap[i]), params: { protocol: 'paper', seed: 5 } });
    assert.deepEqual(b, a);
    const c = buildSplits({ rows: iemocap, params: { protocol: 'paper', seed: 6 } });
    assert.notDeepEqual(c.folds[0].test, a.folds[0].test);
  });
});

describe('MELD', () => {
  const meld = meldRows({ train: 60, dev: 15, test: 20 }, 1);

  test('official: train / dev / test as shipped', () => {
    const plan = buildSplits({ rows: meld, params: { protocol: 'official' } });
    checkCover(plan, meld);
    const [f] = plan.folds;
    assert.equal(plan.folds.length, 1);
    assert.ok(f.train.utteranceIds.every((id) => id.startsWith('meld_train_')) && f.train.utteranceIds.length === 60);
    assert.ok(
      f.validation.utteranceIds.every((id) => id.startsWith('meld_dev_')) && f.validation.utteranceIds.length === 15,
    );
    assert.ok(f.test.utteranceIds.every((id) => id.startsWith('meld_test_')) && f.test.utteranceIds.length === 20);
    assert.equal(plan.optimistic, false);
    assert.deepEqual(plan.classes, ['neutral', 'joy', 'surprise', 'anger', 'sadness', 'disgust', 'fear']);
  });

  test('paper: random 10-fold over train, dev and test together', () => {
    const plan = buildSplits({ rows: meld, params: { protocol: 'paper' } });
    checkCover(plan, meld);
    const tested = plan.folds.flatMap((f) => f.test.utteranceIds);
    assert.equal(new Set(tested).size, meld.length);
    assert.ok(
      plan.folds.some((f) => new Set(f.test.utteranceIds.map((id) => id.split('_')[1])).size > 1),
      'folds mix the official splits',
    );
  });
});

describe('guards', () => {
  test('protocols are checked against the dataset; mixed or duplicated rows are refused', () => {
    assert.throws(
      () => buildSplits({ rows: iemocap, params: { protocol: 'official' } }),
      /official does not apply to iemocap \(use loso or s5 or paper\)/,
    );
    assert.throws(
      () => buildSplits({ rows: meldRows({ train: 3, dev: 3, test: 3 }, 1), params: { protocol: 'loso' } }),
      /loso does not apply to meld/,
    );
    assert.throws(
      () => buildSplits({ rows: [...iemocap, { ...iemocap[0], labelSet: '4class' }], params: { protocol: 'loso' } }),
      /is iemocap\/4class/,
    );
    assert.throws(() => buildSplits({ rows: [...iemocap, iemocap[3]], params: { protocol: 'loso' } }), /appears twice/);
    assert.throws(
      () => buildSplits({ rows: iemocap.filter((r) => r.session !== 5), params: { protocol: 's5' } }),
      /empty test split/,
    );
  });

  test('leakage checks reject a fold that shares utterances', () => {
    const plan = buildSplits({ rows: iemocap, params: { protocol: 'loso' } });
    const f = plan.folds[2];
    const leaky = {
      ...f,
      validation: {
        utteranceIds: [...f.validation.utteranceIds, f.test.utteranceIds[0]],
        labels: [...f.validation.labels, f.test.labels[0]],
      },
    };
    assert.throws(
      () => assertNoLeakage({ folds: [leaky] }),
      new RegExp(`loso-Session3: validation utterance ${f.test.utteranceIds[0]} is also in test`),
    );
    const trainLeak = {
      ...f,
      train: { utteranceIds: [...f.train.utteranceIds, f.test.utteranceIds[1]], labels: [...f.train.labels, 0] },
    };
    assert.throws(() => assertNoLeakage({ folds: [trainLeak] }), /test utterance .* is also in train/);
    assert.throws(
      () => assertNoLeakage({ folds: [{ ...f, optimistic: true }] }),
      /marked optimistic but validates on other data/,
    );
  });

  test('the cache key follows the manifest, the parameters and the exclusions', () => {
    const k = splitsKey('m1', { protocol: 'loso' });
    assert.equal(splitsKey('m1', { protocol: 'loso', seed: 0 }), k);
    assert.notEqual(splitsKey('m2', { protocol: 'loso' }), k);
    assert.notEqual(splitsKey('m1', { protocol: 'loso', losoValidation: 'session' }), k);
    assert.notEqual(splitsKey('m1', { protocol: 'loso' }, ['x']), k);
    assert.equal(
      splitsKey('m1', { protocol: 'loso' }, ['b', 'a', 'a']),
      splitsKey('m1', { protocol: 'loso' }, ['a', 'b']),
    );
  });
});

describe('planSplitsStep', () => {
  test('stores the plan once per manifest, parameters and quarantine; reruns read it back', async () => {
    const root = await mkdtemp(join(tmpdir(), 'mer-splits-'));
    try {
      const store = new LocalStore(root);
      await store.put('datasets/iemocap/m1/manifest.parquet', tableToParquet(rowsToArrowTable(iemocap)));
      const quarantined = used[4].utteranceId;
      const shard = featureShard(
        'text',
        4,
        1,
        [
          { id: quarantined, steps: 1, quarantined: true },
          { id: used[5].utteranceId, steps: 1 },
        ],
        1,
      );
      await store.put('features/text/f/shards/s0/features.parquet', shard.bytes);
      const input = {
        store: { kind: 'local' as const, root },
        manifest: 'datasets/iemocap/m1/manifest.parquet',
        params: { protocol: 'loso' as const },
        quarantineFrom: ['features/text/f/shards/s0/features.parquet'],
      };
      const first = await planSplitsStep(input);
      assert.equal(first.skipped, false);
      assert.equal(first.folds.length, 5);
      assert.equal(first.counts.excluded, 1);
      const plan = await readSplitPlan(store, first.splitsKey);
      assert.deepEqual(plan, buildSplits({ rows: iemocap, params: { protocol: 'loso' }, exclude: [quarantined] }));
      const again = await planSplitsStep(input);
      assert.deepEqual(again, { ...first, skipped: true });
      const other = await planSplitsStep({ ...input, quarantineFrom: [] });
      assert.notEqual(other.splitsKey, first.splitsKey);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
