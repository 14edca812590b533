import type { SegmentShardStats } from '../../schemas/segment-report.ts';
import { stepActivity } from '../common/activity.ts';
import type { StepContext } from '../common/context.ts';
import {
  planSegmentStep,
  type SegmentPlan,
  type SegmentPlanInput,
  type SegmentSummary,
  type ShardSpec,
} from './plan.ts';
import { finalizeSegmentStep, type FinalizeSegmentInput } from './finalize.ts';
import { segmentShardStep, type SegmentShardInput } from './shard.ts';

/** The segment stage's Temporal activities: thin adapters over the step functions. */
export function createSegmentActivities() {
  const wrap = <A, R>(fn: (input: A, ctx: StepContext) => Promise<R>) => stepActivity(fn);
  return {
    planSegment: wrap((i: SegmentPlanInput, ctx) => planSegmentStep(i, ctx.signal)),
    segmentShard: wrap(segmentShardStep),
    finalizeSegment: wrap((i: FinalizeSegmentInput) => finalizeSegmentStep(i)),
  };
}

export type SegmentActivities = ReturnType<typeof createSegmentActivities>;
export type {
  FinalizeSegmentInput,
  SegmentPlan,
  SegmentPlanInput,
  SegmentShardInput,
  SegmentShardStats,
  SegmentSummary,
  ShardSpec,
};
