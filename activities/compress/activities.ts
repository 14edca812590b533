import { stepActivity } from '../common/activity.ts';
import type { StepContext } from '../common/context.ts';
import { toStageFailure } from '../common/shard-errors.ts';
import { finalizeCompressStep, type FinalizeCompressInput } from './finalize.ts';
import { planCompressStep, type PlanCompressInput, type PlanCompressResult } from './plan.ts';
import { compressShardStep, type CompressShardInput, type CompressShardResult } from './shard.ts';

/**
 * The compress stage's Temporal activities (for `mer-cpu`): adapters that give each step the activity
 * context and fail corrupt shards without retries. Registered by activities/index.ts.
 */
export function createCompressActivities() {
  const wrap = <A, R>(fn: (input: A, ctx: StepContext) => Promise<R>) => stepActivity(fn, toStageFailure);
  return {
    planCompress: wrap((i: PlanCompressInput) => planCompressStep(i)),
    compressVisualShard: wrap((i: CompressShardInput, ctx) => compressShardStep(i, ctx)),
    finalizeCompress: wrap((i: FinalizeCompressInput) => finalizeCompressStep(i)),
  };
}

export type CompressActivities = ReturnType<typeof createCompressActivities>;
export type { CompressShardInput, CompressShardResult, FinalizeCompressInput, PlanCompressInput, PlanCompressResult };
