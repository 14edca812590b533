import { arrowTableToRows } from '../../schemas/manifest.ts';
import { splitPlanKey, splitsPrefix } from '../../schemas/layout.ts';
import type { StoreSpec } from '../../schemas/store.ts';
import {
  SplitParamsSchema,
  SplitPlanSchema,
  type FoldSummaryShape,
  type SplitParams,
  type SplitParamsInput,
  type SplitPlan,
} from '../../schemas/train.ts';
import { parquetToTable } from '../common/parquet.ts';
import { createStore } from '../store/index.ts';
import type { ObjectStore } from '../store/types.ts';
import { readQuarantined } from './dataset.ts';
import { buildSplits, splitsKey } from './splits.ts';
import { readStoredJson } from '../common/stored-json.ts';

/**
 * The split plan of a manifest as a cached stage output: `splits/<splitsKey>/plan.json` + `_COMMIT`.
 * Workflows carry only the summary; training activities read the plan from the store.
 */

export interface PlanSplitsInput {
  store: StoreSpec;
  /** Store key of the manifest Parquet file (acquire's `datasets/<dataset>/<manifestKey>/manifest.parquet`). */
  manifest: string;
  params: SplitParams | SplitParamsInput;
  /** Feature shards whose quarantined rows leave the splits (every modality the training reads). */
  quarantineFrom?: string[];
  /** Further utterances to leave out. */
  exclude?: string[];
}

/** A fold's sizes, what workflows carry instead of the plan. */
export type FoldSummary = FoldSummaryShape;

export interface PlanSplitsResult {
  splitsKey: string;
  planKey: string;
  optimistic: boolean;
  counts: SplitPlan['counts'];
  folds: FoldSummary[];
  skipped: boolean;
}

function summarise(key: string, plan: SplitPlan, skipped: boolean): PlanSplitsResult {
  return {
    splitsKey: key,
    planKey: splitPlanKey(key),
    optimistic: plan.optimistic,
    counts: plan.counts,
    folds: plan.folds.map((f) => ({
      index: f.index,
      name: f.name,
      testGroup: f.testGroup,
      train: f.train.utteranceIds.length,
      validation: f.validation.utteranceIds.length,
      test: f.test.utteranceIds.length,
      optimistic: f.optimistic,
    })),
    skipped,
  };
}

export async function planSplitsStep(input: PlanSplitsInput): Promise<PlanSplitsResult> {
  const store = createStore(input.store);
  const params = SplitParamsSchema.parse(input.params);
  const exclude = new Set(input.exclude ?? []);
  if (input.quarantineFrom?.length)
    for (const id of await readQuarantined(store, input.quarantineFrom)) exclude.add(id);
  // The manifest's store key is itself a content address (it names the manifest key).
  const key = splitsKey(input.manifest, params, exclude);
  if (await store.committed(splitsPrefix(key))) return summarise(key, await readSplitPlan(store, key), true);
  const rows = arrowTableToRows(parquetToTable(await store.get(input.manifest)));
  const plan = buildSplits({ rows, params, exclude });
  await store.put(splitPlanKey(key), JSON.stringify(plan));
  const result = summarise(key, plan, false);
  await store.commit(splitsPrefix(key), {
    stage: 'train/splits',
    summary: { manifest: input.manifest, optimistic: plan.optimistic, counts: plan.counts, folds: plan.folds.length },
  });
  return result;
}

export async function readSplitPlan(store: ObjectStore, key: string): Promise<SplitPlan> {
  return readStoredJson(store, splitPlanKey(key), SplitPlanSchema);
}
