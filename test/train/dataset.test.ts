import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { vscParams } from '../../schemas/compress.ts';
import { vscShardKey } from '../../schemas/layout.ts';
import type { Partition } from '../../schemas/train.ts';
import { FeatureShardCorruptError } from '../../activities/common/shard-errors.ts';
import { openStoredParquet } from '../../activities/common/parquet-groups.ts';
import { compressShardStep } from '../../activities/compress/shard.ts';
import { readVscGroup, vscShardShape } from '../../activities/compress/vsc-table.ts';
import { presetModelConfig } from '../../activities/model/config.ts';
import { validateFeatureSet } from '../../activities/model/data.ts';
import { loadFeatureSets, readQuarantined, type FeatureSources } from '../../activities/train/dataset.ts';
import { LocalStore } from '../../activities/store/index.ts';
import { featureShard, type GeneratedUtterance } from '../compress/feature-shards.ts';

const DT = 6;
const DA = 5;
const DV = 4;
const P = 6;
const FRAMES = 3;
const shardUtterances: GeneratedUtterance[][] = [
  Array.from({ length: 7 }, (_, i) => ({ id: `a${i}`, steps: 1 + (i % 5), quarantined: i === 3 })),
  Array.from({ length: 6 }, (_, i) => ({ id: `b${i}`, steps: 2 + (i % 3) })),
  Array.from({ length: 5 }, (_, i) => ({ id: `c${i}`, steps: 3 })),
];

let root: string;
let store: LocalStore;
const text = new Map<string, Float32Array>();
const audio = new Map<string, Float32Array>();
const visual = new Map<string, { length: number; seq: Float32Array }>();
let sources: FeatureSources;
const vscKey = 'k-test';

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'mer-dataset-'));
  store = new LocalStore(root);
  const refs = {
    text: [] as Array<{ key: string; utteranceIds: string[] }>,
    audio: [] as Array<{ key: string }>,
    visual: [] as Array<{ key: string }>,
  };
  for (const [s, us] of shardUtterances.entries()) {
    const ids = us.map((u) => u.id);
    for (const [modality, dim, map] of [
      ['text', DT, text],
      ['audio', DA, audio],
    ] as const) {
      const shard = featureShard(
        modality,
        dim,
        1,
        us.map((u) => ({ ...u, steps: 2 })),
        10 * s + dim,
      );
      const key = `features/${modality}/f/shards/s${s}/features.parquet`;
      await store.put(key, shard.bytes);
      for (const [id, v] of shard.pooled) map.set(id, v);
      if (modality === 'text') refs.text.push({ key, utteranceIds: ids });
      else refs.audio.push({ key });
    }
    const vis = featureShard('visual', DV, P, us, 100 + s, 2);
    const vkey = `features/visual/f/shards/s${s}/features.parquet`;
    await store.put(vkey, vis.bytes);
    await compressShardStep(
      {
        store: { kind: 'local', root },
        params: vscParams({ topK: 3, maxFrames: FRAMES }),
        vscKey,
        shard: `s${s}`,
        visual: vkey,
      },
      { heartbeat: () => {}, resumeDetails: () => undefined },
    );
    refs.visual.push({ key: vscShardKey(vscKey, `s${s}`) });
    const groups = await openStoredParquet(store, vscShardKey(vscKey, `s${s}`));
    for (let g = 0; g < groups.groupRows.length; g++) {
      const r = await readVscGroup(groups, g, vscShardShape(groups));
      r.ids.forEach((id, j) => visual.set(id, { length: r.lengths[j], seq: r.sequences[j].slice() }));
    }
    await groups.close();
  }
  sources = refs;
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

const part = (ids: string[]): Partition => ({
  utteranceIds: ids,
  labels: ids.map((id) => id.charCodeAt(0) - 97 + (Number(id.slice(1)) % 2)),
});

describe('loadFeatureSets', () => {
  test('assembles t, a, v and vLengths for every partition from shards across the store', async () => {
    const partitions = {
      train: part(['b5', 'a0', 'c1', 'a6', 'b0', 'a2']),
      validation: part(['c4', 'b2']),
      test: part(['a1', 'c0', 'b2']),
    };
    const loaded = await loadFeatureSets(store, sources, partitions);
    assert.deepEqual(loaded.dims, { text: DT, audio: DA, visual: DV, frames: FRAMES });
    assert.equal(loaded.shardsRead, 9);
    for (const [name, p] of Object.entries(partitions)) {
      const set = loaded.sets[name as keyof typeof partitions];
      assert.equal(set.n, p.utteranceIds.length);
      assert.deepEqual([...set.labels], p.labels);
      p.utteranceIds.forEach((id, i) => {
        assert.deepEqual([...set.t!.subarray(i * DT, (i + 1) * DT)], [...text.get(id)!], `${name} t ${id}`);
        assert.deepEqual([...set.a!.subarray(i * DA, (i + 1) * DA)], [...audio.get(id)!], `${name} a ${id}`);
        const w = FRAMES * DV;
        assert.deepEqual([...set.v!.subarray(i * w, (i + 1) * w)], [...visual.get(id)!.seq], `${name} v ${id}`);
        assert.equal(set.vLengths![i], visual.get(id)!.length);
      });
      const model = presetModelConfig('compact', { text: DT, audio: DA, visual: DV, frames: FRAMES }, 4);
      validateFeatureSet(name, set, model);
    }
  });

  test('loads only the requested modalities; shards listing no wanted utterance are not opened', async () => {
    const loaded = await loadFeatureSets(
      store,
      { text: [...sources.text!, { key: 'features/text/f/shards/absent/features.parquet', utteranceIds: ['zz'] }] },
      { train: part(['a0', 'a1']) },
    );
    assert.equal(loaded.sets.train.a, undefined);
    assert.equal(loaded.sets.train.v, undefined);
    // s1, s2 (listed, unwanted) and the absent shard are skipped without a read.
    assert.equal(loaded.shardsSkipped, 3);
    assert.equal(loaded.shardsRead, 1);
  });

  test('an utterance without features, or quarantined, is an error naming it', async () => {
    await assert.rejects(
      loadFeatureSets(store, { audio: sources.audio }, { train: part(['a0', 'q9']) }),
      /1 utterance\(s\) of the split have no audio features .*q9/,
    );
    await assert.rejects(
      loadFeatureSets(store, { text: sources.text }, { train: part(['a3']) }),
      (e: unknown) =>
        e instanceof FeatureShardCorruptError && /s0\/features\.parquet: row 3 \(a3\) is quarantined/.test(e.message),
    );
    await assert.rejects(
      loadFeatureSets(store, { text: [sources.text![0], sources.text![0]] }, { train: part(['a0']) }),
      /a0 was already loaded from another text shard/,
    );
  });

  test('shards of different widths are refused', async () => {
    const odd = featureShard('text', DT + 1, 1, [{ id: 'x0', steps: 1 }], 1);
    await store.put('features/text/odd/features.parquet', odd.bytes);
    await assert.rejects(
      loadFeatureSets(
        store,
        { text: [sources.text![0], { key: 'features/text/odd/features.parquet' }] },
        { train: part(['a0', 'x0']) },
      ),
      /odd\/features\.parquet: text features are 7 here, 6 in earlier shards/,
    );
  });

  test('readQuarantined gives the exclusion set', async () => {
    assert.deepEqual(
      [
        ...(await readQuarantined(
          store,
          sources.text!.map((r) => r.key),
        )),
      ],
      ['a3'],
    );
  });
});
