import type { OnnxRuntimeSettings } from '../../schemas/runtime.ts';
import { stepActivity } from '../common/activity.ts';
import { toStageFailure } from '../common/shard-errors.ts';
import { trainFoldStep, type TrainFoldInput, type TrainFoldResult } from './fold.ts';
import { planSplitsStep, type PlanSplitsInput, type PlanSplitsResult } from './plan.ts';

/**
 * The train stage's activities: `planSplits` (mer-cpu) and `trainFold` (mer-gpu, one per variant and
 * fold; `runtime` is the worker's device setting, never part of a key). Registered by activities/index.ts.
 */
export function createTrainActivities(runtime: Partial<OnnxRuntimeSettings> = {}) {
  return {
    planSplits: stepActivity(
      (input: PlanSplitsInput): Promise<PlanSplitsResult> => planSplitsStep(input),
      toStageFailure,
    ),
    trainFold: stepActivity(
      (input: TrainFoldInput, ctx): Promise<TrainFoldResult> => trainFoldStep(input, ctx, runtime),
      toStageFailure,
    ),
  };
}

export type TrainActivities = ReturnType<typeof createTrainActivities>;
export type { PlanSplitsInput, PlanSplitsResult, TrainFoldInput, TrainFoldResult };
