import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { vscParams } from '../../schemas/compress.ts';
import { vscShardCommitPrefix, vscShardKey, vscPartialPrefix, vscPrefix } from '../../schemas/layout.ts';
import { toStageFailure, FeatureShardCorruptError } from '../../activities/common/shard-errors.ts';
import { decodeFloat16, encodeFloat16 } from '../../activities/common/float16.ts';
import { createGuidance } from '../../activities/compress/guidance.ts';
import { vscKey } from '../../activities/compress/key.ts';
import { openParquetGroups } from '../../activities/common/parquet-groups.ts';
import { finalizeCompressStep } from '../../activities/compress/finalize.ts';
import { compressShardStep } from '../../activities/compress/shard.ts';
import { readVscGroup, vscShardShape } from '../../activities/compress/vsc-table.ts';
import { createVsc } from '../../activities/compress/vsc.ts';
import type { StepContext } from '../../activities/common/context.ts';
import { LocalStore } from '../../activities/store/index.ts';
import { featureShard, type GeneratedUtterance } from './feature-shards.ts';

const P = 9;
const D = 8;
const utterances: GeneratedUtterance[] = [
  { id: 'u00', steps: 5 },
  { id: 'u01', steps: 3 },
  { id: 'u02', steps: 0, quarantined: true },
  { id: 'u03', steps: 7 },
  { id: 'u04', steps: 1 },
  { id: 'u05', steps: 4 },
  { id: 'u06', steps: 6 },
  { id: 'u07', steps: 0 },
  { id: 'u08', steps: 2 },
  { id: 'u09', steps: 5 },
];
const visual = featureShard('visual', D, P, utterances, 1);
const text = featureShard(
  'text',
  6,
  1,
  utterances.map((u) => ({ ...u, quarantined: false, steps: 3 })),
  2,
);
// One ok visual utterance whose audio is quarantined: its guidance uses zeros for audio.
const audio = featureShard(
  'audio',
  5,
  1,
  utterances.map((u) => ({ ...u, quarantined: u.id === 'u05', steps: 4 })),
  3,
);
const params = vscParams({ guidance: 'fixed', guidanceSeed: 4, topK: 4, maxFrames: 4, temporalThreshold: 0.9 });

let root: string;
const keys = {
  visual: 'features/visual/fv/shards/s0/features.parquet',
  text: 'features/text/ft/shards/s0/features.parquet',
  audio: 'features/audio/fa/shards/s0/features.parquet',
};

async function seededStore(name: string): Promise<LocalStore> {
  const store = new LocalStore(join(root, name));
  await store.put(keys.visual, visual.bytes);
  await store.put(keys.text, text.bytes);
  await store.put(keys.audio, audio.bytes);
  return store;
}

function context(onBeat: (d: Record<string, unknown>) => void = () => {}, signal?: AbortSignal): StepContext {
  return { signal, heartbeat: onBeat, resumeDetails: () => undefined };
}

