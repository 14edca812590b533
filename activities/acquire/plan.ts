import type { AcquireParams, DatasetPlan, StoreSpecResolved } from '../../schemas/config.ts';
import { downloadsPrefix, manifestPrefix, rawPrefix } from '../../schemas/layout.ts';
import { contentKey } from '../common/hash.ts';
import { createStore } from '../store/index.ts';
import { MANIFEST_CODE_VERSION } from './manifest.ts';
import { sourceKey } from './source.ts';

/** Where each acquire output of a dataset lives, and which of them are already committed. */
export interface AcquirePlan {
  sourceKey: string;
  downloadsPrefix: string;
  rawPrefix: string;
  manifestPrefix: string;
  downloadCommitted: boolean;
  rawCommitted: boolean;
  manifestCommitted: boolean;
}

export async function planStep(input: {
  store: StoreSpecResolved;
  plan: DatasetPlan;
  acquire?: AcquireParams;
}): Promise<AcquirePlan> {
  const { plan } = input;
  const store = createStore(input.store);
  const sk = await sourceKey(plan.dataset, plan.source);
  const raw = rawPrefix(plan.dataset, sk);
  const downloads = downloadsPrefix(plan.dataset, sk);
  const mk = contentKey({ source: sk, labels: plan.labels, code: MANIFEST_CODE_VERSION });
  const manifest = manifestPrefix(plan.dataset, mk);
  const [d, r, m] = await Promise.all([store.committed(downloads), store.committed(raw), store.committed(manifest)]);
  return {
    sourceKey: sk,
    downloadsPrefix: downloads,
    rawPrefix: raw,
    manifestPrefix: manifest,
    downloadCommitted: d !== null,
    rawCommitted: r !== null,
    manifestCommitted: m !== null,
  };
}
