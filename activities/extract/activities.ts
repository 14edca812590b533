import { ExtractRuntimeSchema, type ExtractRuntime } from '../../schemas/extract.ts';
import { temporalStepContext } from '../common/context.ts';
import { toFailure } from '../common/errors.ts';
import {
  extractShardStep,
  finalizeExtractStep,
  planExtractStep,
  type ExtractFinalizeInput,
  type ExtractPlan,
  type ExtractPlanInput,
  type ExtractReport,
  type ExtractShardInput,
  type ExtractShardResult,
} from './steps.ts';

/**
 * The extract stage's Temporal activities, for `mer-gpu` workers: thin adapters giving each step
 * the activity context and turning known failures into non-retryable ones. `runtime` is the
 * worker's own setting (`mer worker --device cuda`): it decides where the encoders run, never what
 * they compute, so it is not part of any input or cache key.
 */
export function createExtractActivities(runtime: Partial<ExtractRuntime> = {}) {
  const rt = ExtractRuntimeSchema.parse(runtime);
  const guard = async <R>(fn: () => Promise<R>): Promise<R> => {
    try {
      return await fn();
    } catch (err) {
      throw toFailure(err);
    }
  };
  return {
    planExtract: (input: ExtractPlanInput): Promise<ExtractPlan> => guard(() => planExtractStep(input)),
    extractShard: (input: ExtractShardInput): Promise<ExtractShardResult> => guard(() => extractShardStep(input, temporalStepContext(), rt)),
    finalizeExtract: (input: ExtractFinalizeInput): Promise<ExtractReport> => guard(() => finalizeExtractStep(input)),
  };
}

export type ExtractActivities = ReturnType<typeof createExtractActivities>;
export type { ExtractFinalizeInput, ExtractPlan, ExtractPlanInput, ExtractReport, ExtractShardInput, ExtractShardResult };
