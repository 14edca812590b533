import { OnnxRuntimeSettingsSchema, type OnnxRuntimeSettings } from '../../schemas/runtime.ts';
import { stepActivity } from '../common/activity.ts';
import { finalizeExtractStep, type ExtractFinalizeInput, type ExtractReport } from './finalize.ts';
import { planExtractStep, type ExtractPlan, type ExtractPlanInput } from './plan.ts';
import { extractShardStep, type ExtractShardInput, type ExtractShardResult } from './shard.ts';

/**
 * The extract stage's Temporal activities, for `mer-gpu` workers: thin adapters giving each step
 * the activity context and turning known failures into non-retryable ones. `runtime` is the
 * worker's own setting (`mer worker --device cuda`): it decides where the encoders run, never what
 * they compute, so it is not part of any input or cache key.
 */
export function createExtractActivities(runtime: Partial<OnnxRuntimeSettings> = {}) {
  const rt = OnnxRuntimeSettingsSchema.parse(runtime);
  return {
    planExtract: stepActivity((input: ExtractPlanInput): Promise<ExtractPlan> => planExtractStep(input)),
    extractShard: stepActivity((input: ExtractShardInput, ctx): Promise<ExtractShardResult> =>
      extractShardStep(input, ctx, rt),
    ),
    finalizeExtract: stepActivity((input: ExtractFinalizeInput): Promise<ExtractReport> => finalizeExtractStep(input)),
  };
}

export type ExtractActivities = ReturnType<typeof createExtractActivities>;
export type {
  ExtractFinalizeInput,
  ExtractPlan,
  ExtractPlanInput,
  ExtractReport,
  ExtractShardInput,
  ExtractShardResult,
};
