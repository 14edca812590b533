/**
 * The extract stage's steps: plan (model fingerprint -> content-addressed features prefix, which
 * shards are already committed), one shard (batches with stored progress), and finalise (report +
 * stage commit). Layout under `features/<modality>/<featuresKey>/`:
 *   shards/<shard>/features.parquet + _COMMIT    one per segment shard
 *   shards/<shard>/parts/<batch>.parquet         progress of an unfinished shard, deleted on commit
 *   report.json + _COMMIT                        after every shard is committed
 */
import { basename } from 'node:path';
import type { RecordBatch } from 'apache-arrow';
import type { ExtractParams, ExtractRuntime, Modality } from '../../schemas/extract.ts';
import { ExtractRuntimeSchema } from '../../schemas/extract.ts';
import {
  featureArrowSchema,
  featureRowsToBatch,
  featureTable,
  tableToFeatureRows,
  type FeatureRow,
  type FeatureShardMeta,
} from '../../schemas/features.ts';
import type { StoreSpec } from '../../schemas/store.ts';
import type { StepContext } from '../common/context.ts';
import { ErrorTypes, MerError } from '../common/errors.ts';
import { contentKey } from '../common/hash.ts';
import { parquetToTable, tableToParquet } from '../common/parquet.ts';
import { createStore } from '../store/index.ts';
import type { ObjectStore } from '../store/types.ts';
import { reasonCode } from './encoder.ts';
import { readModelFolder, configInt, type ModelFolder } from './model-folder.ts';
import { openRunner, quarantinedRow } from './runners.ts';
import { dialogueTexts, readSegmentShard } from './shard-input.ts';

/** Bumped whenever the same models and inputs would give different features: old ones are then not reused. */
export const EXTRACT_CODE_VERSION = 1;
/** Visual rows are about 1 MB each (15 frames x 49 x 768 float16): keep row groups readable piecewise. */
const ROW_GROUP_SIZE = 64;

export interface ExtractPlanInput {
  store: StoreSpec;
  modality: Modality;
  /** `segments/<segKey>` of a committed segment stage output. */
  segmentPrefix: string;
  /** Shard index keys of that output (DatasetSegmentResult.shardKeys). */
  shardKeys: string[];
  /** The acquire manifest the segments were cut from; text reads utterance texts and dialogues from it. */
  manifestKey: string;
  params: ExtractParams;
}

export interface ExtractPlan {
  modality: Modality;
  featuresKey: string;
  featuresPrefix: string;
  modelSha256: string;
  dim: number;
  /** The whole modality is committed: nothing to run. */
  committed: boolean;
  /** Shard index keys whose features are not committed yet. */
  pendingShardKeys: string[];
}

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

export interface ExtractFinalizeInput {
  store: StoreSpec;
  modality: Modality;
  featuresPrefix: string;
  modelSha256: string;
  dim: number;
  shardKeys: string[];
}

export interface ExtractReport {
  modality: Modality;
  featuresPrefix: string;
  modelSha256: string;
  dim: number;
  shards: number;
  rows: number;
  ok: number;
  quarantined: number;
  quarantineReasons: Record<string, number>;
}

const shardName = (shardKey: string): string => basename(shardKey).replace(/\.parquet$/, '');
const shardPrefix = (featuresPrefix: string, shardKey: string): string =>
  `${featuresPrefix}/shards/${shardName(shardKey)}`;
export const featureShardKey = (featuresPrefix: string, shardKey: string): string =>
  `${shardPrefix(featuresPrefix, shardKey)}/features.parquet`;

/** Parameters that change the features (batch sizes do not: padding is masked, audio batches are equal-length). */
function featureParams(params: ExtractParams, modality: Modality): Record<string, unknown> {
  switch (modality) {
    case 'text':
      return { contextUtterances: params.text.contextUtterances, maxTokens: params.text.maxTokens };
    case 'audio':
      return { maxSeconds: params.audio.maxSeconds };
    case 'visual':
      return {};
  }
}

