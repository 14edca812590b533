import type { AcquireParams, DatasetPlan, StoreSpecResolved } from '../../schemas/config.ts';
import { stepActivity } from '../common/activity.ts';
import type { StepContext } from '../common/context.ts';
import { downloadStep } from './download.ts';
import { buildManifestStep, readSummaryStep, type ManifestStepResult } from './manifest.ts';
import { planStep, type AcquirePlan } from './plan.ts';
import { unpackStep, type UnpackStepResult } from './unpack.ts';

/**
 * The acquire stage's Temporal activities: thin adapters that give each step the activity context
 * (heartbeats, cancellation, resume details) and turn known failures into non-retryable ones.
 */
export function createAcquireActivities() {
  const wrap = <A, R>(fn: (input: A, ctx: StepContext) => Promise<R>) => stepActivity(fn);
  return {
    planAcquire: wrap((i: { store: StoreSpecResolved; plan: DatasetPlan; acquire: AcquireParams }) => planStep(i)),
    downloadSource: wrap(downloadStep),
    // Registered under its old name: workflow histories schedule `extractSource`, and replay needs the same name.
    extractSource: wrap(unpackStep),
    buildManifest: wrap(buildManifestStep),
    readManifestSummary: wrap((i: { store: StoreSpecResolved; manifestPrefix: string }) => readSummaryStep(i)),
  };
}

export type AcquireActivities = ReturnType<typeof createAcquireActivities>;
export type { AcquirePlan, ManifestStepResult, UnpackStepResult };
