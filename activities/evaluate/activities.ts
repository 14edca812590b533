import { stepActivity } from '../common/activity.ts';
import { toStageFailure } from '../common/shard-errors.ts';
import { evaluateDatasetStep } from './finalize.ts';
import type { EvaluateDatasetInput, EvaluateDatasetResult } from './plan.ts';

/** The evaluate stage's activity (mer-cpu). Registered by activities/index.ts. */
export function createEvaluateActivities() {
  return {
    evaluateDataset: stepActivity(
      (input: EvaluateDatasetInput): Promise<EvaluateDatasetResult> => evaluateDatasetStep(input),
      toStageFailure,
    ),
  };
}

export type EvaluateActivities = ReturnType<typeof createEvaluateActivities>;
export type { EvaluateDatasetInput, EvaluateDatasetResult };
