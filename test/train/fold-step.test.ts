/**
 * trainFoldStep called directly (no Temporal) on a tiny stored fold: a diverging training is a
 * recorded, typed failure that a rerun of the same key repeats without training; a changed setting is
 * a new key that trains; a constant modality is reported before training and kept in the result.
 */
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { after, describe, test } from 'node:test';
import { ErrorTypes, MerError } from '../../activities/common/errors.ts';
import { trainFoldStep } from '../../activities/train/fold.ts';
import { modelKeys, modelPrefix } from '../../schemas/layout.ts';
import { FoldTrainResultSchema, TrainingDivergedRecordSchema } from '../../schemas/train.ts';
import { foldStore, recordingContext, type FoldStore } from './fold-store.ts';

/** One onnxruntime thread: deterministic and light on a shared machine. */
const RUNTIME = { threads: 1 };
/** Batches of 4 over 12 training utterances, a checkpoint every step. */
const SMALL = { batchSize: 4, maxEpochs: 2, patience: 2, checkpointEverySteps: 1 };

const stores: FoldStore[] = [];
after(async () => {
  for (const s of stores) await rm(s.root, { recursive: true, force: true });
});

describe('trainFoldStep', () => {
  test('a diverging loss fails as MerTrainingDiverged, is recorded, and a rerun fails the same way without training', async () => {
    const fx = await foldStore('diverge');
    stores.push(fx);
    // Adam steps about lr whatever the gradient: weights of 1e20 overflow float32 within two steps.
    const input = fx.input({ ...SMALL, lr: 1e20 });
    const first = recordingContext();
    const err = await trainFoldStep(input, first, RUNTIME).then(
      () => assert.fail('training should diverge'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof MerError, String(err));
    assert.equal(err.type, ErrorTypes.TrainingDiverged);
    assert.equal(err.type, 'MerTrainingDiverged');
    assert.match(
      err.message,
      /^train: meld variant T\+A fold official diverged: the loss became NaN at epoch 0, step \d+; lower train\.lr \(now 1e\+20\) or set train\.clipGradNorm/,
    );
    const details = err.details as { trainKey: string; variant: string; fold: string; epoch: number; step: number };
    assert.deepEqual(
      { variant: details.variant, fold: details.fold, epoch: details.epoch },
      { variant: 'T+A', fold: 'official', epoch: 0 },
    );
    assert.ok(details.step >= 1);
    assert.ok(
      first.beats.some((b) => b.phase === 'train'),
      'the first call trained',
    );
    assert.ok(
      first.beats.some((b) => typeof b.checkpointKey === 'string'),
      'it stored a checkpoint before diverging',
    );

    const keys = modelKeys(details.trainKey);
    const record = TrainingDivergedRecordSchema.parse(JSON.parse((await fx.store.get(keys.diverged)).toString()));
    assert.deepEqual(record, {
      trainKey: details.trainKey,
      dataset: 'meld',
      variant: 'T+A',
      fold: 'official',
      epoch: 0,
      step: details.step,
      loss: 'NaN',
      settings: { lr: 1e20, lrSetting: 'train', clipGradNorm: null, contrastiveWeight: 0.5, temperature: 0.5 },
    });
    assert.deepEqual(await fx.store.list(keys.checkpoints), [], 'no checkpoint of the diverged run is kept');
    assert.equal(await fx.store.committed(modelPrefix(details.trainKey)), null);

    // The same key: the record answers, before any feature is loaded or step taken.
    const second = recordingContext();
    await assert.rejects(
      trainFoldStep(input, second, RUNTIME),
      (e: unknown) => e instanceof MerError && e.message === err.message && e.type === err.type,
    );
    assert.deepEqual(second.beats, [], 'the rerun neither loaded nor trained');
    assert.deepEqual(await fx.store.list(keys.checkpoints), []);

    // A changed setting is another key, which trains.
    const fixed = await trainFoldStep(fx.input({ ...SMALL, lr: 1e-3 }), recordingContext(), RUNTIME);
    assert.notEqual(fixed.trainKey, details.trainKey);
    assert.equal(fixed.skipped, false);
    assert.ok(fixed.steps > 0);
    assert.equal(await fx.store.exists(modelKeys(fixed.trainKey).diverged), false);
  });

  test('a constant modality is reported in the result with every modality’s variance', async () => {
    const fx = await foldStore('constant', 24, { constantAudio: true });
    stores.push(fx);
    const result = await trainFoldStep(fx.input({ ...SMALL, maxEpochs: 1 }), recordingContext(), RUNTIME);
    assert.deepEqual(result.warnings, [
      {
        modality: 'a',
        variance: 0,
        message: 'audio carries no information in this corpus (variance 0 over 12 training utterances)',
      },
    ]);
    assert.equal(result.modalityVariance?.a, 0);
    assert.ok(result.modalityVariance.t! > 0.1, 'text varies');
    assert.equal(result.modalityVariance?.v, undefined, 'the variant reads no visual features');
    const stored = FoldTrainResultSchema.parse(
      JSON.parse((await fx.store.get(modelKeys(result.trainKey).result)).toString()),
    );
    assert.deepEqual(stored.warnings, result.warnings);
    assert.deepEqual(stored.modalityVariance, result.modalityVariance);
  });
});
