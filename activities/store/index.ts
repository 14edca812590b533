import { resolve } from 'node:path';
import { StoreSpecSchema, type StoreSpec } from '../../schemas/store.ts';
import { ErrorTypes, MerError } from '../common/errors.ts';
import { issueSummary } from '../common/stored-json.ts';
import { LocalStore } from './local.ts';
import { S3Store } from './s3.ts';
import type { ObjectStore } from './types.ts';

export * from './types.ts';
export { LocalStore } from './local.ts';
export { S3Store, type S3StoreConfig } from './s3.ts';
export { StoreUnreachableError } from './s3-errors.ts';
export { assertUsableLocalRoot, localRootRefusal } from './local-root.ts';
export { collectGarbage, type GarbageReport } from './collect.ts';
export { GARBAGE_MIN_AGE_MS, type GarbageItem } from './garbage.ts';
export type { StoreSpec } from '../../schemas/store.ts';

/**
 * One store per distinct spec for the life of the process: activities call createStore on every
 * invocation, and an S3 client owns a connection pool and a credential cache that should be reused
 * rather than rebuilt per shard.
 */
const cache = new Map<string, ObjectStore>();

/** Defaults applied so that specs meaning the same location share one instance. */
function normalise(spec: StoreSpec): StoreSpec {
  if (spec.kind === 'local') return { kind: 'local', root: resolve(spec.root) };
  return {
    kind: 's3',
    bucket: spec.bucket,
    prefix: spec.prefix ?? '',
    endpoint: spec.endpoint,
    region: spec.region ?? 'us-east-1',
    forcePathStyle: spec.forcePathStyle ?? spec.endpoint !== undefined,
  };
}

/** Kind and location of a spec that failed validation, for the error's details (never credentials: specs hold none). */
function describeSpec(spec: unknown): string {
  const o = (spec ?? {}) as Record<string, unknown>;
  return String(o.kind === 'local' ? o.root : o.kind === 's3' ? `s3://${String(o.bucket)}` : o.kind);
}

export function createStore(spec: StoreSpec): ObjectStore {
  // Specs arrive through workflow payloads as plain JSON; validate at the edge that uses them.
  const parsed = StoreSpecSchema.safeParse(spec);
  if (!parsed.success) {
    throw new MerError(ErrorTypes.ConfigInvalid, `invalid store spec: ${issueSummary(parsed.error)}`, {
      store: describeSpec(spec),
    });
  }
  const s = normalise(parsed.data);
  const id = JSON.stringify(s);
  let store = cache.get(id);
  if (!store) {
    store = s.kind === 'local' ? new LocalStore(s.root) : new S3Store(s);
    cache.set(id, store);
  }
  return store;
}

/**
 * Closes every cached store (worker shutdown, end of a test file); later createStore calls build fresh
 * ones. Closing a single shared instance is harmless too: S3Store.close only drops pooled connections,
 * and its client reconnects on the next request.
 */
export async function closeStores(): Promise<void> {
  const stores = [...cache.values()];
  cache.clear();
  await Promise.all(stores.map((s) => s.close()));
}
