import { stepActivity } from '../common/activity.ts';
import { toStageFailure } from '../compress/errors.ts';
import { evaluateDatasetStep, type EvaluateDatasetInput, type EvaluateDatasetResult } from './steps.ts';

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
