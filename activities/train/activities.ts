import { toStageFailure } from '../compress/errors.ts';
import { planSplitsStep, type PlanSplitsInput, type PlanSplitsResult } from './split-step.ts';

/**
 * The train stage's activities built so far (the per-fold training activity comes with the workflow
 * wiring). Registered by activities/index.ts.
 */
export function createTrainActivities() {
  return {
    async planSplits(input: PlanSplitsInput): Promise<PlanSplitsResult> {
      try {
        return await planSplitsStep(input);
      } catch (err) {
        throw toStageFailure(err);
      }
    },
  };
}

export type TrainActivities = ReturnType<typeof createTrainActivities>;
export type { PlanSplitsInput, PlanSplitsResult };
