import { toStageFailure } from '../compress/errors.ts';
import { evaluateDatasetStep, type EvaluateDatasetInput, type EvaluateDatasetResult } from './steps.ts';

/** The evaluate stage's activity (mer-cpu). Registered by activities/index.ts. */
export function createEvaluateActivities() {
  return {
    async evaluateDataset(input: EvaluateDatasetInput): Promise<EvaluateDatasetResult> {
      try {
        return await evaluateDatasetStep(input);
      } catch (err) {
        throw toStageFailure(err);
      }
    },
  };
}

export type EvaluateActivities = ReturnType<typeof createEvaluateActivities>;
export type { EvaluateDatasetInput, EvaluateDatasetResult };
