/** One extract shard: the features of one segment shard, computed in batches whose progress is stored. */
import type { RecordBatch } from 'apache-arrow';
import {
  featureArrowSchema,
  featureRowsToBatch,
  featureTable,
  tableToFeatureRows,
  type FeatureRow,
  type FeatureShardMeta,
} from '../../schemas/features.ts';
import {
  featurePartKey,
  featurePartsPrefix,
  featureShardKey,
  featureShardPrefix,
  segmentShardName,
} from '../../schemas/layout.ts';
import { OnnxRuntimeSettingsSchema, type OnnxRuntimeSettings } from '../../schemas/runtime.ts';
import type { StepContext } from '../common/context.ts';
import { ErrorTypes, MerError } from '../common/errors.ts';
import { parquetToTable, tableToParquet } from '../common/parquet.ts';
import { createStore } from '../store/index.ts';
import type { ObjectStore } from '../store/types.ts';
import { reasonCode } from './encoder.ts';
import { modelIdentity } from './identity.ts';
import { modelFolder, type ExtractPlanInput } from './plan.ts';
import { openRunner, quarantinedRow } from './runners.ts';
import { dialogueTexts, readSegmentShard } from './shard-input.ts';

/** Visual rows are about 1 MB each (15 frames x 49 x 768 float16): keep row groups readable piecewise. */
const ROW_GROUP_SIZE = 64;

export interface ExtractShardInput extends Omit<ExtractPlanInput, 'shardKeys'> {
  shardKey: string;
  featuresPrefix: string;
  /** From the plan: the model this worker loads must be the one the key was computed for. */
  modelSha256: string;
}

export interface ExtractShardResult {
  shard: string;
  key: string;
  rows: number;
  ok: number;
  quarantined: number;
  batches: number;
  batchesComputed: number;
  batchesReused: number;
  /** The shard was already committed; nothing ran. */
  skipped: boolean;
  /** Wall time of encoder inference in this attempt, milliseconds. */
  inferenceMs: number;
}

/** Reads a stored part back if it holds exactly the planned batch (same utterances, same order). */
async function reusablePart(store: ObjectStore, key: string, ids: readonly string[]): Promise<FeatureRow[] | null> {
  if (!(await store.exists(key))) return null;
  try {
    const rows = tableToFeatureRows(parquetToTable(await store.get(key)));
    if (rows.length === ids.length && rows.every((r, i) => r.utteranceId === ids[i])) return rows;
  } catch {
    // an unreadable part is recomputed; it is replaced atomically below
  }
  return null;
}

export async function extractShardStep(
  input: ExtractShardInput,
  ctx: StepContext,
  runtime: OnnxRuntimeSettings = OnnxRuntimeSettingsSchema.parse({}),
): Promise<ExtractShardResult> {
  const store = createStore(input.store);
  const shard = segmentShardName(input.shardKey);
  const prefix = featureShardPrefix(input.featuresPrefix, input.shardKey);
  const key = featureShardKey(input.featuresPrefix, input.shardKey);
  const done = await store.committed(prefix);
  if (done) {
    const s = done.summary as { rows: number; ok: number; quarantined: number; batches: number };
    return {
      shard,
      key,
      rows: s.rows,
      ok: s.ok,
      quarantined: s.quarantined,
      batches: s.batches,
      batchesComputed: 0,
      batchesReused: 0,
      skipped: true,
      inferenceMs: 0,
    };
  }

  const folder = await modelFolder(input.params, input.modality);
  if (folder.sha256 !== input.modelSha256) {
    throw new MerError(
      ErrorTypes.ModelMismatch,
      `${folder.dir}: the ${input.modality} model on this worker (sha256 ${folder.sha256.slice(0, 12)}) is not the one the stage was planned with (${input.modelSha256.slice(0, 12)}); every worker must hold the same model files`,
      { folder: folder.dir },
    );
  }
  const texts = input.modality === 'text' ? await dialogueTexts(store, input.manifestKey) : undefined;
  const runner = await openRunner({
    modality: input.modality,
    folder,
    runtime,
    store,
    ...input.params,
    texts,
    manifestKey: input.manifestKey,
  });
  const meta: FeatureShardMeta = {
    modality: input.modality,
    dim: runner.dim,
    modelSha256: folder.sha256,
    featuresKey: input.featuresPrefix.split('/').pop()!,
  };
  const schema = featureArrowSchema(meta);

  const index = await readSegmentShard(store, input.shardKey);
  const early: FeatureRow[] = [];
  const encodable = index.filter((row) => {
    const reason = runner.screen(row);
    if (reason !== null) early.push(quarantinedRow(row.utteranceId, reason));
    return reason === null;
  });
  const batches = runner.plan(encodable);

  const out: RecordBatch[] = [];
  let ok = 0;
  const reasons: Record<string, number> = {};
  const count = (rows: readonly FeatureRow[]) => {
    for (const r of rows) {
      if (r.status === 'ok') ok++;
      else if (r.reason) reasons[reasonCode(r.reason)] = (reasons[reasonCode(r.reason)] ?? 0) + 1;
    }
  };
  let computed = 0;
  let reused = 0;
  let inferenceMs = 0;
  let encoded = 0;
  for (let b = 0; b < batches.length; b++) {
    if (ctx.signal?.aborted) throw ctx.signal.reason ?? new Error('cancelled');
    const ids = batches[b].map((r) => r.utteranceId);
    const partKey = featurePartKey(prefix, b);
    // progress lives in the store, not in heartbeat details: a killed worker's last parts may be
    // stored but never reported
    let rows = await reusablePart(store, partKey, ids);
    let batch: RecordBatch;
    if (rows) {
      batch = featureRowsToBatch(rows, schema);
      reused++;
    } else {
      const t0 = performance.now();
      rows = await runner.run(batches[b]);
      inferenceMs += performance.now() - t0;
      batch = featureRowsToBatch(rows, schema);
      await store.put(partKey, tableToParquet(featureTable(schema, [batch]), { dictionary: false }));
      computed++;
    }
    out.push(batch);
    count(rows);
    encoded += ids.length;
    ctx.heartbeat({ shard, batch: b + 1, batches: batches.length, encoded, encodable: encodable.length });
  }
  if (early.length) {
    out.push(featureRowsToBatch(early, schema));
    count(early);
  }

  const table = featureTable(schema, out);
  await store.put(key, tableToParquet(table, { rowGroupSize: ROW_GROUP_SIZE, dictionary: false }));
  const summary = { rows: table.numRows, ok, quarantined: table.numRows - ok, batches: batches.length };
  await store.commit(prefix, {
    stage: `extract/${input.modality}`,
    summary: {
      ...summary,
      quarantineReasons: reasons,
      dim: runner.dim,
      modelSha256: folder.sha256,
      // the encoder's identity for the stage report and the evaluate provenance (finalize.ts)
      ...modelIdentity(folder),
    },
  });
  await store.deletePrefix(featurePartsPrefix(prefix));
  return { shard, key, ...summary, batchesComputed: computed, batchesReused: reused, skipped: false, inferenceMs };
}
