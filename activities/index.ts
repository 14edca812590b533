import { createAcquireActivities } from './acquire/activities.ts';
import { createCompressActivities } from './compress/activities.ts';
import { createEvaluateActivities } from './evaluate/activities.ts';
import { createExtractActivities } from './extract/activities.ts';
import { createSegmentActivities } from './segment/activities.ts';
import { createSweepActivities } from './sweep/activities.ts';
import { createTrainActivities } from './train/activities.ts';
import type { OnnxRuntimeSettings } from '../schemas/runtime.ts';

/** Every activity a worker can run. */
export function createActivities(runtime: Partial<OnnxRuntimeSettings> = {}) {
  // Encoders and training sessions are only created when their activities run; `runtime` picks their
  // execution provider (a GPU worker's --device cuda).
  return {
    ...createAcquireActivities(),
    ...createSegmentActivities(),
    ...createExtractActivities(runtime),
    ...createCompressActivities(),
    ...createTrainActivities(runtime),
    ...createEvaluateActivities(runtime),
    ...createSweepActivities(),
  };
}

export type MerActivities = ReturnType<typeof createActivities>;
