import type { OnnxRuntimeSettings } from '../../schemas/runtime.ts';
import { stepActivity } from '../common/activity.ts';
import { toStageFailure } from '../common/shard-errors.ts';
import { evaluateDatasetStep } from './finalize.ts';
import type { EvaluateDatasetInput, EvaluateDatasetResult } from './plan.ts';
import { crossCorpusStep, type CrossCorpusInput, type CrossCorpusResult } from './cross-corpus/step.ts';

/**
 * The evaluate stage's activities (mer-cpu): `evaluateDataset`, and `crossCorpus` (evaluate.crossCorpus;
 * predictions only, on the CPU with `runtime`'s thread count). Registered by activities/index.ts.
 */
export function createEvaluateActivities(runtime: Partial<OnnxRuntimeSettings> = {}) {
  return {
    evaluateDataset: stepActivity(
      (input: EvaluateDatasetInput): Promise<EvaluateDatasetResult> => evaluateDatasetStep(input),
      toStageFailure,
    ),
    crossCorpus: stepActivity(
      (input: CrossCorpusInput, ctx): Promise<CrossCorpusResult> =>
        crossCorpusStep(input, ctx, { threads: runtime.threads ?? 0 }),
      toStageFailure,
    ),
  };
}

export type EvaluateActivities = ReturnType<typeof createEvaluateActivities>;
export type { CrossCorpusInput, CrossCorpusResult, EvaluateDatasetInput, EvaluateDatasetResult };
