import type { ExtractRuntime } from '../../schemas/extract.ts';
import { temporalStepContext } from '../common/context.ts';
import { toStageFailure } from '../compress/errors.ts';
import { trainFoldStep, type TrainFoldInput, type TrainFoldResult } from './fold-step.ts';
import { planSplitsStep, type PlanSplitsInput, type PlanSplitsResult } from './split-step.ts';

/**
 * The train stage's activities: `planSplits` (mer-cpu) and `trainFold` (mer-gpu, one per variant and
 * fold; `runtime` is the worker's device setting, never part of a key). Registered by activities/index.ts.
 */
export function createTrainActivities(runtime: Partial<ExtractRuntime> = {}) {
  return {
    async planSplits(input: PlanSplitsInput): Promise<PlanSplitsResult> {
      try {
        return await planSplitsStep(input);
      } catch (err) {
        throw toStageFailure(err);
      }
    },
    async trainFold(input: TrainFoldInput): Promise<TrainFoldResult> {
      try {
        return await trainFoldStep(input, temporalStepContext(), runtime);
      } catch (err) {
        throw toStageFailure(err);
      }
    },
  };
}

export type TrainActivities = ReturnType<typeof createTrainActivities>;
export type { PlanSplitsInput, PlanSplitsResult, TrainFoldInput, TrainFoldResult };