function modelFolder(params: ExtractParams, modality: Modality): Promise<ModelFolder> {
  return readModelFolder(modality, params[modality].model, params[modality].file);
}

export async function planExtractStep(input: ExtractPlanInput): Promise<ExtractPlan> {
  const store = createStore(input.store);
  if (!(await store.committed(input.segmentPrefix))) {
    throw new MerError(
      ErrorTypes.SegmentsInvalid,
      `segment output ${input.segmentPrefix} is not committed; run the segment stage first`,
      { prefix: input.segmentPrefix },
    );
  }
  const folder = await modelFolder(input.params, input.modality);
  const featuresKey = contentKey({
    stage: 'extract',
    code: EXTRACT_CODE_VERSION,
    modality: input.modality,
    segments: input.segmentPrefix,
    manifest: input.modality === 'text' ? input.manifestKey : null,
    model: folder.sha256,
    params: featureParams(input.params, input.modality),
    dtype: 'float16',
  });
  const featuresPrefix = `features/${input.modality}/${featuresKey}`;
  const base = {
    modality: input.modality,
    featuresKey,
    featuresPrefix,
    modelSha256: folder.sha256,
    dim: configInt(folder, 'hidden_size'),
  };
  if (await store.committed(featuresPrefix)) return { ...base, committed: true, pendingShardKeys: [] };
  const done = await Promise.all(input.shardKeys.map((k) => store.committed(shardPrefix(featuresPrefix, k))));
  return { ...base, committed: false, pendingShardKeys: input.shardKeys.filter((_, i) => !done[i]) };
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
  runtime: ExtractRuntime = ExtractRuntimeSchema.parse({}),
): Promise<ExtractShardResult> {
  const store = createStore(input.store);
  const shard = shardName(input.shardKey);
  const prefix = shardPrefix(input.featuresPrefix, input.shardKey);
  const key = `${prefix}/features.parquet`;
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
    const partKey = `${prefix}/parts/${String(b).padStart(6, '0')}.parquet`;
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
    summary: { ...summary, quarantineReasons: reasons, dim: runner.dim, modelSha256: folder.sha256 },
  });
  await store.deletePrefix(`${prefix}/parts/`);
  return { shard, key, ...summary, batchesComputed: computed, batchesReused: reused, skipped: false, inferenceMs };
}

/** After every shard is committed: the modality's report and commit, which make a rerun skip it whole. */
export async function finalizeExtractStep(input: ExtractFinalizeInput): Promise<ExtractReport> {
  const store = createStore(input.store);
  const reportKey = `${input.featuresPrefix}/report.json`;
  if (await store.committed(input.featuresPrefix))
    return JSON.parse((await store.get(reportKey)).toString('utf8')) as ExtractReport;
  const report: ExtractReport = {
    modality: input.modality,
    featuresPrefix: input.featuresPrefix,
    modelSha256: input.modelSha256,
    dim: input.dim,
    shards: input.shardKeys.length,
    rows: 0,
    ok: 0,
    quarantined: 0,
    quarantineReasons: {},
  };
  for (const k of input.shardKeys) {
    const c = await store.committed(shardPrefix(input.featuresPrefix, k));
    if (!c) throw new Error(`extract: features of shard ${k} are not committed under ${input.featuresPrefix}`);
    const s = c.summary as { rows: number; ok: number; quarantined: number; quarantineReasons: Record<string, number> };
    report.rows += s.rows;
    report.ok += s.ok;
    report.quarantined += s.quarantined;
    for (const [r, n] of Object.entries(s.quarantineReasons))
      report.quarantineReasons[r] = (report.quarantineReasons[r] ?? 0) + n;
  }
  await store.put(reportKey, JSON.stringify(report, null, 2));
  await store.commit(input.featuresPrefix, {
    stage: `extract/${input.modality}`,
    summary: { rows: report.rows, ok: report.ok, quarantined: report.quarantined, shards: report.shards },
  });
  return report;
}
