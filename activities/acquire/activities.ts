import type { AcquireParams, DatasetPlan, StoreSpecResolved } from '../../schemas/config.ts';
import { stepActivity } from '../common/activity.ts';
import type { StepContext } from '../common/context.ts';
import {
  buildManifestStep,
  downloadStep,
  extractStep,
  planStep,
  readSummaryStep,
  type AcquirePlan,
  type ExtractStepResult,
  type ManifestStepResult,
} from './steps.ts';

/**
 * The acquire stage's Temporal activities: thin adapters that give each step the activity context
 * (heartbeats, cancellation, resume details) and turn known failures into non-retryable ones.
 */
export function createAcquireActivities() {
  const wrap = <A, R>(fn: (input: A, ctx: StepContext) => Promise<R>) => stepActivity(fn);
  return {
    planAcquire: wrap((i: { store: StoreSpecResolved; plan: DatasetPlan; acquire: AcquireParams }) => planStep(i)),
    downloadSource: wrap(downloadStep),
    extractSource: wrap(extractStep),
    buildManifest: wrap(buildManifestStep),
    readManifestSummary: wrap((i: { store: StoreSpecResolved; manifestPrefix: string }) => readSummaryStep(i)),
  };
}

export type AcquireActivities = ReturnType<typeof createAcquireActivities>;
export type { AcquirePlan, ExtractStepResult, ManifestStepResult };