async function readShard(store: LocalStore, key: string) {
  const groups = await openParquetGroups(await store.get(key), key);
  const shape = vscShardShape(groups);
  const rows: Array<{ id: string; length: number; seq: Float32Array }> = [];
  for (let g = 0; g < groups.groupRows.length; g++) {
    const r = await readVscGroup(groups, g, shape);
    r.ids.forEach((id, j) => rows.push({ id, length: r.lengths[j], seq: r.sequences[j].slice() }));
  }
  await groups.close();
  return { shape, rows };
}

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'mer-compress-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('compressShardStep', () => {
  const key = vscKey(params, { visual: 'fv', text: 'ft', audio: 'fa' });
  const input = (store: LocalStore, extra: Record<string, unknown> = {}) => ({
    store: { kind: 'local' as const, root: store.root },
    params,
    vscKey: key,
    shard: 's0',
    ...keys,
    chunkUtterances: 3,
    ...extra,
  });

  test('compresses every ok utterance as VSC does on the float16-decoded tokens, with fixed guidance', async () => {
    const store = await seededStore('full');
    const beats: Array<Record<string, unknown>> = [];
    const report = await compressShardStep(
      input(store),
      context((d) => beats.push(d)),
    );
    const ok = utterances.filter((u) => !u.quarantined);
    assert.equal(report.skipped, false);
    assert.equal(report.utterances, ok.length);
    assert.equal(
      report.valuesIn,
      ok.reduce((n, u) => n + u.steps * P * D, 0),
    );
    assert.equal(report.bytesIn, report.valuesIn * 2);
    assert.equal(report.guidanceMissing, 1);
    assert.equal(report.resumedFrom, 0);
    assert.ok(report.ratio > P, `ratio ${report.ratio}: at least the token reduction`);
    // One heartbeat at the start, one per stored chunk of 3 input rows (10 rows: 4 chunks).
    assert.deepEqual(
      beats.map((b) => b.cursor),
      [0, 3, 6, 9, 10],
    );

    const { shape, rows } = await readShard(store, vscShardKey(key, 's0'));
    assert.deepEqual(shape, { maxFrames: 4, dim: D });
    assert.deepEqual(
      rows.map((r) => r.id),
      ok.map((u) => u.id),
    );
    const g = createGuidance(4, { text: 6, audio: 5, visual: D });
    const vsc = createVsc(params, { tokens: P, dim: D });
    let framesOut = 0;
    for (const r of rows) {
      const u = utterances.find((x) => x.id === r.id)!;
      const tokens = decodeFloat16(encodeFloat16(visual.sequences.get(r.id)!));
      const guide = g.apply(text.pooled.get(r.id)!, audio.pooled.get(r.id) ?? null);
      const want = vsc.compress(tokens, u.steps, guide);
      assert.equal(r.length, want.length, r.id);
      assert.deepEqual([...r.seq], [...want.sequence], r.id);
      framesOut += r.length;
    }
    assert.equal(report.framesOut, framesOut);
    assert.equal(report.valuesOut, framesOut * D);
    assert.ok(await store.committed(vscShardCommitPrefix(key, 's0')));
    assert.deepEqual(await store.list(`${vscPartialPrefix(key, 's0')}/`), [], 'chunks removed after the commit');

    const again = await compressShardStep(input(store), context());
    assert.equal(again.skipped, true);
    assert.equal(again.valuesOut, report.valuesOut);
  });

  test('a retry resumes after the stored chunks and writes the same shard', async () => {
    const full = await seededStore('uninterrupted');
    await compressShardStep(input(full), context());
    const store = await seededStore('interrupted');
    const ac = new AbortController();
    await assert.rejects(
      compressShardStep(
        input(store),
        context((d) => d.cursor === 6 && ac.abort(new Error('worker lost')), ac.signal),
      ),
      /worker lost/,
    );
    assert.equal((await store.list(`${vscPartialPrefix(key, 's0')}/`)).length, 2);
    assert.equal(await store.committed(vscShardCommitPrefix(key, 's0')), null);
    const report = await compressShardStep(input(store), context());
    assert.equal(report.resumedFrom, 6);
    assert.deepEqual(await store.get(vscShardKey(key, 's0')), await full.get(vscShardKey(key, 's0')));
  });

  test('chunks written for other data are discarded, not trusted', async () => {
    const store = await seededStore('stale');
    const ac = new AbortController();
    await assert.rejects(
      compressShardStep(
        input(store),
        context((d) => d.cursor === 3 && ac.abort(new Error('stop')), ac.signal),
      ),
    );
    // Rename the stored chunk so it claims rows it does not hold.
    const [chunk] = await store.list(`${vscPartialPrefix(key, 's0')}/`);
    await store.put(chunk.key.replace('00000000-00000003', '00000000-00000004'), await store.get(chunk.key));
    await store.delete(chunk.key);
    const report = await compressShardStep(input(store), context());
    assert.equal(report.resumedFrom, 0);
    const full = await seededStore('reference2');
    await compressShardStep(input(full), context());
    assert.deepEqual(await store.get(vscShardKey(key, 's0')), await full.get(vscShardKey(key, 's0')));
  });

  test('guidance none reads no text or audio; VSC off keeps one frame vector per input frame', async () => {
    const store = await seededStore('plain');
    const off = vscParams({ enabled: false, maxFrames: 8 });
    const k = vscKey(off, { visual: 'fv' });
    const r = await compressShardStep(
      { store: { kind: 'local', root: store.root }, params: off, vscKey: k, shard: 's0', visual: keys.visual },
      context(),
    );
    const ok = utterances.filter((u) => !u.quarantined);
    assert.equal(
      r.framesOut,
      ok.reduce((n, u) => n + u.steps, 0),
    );
    assert.equal(r.ratio, P);
  });

  test('a shard of quarantined utterances only gives an empty, committed output', async () => {
    const store = await seededStore('quarantined');
    const q = featureShard(
      'visual',
      D,
      P,
      [
        { id: 'q0', steps: 0, quarantined: true },
        { id: 'q1', steps: 0, quarantined: true },
      ],
      5,
    );
    await store.put('features/visual/fv/shards/q/features.parquet', q.bytes);
    const plain = vscParams({});
    const k = vscKey(plain, { visual: 'fv' });
    const r = await compressShardStep(
      {
        store: { kind: 'local', root: store.root },
        params: plain,
        vscKey: k,
        shard: 'q',
        visual: 'features/visual/fv/shards/q/features.parquet',
        chunkUtterances: 1,
      },
      context(),
    );
    assert.equal(r.utterances, 0);
    assert.equal(r.ratio, 1);
    assert.deepEqual((await readShard(store, vscShardKey(k, 'q'))).rows, []);
  });

  test('a corrupt shard fails naming it; committed shards stay', async () => {
    const store = await seededStore('corrupt');
    await compressShardStep(input(store), context());
    const bad = 'features/visual/fv/shards/s1/features.parquet';
    await store.put(bad, visual.bytes.subarray(0, visual.bytes.length - 100));
    await assert.rejects(
      compressShardStep(input(store, { shard: 's1', visual: bad }), context()),
      (err: unknown) => err instanceof FeatureShardCorruptError && err.message.includes(bad),
    );
    // A readable file whose blob does not match its shape columns.
    const lying = featureShard(
      'visual',
      D,
      P,
      [
        { id: 'x0', steps: 2 },
        { id: 'x1', steps: 2 },
      ],
      9,
      4,
      (rows) => {
        rows[1].seqSteps = 3;
      },
    );
    const lyingKey = 'features/visual/fv/shards/s2/features.parquet';
    await store.put(lyingKey, lying.bytes);
    await assert.rejects(
      compressShardStep(input(store, { shard: 's2', visual: lyingKey }), context()),
      (err: unknown) =>
        err instanceof FeatureShardCorruptError &&
        /s2\/features\.parquet: row 1 \(x1\): sequence has 288 bytes, shape \[3, 9, 8\]/.test(err.message),
    );
    assert.ok(await store.committed(vscShardCommitPrefix(key, 's0')), 'the committed shard is untouched');
    const failure = toStageFailure(new FeatureShardCorruptError(bad, 'x'));
    assert.ok(
      failure instanceof ApplicationFailure && failure.nonRetryable && failure.type === 'MerFeatureShardCorrupt',
    );
  });

  test('finalize aggregates the shard reports into the stage report and commits the stage', async () => {
    const store = await seededStore('finalize');
    const spec = { kind: 'local' as const, root: store.root };
    await assert.rejects(
      finalizeCompressStep({ store: spec, params, vscKey: key, shards: ['s0'] }),
      /shard s0 .* not committed/,
    );
    const s0 = await compressShardStep(input(store), context());
    const report = await finalizeCompressStep({ store: spec, params, vscKey: key, shards: ['s0'] });
    assert.equal(report.utterances, s0.utterances);
    assert.equal(report.ratio, s0.valuesIn / s0.valuesOut);
    assert.ok(report.byteRatio > 0 && report.utterancesPerSecond > 0);
    assert.ok(await store.committed(vscPrefix(key)));
    assert.deepEqual(await finalizeCompressStep({ store: spec, params, vscKey: key, shards: ['s0'] }), report);
  });
});
