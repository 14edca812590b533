import { createAcquireActivities } from './acquire/activities.ts';
import { createSegmentActivities } from './segment/activities.ts';

/** Every activity a worker can run. Stages register theirs here as they are built. */
export function createActivities() {
  return { ...createAcquireActivities(), ...createSegmentActivities() };
}

export type MerActivities = ReturnType<typeof createActivities>;
