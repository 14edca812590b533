import { createAcquireActivities } from './acquire/activities.ts';
import { createExtractActivities } from './extract/activities.ts';
import { createSegmentActivities } from './segment/activities.ts';
import type { ExtractRuntime } from '../schemas/extract.ts';

/** Every activity a worker can run. Stages register theirs here as they are built. */
export function createActivities(runtime: Partial<ExtractRuntime> = {}) {
  // Extract's encoders are only loaded when its activities run (sessions are cached per process);
  // `runtime` picks their execution provider (a GPU worker's --device cuda).
  return { ...createAcquireActivities(), ...createSegmentActivities(), ...createExtractActivities(runtime) };
}

export type MerActivities = ReturnType<typeof createActivities>;
