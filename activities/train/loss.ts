import type { ResolvedVariant, TrainParams } from '../../schemas/train.ts';
import { ErrorTypes, MerError } from '../common/errors.ts';
import { defaultLossConfig, inverseFrequencyWeights, type LossConfig } from '../model/config.ts';

/**
 * The engine's LossConfig for a variant from the run config's `train` (top-level `contrastiveWeight` and
 * `temperature`, the rest under `train.loss`). Class weights are resolved here, per fold:
 * `inverse-frequency` from the fold's training labels (never validation or test), an explicit list
 * checked against the label set. With the defaults the result is defaultLossConfig() with the two
 * top-level numbers, field for field, so keys of trainings configured before `train.loss` existed stay.
 */
export function lossConfigFor(
  p: Pick<TrainParams, 'contrastiveWeight' | 'temperature' | 'loss'>,
  variant: Pick<ResolvedVariant, 'contrastive'>,
  classes: readonly string[],
  trainLabels: ArrayLike<number>,
): LossConfig {
  const loss: LossConfig = {
    ...defaultLossConfig(),
    contrastiveWeight: variant.contrastive ? p.contrastiveWeight : 0,
    temperature: p.temperature,
    pairs: [...p.loss.pairs],
    pairReduction: p.loss.pairReduction,
    normalization: p.loss.normalization,
  };
  const w = p.loss.classWeights;
  if (w === 'none') return loss;
  if (w === 'inverse-frequency') return { ...loss, classWeights: inverseFrequencyWeights(trainLabels, classes.length) };
  if (w.length !== classes.length)
    throw new MerError(
      ErrorTypes.ConfigInvalid,
      `train.loss.classWeights has ${w.length} weight(s); the label set has ${classes.length} classes (${classes.join(', ')}): give one weight per class, in that order, or 'inverse-frequency'`,
      { field: 'train.loss.classWeights', expected: classes.length, got: w.length, classes: [...classes] },
    );
  return { ...loss, classWeights: [...w] };
}
