import { modelKeys } from '../../schemas/layout.ts';
import {
  TrainingDivergedRecordSchema,
  shortNumber,
  type TrainingDivergedDetails,
  type TrainingDivergedRecord,
} from '../../schemas/train.ts';
import { ErrorTypes, MerError } from '../common/errors.ts';
import type { TrainerConfig } from '../model/config.ts';
import type { TrainingDivergedError } from '../model/trainer.ts';
import type { ObjectStore } from '../store/types.ts';
import { readStoredJson } from '../common/stored-json.ts';

/**
 * A training whose loss became non-finite is a result, not a fault: it is recorded under its train key
 * (`models/<trainKey>/diverged.json`) and fails as `MerTrainingDiverged`, which no retry repeats.
 *
 * Decision record: a rerun of the same key fails from the record at once instead of training again.
 * The key fixes the data, the configuration and the seed, and training on the CPU is deterministic
 * for those (trainer.ts): it would diverge at the same step. (On CUDA it is deterministic only nearly;
 * deleting diverged.json lets the key train again.) Any changed setting (lr, clipGradNorm, the loss
 * options) is a new key, which trains.
 */

export function divergenceRecord(
  err: TrainingDivergedError,
  at: Pick<TrainingDivergedRecord, 'trainKey' | 'dataset' | 'variant' | 'fold'>,
  cfg: TrainerConfig,
  lrSetting: 'train' | 'variant' = 'train',
): TrainingDivergedRecord {
  return {
    ...at,
    epoch: err.epoch,
    step: err.step,
    loss: String(err.loss),
    settings: {
      lr: cfg.optimizer.lr,
      lrSetting,
      clipGradNorm: cfg.optimizer.clipGradNorm ?? null,
      contrastiveWeight: cfg.loss.contrastiveWeight,
      temperature: cfg.loss.temperature,
    },
  };
}

/** The failure a diverged training ends with, first time and every rerun alike. */
export function divergedError(r: TrainingDivergedRecord): MerError {
  const { lr, clipGradNorm, lrSetting } = r.settings;
  const lrName = lrSetting === 'variant' ? `the lr of variant ${r.variant}` : 'train.lr';
  const clip =
    clipGradNorm === null ? 'set train.clipGradNorm (e.g. 1)' : `lower train.clipGradNorm (now ${short(clipGradNorm)})`;
  const details: TrainingDivergedDetails = {
    trainKey: r.trainKey,
    variant: r.variant,
    fold: r.fold,
    epoch: r.epoch,
    step: r.step,
    loss: r.loss,
  };
  return new MerError(
    ErrorTypes.TrainingDiverged,
    `train: ${r.dataset} variant ${r.variant} fold ${r.fold} diverged: the loss became ${r.loss} at epoch ${r.epoch}, step ${r.step}; lower ${lrName} (now ${short(lr)}) or ${clip}. Recorded in ${modelKeys(r.trainKey).diverged}: these settings fail the same way on a rerun`,
    { ...details },
  );
}

/** The divergence record of a train key, if that training diverged. */
export async function readDivergence(
  store: ObjectStore,
  trainKey: string,
): Promise<TrainingDivergedRecord | undefined> {
  const key = modelKeys(trainKey).diverged;
  if (!(await store.exists(key))) return undefined;
  return readStoredJson(store, key, TrainingDivergedRecordSchema);
}

export async function writeDivergence(store: ObjectStore, record: TrainingDivergedRecord): Promise<void> {
  await store.put(modelKeys(record.trainKey).diverged, JSON.stringify(record, null, 2));
}

const short = shortNumber;
