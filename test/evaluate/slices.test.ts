import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  computeSlices,
  type SliceManifestRow,
  type SliceVariantInput,
} from '../../activities/evaluate/slices/index.ts';
import { SlicesSchema, type Slices } from '../../schemas/slices.ts';

/**
 * Slices against the Python reference (test/fixtures/evaluate/slices-reference.json, written by
 * scripts/evaluate/make_slices_fixtures.py): the slicing rules written out independently in Python,
 * the intervals from its exact re-implementation of the resampling, scikit-learn checking the scores.
 */

interface Case {
  name: string;
  classes: string[];
  manifest: Record<keyof SliceManifestRow, unknown[]>;
  variants: SliceVariantInput[];
  expected: Slices;
}
const FIX = JSON.parse(
  readFileSync(new URL('../fixtures/evaluate/slices-reference.json', import.meta.url), 'utf8'),
) as {
  options: { rounds: number; seed: number; level: number };
  cases: Case[];
};

function rows(columns: Case['manifest']): SliceManifestRow[] {
  const keys = Object.keys(columns) as (keyof SliceManifestRow)[];
  return columns.utteranceId.map((_, i) => Object.fromEntries(keys.map((k) => [k, columns[k][i]])) as SliceManifestRow);
}

/** Equal structure; numbers to 1e-12. */
function same(actual: unknown, expected: unknown, path: string): void {
  if (typeof expected === 'number') {
    assert.equal(typeof actual, 'number', `${path}: not a number`);
    assert.ok(Math.abs((actual as number) - expected) <= 1e-12, `${path}: got ${String(actual)}, expected ${expected}`);
  } else if (Array.isArray(expected)) {
    assert.ok(Array.isArray(actual), `${path}: not an array`);
    assert.equal(actual.length, expected.length, `${path}: length`);
    expected.forEach((e, i) => same(actual[i], e, `${path}[${i}]`));
  } else if (expected !== null && typeof expected === 'object') {
    assert.ok(actual !== null && typeof actual === 'object', `${path}: not an object`);
    assert.deepEqual(Object.keys(actual).sort(), Object.keys(expected).sort(), `${path}: keys`);
    for (const [k, e] of Object.entries(expected)) same((actual as Record<string, unknown>)[k], e, `${path}.${k}`);
  } else {
    assert.equal(actual, expected, path);
  }
}

describe('slices against the Python reference', () => {
  for (const c of FIX.cases) {
    test(`${c.name}: every slice, interval, cut point and class gain`, () => {
      const got = computeSlices({ classes: c.classes, manifest: rows(c.manifest), variants: c.variants }, FIX.options);
      SlicesSchema.parse(got);
      same(got, c.expected, c.name);
    });
  }
});

describe('slice properties', () => {
  const c = FIX.cases.find((x) => x.name === 'iemocap-like')!;
  const manifest = rows(c.manifest);
  const got = computeSlices({ classes: c.classes, manifest, variants: c.variants }, { rounds: 50 });

  test('each kind partitions the test utterances (duration: those with a positive duration)', () => {
    for (const v of got.variants) {
      const n = c.variants.find((x) => x.name === v.variant)!.utteranceIds.length;
      for (const kind of ['gender', 'speaker', 'interaction'] as const) {
        assert.equal(
          v.slices.filter((s) => s.kind === kind).reduce((a, s) => a + s.n, 0),
          n,
          `${v.variant} ${kind}`,
        );
      }
      const dur = v.slices.filter((s) => s.kind === 'duration').reduce((a, s) => a + s.n, 0);
      assert.equal(dur + v.durationExcluded, n);
      assert.ok(v.durationExcluded > 0, 'the fixture has zero-duration rows');
    }
  });
  test('IEMOCAP: ten actors as session + gender; intervals contain the estimate', () => {
    const full = got.variants[0];
    assert.deepEqual(
      full.slices.filter((s) => s.kind === 'speaker').map((s) => s.name),
      ['Ses01F', 'Ses01M', 'Ses02F', 'Ses02M', 'Ses03F', 'Ses03M', 'Ses04F', 'Ses04M', 'Ses05F', 'Ses05M'],
    );
    for (const s of full.slices) {
      for (const m of [s.accuracy, s.weightedF1]) assert.ok(m.low <= m.estimate && m.estimate <= m.high, s.name);
    }
  });
  test('small slices are flagged, not hidden', () => {
    const few = c.variants.map((v) => ({ ...v }));
    // Only the first 40 utterances: every actor slice falls under 30 utterances or 5 dialogues.
    const first = few[0];
    const cut = {
      ...first,
      utteranceIds: first.utteranceIds.slice(0, 40),
      labels: Array.from(first.labels).slice(0, 40),
      predicted: Array.from(first.predicted).slice(0, 40),
    };
    const s = computeSlices({ classes: c.classes, manifest, variants: [cut] }, { rounds: 20 });
    const speakers = s.variants[0].slices.filter((x) => x.kind === 'speaker');
    assert.ok(speakers.length > 0 && speakers.every((x) => x.small));
    assert.equal(s.classGains, null, 'no single-modality variant: no class gains');
  });
  test('a predicted utterance missing from the manifest is named', () => {
    const v = { ...c.variants[0], utteranceIds: ['nope', ...c.variants[0].utteranceIds.slice(1)] };
    assert.throws(
      () => computeSlices({ classes: c.classes, manifest, variants: [v] }),
      /utterance nope, which is not in the manifest/,
    );
  });
});
