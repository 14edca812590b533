import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { trainerConfigFor, trainKeyFor, type TrainFoldInput } from '../../activities/train/fold.ts';
import { buildRunConfig, toPipelineInput, type RunOverrides } from '../../cli/config.ts';
import { embeddedTrainSlots, withEmbeddedParallelism } from '../../cli/run-queues.ts';
import { TrainParamsSchema, trainSeeds, type TrainParamsInput } from '../../schemas/train.ts';
import { TINY } from '../extract/inputs.ts';

/**
 * `train.seeds` and the embedded parallelism (issue 18): what a count means, that seed s keys as
 * `train.seed: s` does, that neither `seeds` nor `parallelism` enters a train key or changes the run's
 * config hash, and how many trainings the embedded worker runs side by side.
 */

function input(params: TrainParamsInput, seed?: number, name = 'T+A+V'): TrainFoldInput {
  return {
    store: { kind: 'local', root: '/nonexistent' },
    dataset: 'iemocap',
    splitsKey: 'splits-key',
    foldIndex: 0,
    variant: { name, modalities: ['t', 'a', 'v'], vsc: true, contrastive: true },
    params,
    ...(seed !== undefined ? { seed } : {}),
    features: {
      text: { prefix: 'features/text/kt', dim: 8 },
      audio: { prefix: 'features/audio/ka', dim: 6 },
      visual: { prefix: 'visual-vsc/kv', dim: 4, frames: 5 },
    },
  };
}
const key = (i: TrainFoldInput) => trainKeyFor(i, 'loso-Session1', trainerConfigFor(i, ['neu', 'hap'], [0, 1, 0]));

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mer-seeds-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('train.seeds', () => {
  test('a count N is seed .. seed+N-1, a list is itself, unset is train.seed alone', () => {
    assert.deepEqual(trainSeeds(TrainParamsSchema.parse({})), [0]);
    assert.deepEqual(trainSeeds(TrainParamsSchema.parse({ seed: 5 })), [5]);
    assert.deepEqual(trainSeeds(TrainParamsSchema.parse({ seeds: 3 })), [0, 1, 2]);
    assert.deepEqual(trainSeeds(TrainParamsSchema.parse({ seed: 7, seeds: 2 })), [7, 8]);
    assert.deepEqual(trainSeeds(TrainParamsSchema.parse({ seeds: [42, 0, 9] })), [42, 0, 9]);
    for (const bad of [0, [], [1, 1], -1, 1.5])
      assert.equal(TrainParamsSchema.safeParse({ seeds: bad }).success, false, `seeds ${JSON.stringify(bad)}`);
    const over = TrainParamsSchema.safeParse({ seed: 0xffffffff, seeds: 2 });
    assert.equal(over.success, false, 'a count may not run past the largest seed');
    assert.match(over.error?.issues[0]?.message ?? '', /pass 4294967295; lower train\.seed or give a list/);
    assert.deepEqual(trainSeeds(TrainParamsSchema.parse({ seed: 0xffffffff, seeds: 1 })), [0xffffffff]);
  });

  test('seed s of a list keys as train.seed s; seeds, parallelism and the variant name are in no key', () => {
    const today = key(input({}));
    assert.equal(key(input({ seeds: 3 }, 0)), today, 'seed 0 of --seeds 3 is the single-seed key');
    assert.equal(key(input({ seeds: 3 })), today);
    assert.equal(key(input({ seeds: [4, 9] }, 9)), key(input({ seed: 9 })));
    assert.notEqual(key(input({}, 1)), today);
    assert.equal(key(input({ parallelism: 3 })), today);
    assert.equal(key(input({}, undefined, 'T+A+V-again')), today, 'a duplicate under another name shares the key');
  });

  test('--seeds sets train.seeds; an unset parallelism keeps the config hash a parallelism of 16 had', async () => {
    const run = (o: RunOverrides, file?: string) => {
      const { config, baseDir } = buildRunConfig(file, { meld: dir, until: 'train', ...o });
      return toPipelineInput(config, baseDir, false);
    };
    const models = join(TINY.text, '..'); // explicit encoder folders are taken as they are
    const plain = run({ models });
    assert.equal(plain.train?.params.parallelism, undefined);
    assert.equal(plain.train?.params.seeds, undefined);
    assert.equal(run({ models, seeds: 3 }).train?.params.seeds, 3);
    assert.notEqual(run({ models, seeds: 3 }).configHash, plain.configHash);
    const file = join(dir, 'mer.json');
    const withFile = async (train: object) => {
      await writeFile(file, JSON.stringify({ train }));
      return run({ models }, file);
    };
    // (The store's default root resolves against the config file's folder: compare files with files.)
    const none = await withFile({});
    assert.equal((await withFile({ parallelism: 16 })).configHash, none.configHash);
    assert.notEqual((await withFile({ parallelism: 2 })).configHash, none.configHash);

    // The embedded run: as many trainings as cores, each with cores / that many threads.
    const embedded = withEmbeddedParallelism(plain, 8);
    assert.equal(embedded.train?.params.parallelism, 8);
    assert.equal(embedded.configHash, plain.configHash);
    assert.deepEqual(embeddedTrainSlots(embedded, 8), { concurrency: 8, threads: 1 });
    const set = await withFile({ parallelism: 2 });
    assert.equal(withEmbeddedParallelism(set, 8).train?.params.parallelism, 2, 'a set value stays');
    assert.deepEqual(embeddedTrainSlots(set, 8), { concurrency: 2, threads: 4 });
    assert.deepEqual(
      embeddedTrainSlots({ train: { ...set.train!, params: { ...set.train!.params, parallelism: 1 } } }, 8),
      {
        concurrency: 1,
        threads: undefined,
      },
    );
  });
});
