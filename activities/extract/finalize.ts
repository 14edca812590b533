import type { EncoderIdentity } from '../../schemas/report.ts';
import { encoderOf } from './identity.ts';
import type { Modality } from '../../schemas/extract.ts';
import { featureShardPrefix, featuresReportKey } from '../../schemas/layout.ts';
import type { StoreSpec } from '../../schemas/store.ts';
import { createStore } from '../store/index.ts';
import type { StoreProjection } from './projection.ts';

export interface ExtractFinalizeInput {
  store: StoreSpec;
  modality: Modality;
  featuresPrefix: string;
  modelSha256: string;
  dim: number;
  shardKeys: string[];
  /** Visual: the plan's projected sizes, written into the report. */
  projection?: StoreProjection;
}

export interface ExtractReport {
  modality: Modality;
  featuresPrefix: string;
  modelSha256: string;
  /** The encoder's family, model_type and file hashes (identity.ts); null for shards committed before they were recorded. */
  encoder?: EncoderIdentity | null;
  dim: number;
  shards: number;
  rows: number;
  ok: number;
  quarantined: number;
  quarantineReasons: Record<string, number>;
  /** Visual: bytes per utterance and projected store size as planned (absent for text and audio). */
  projection?: StoreProjection;
}

/** After every shard is committed: the modality's report and commit, which make a rerun skip it whole. */
export async function finalizeExtractStep(input: ExtractFinalizeInput): Promise<ExtractReport> {
  const store = createStore(input.store);
  const reportKey = featuresReportKey(input.featuresPrefix);
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
    ...(input.projection ? { projection: input.projection } : {}),
  };
  for (const k of input.shardKeys) {
    const c = await store.committed(featureShardPrefix(input.featuresPrefix, k));
    if (!c) throw new Error(`extract: features of shard ${k} are not committed under ${input.featuresPrefix}`);
    const s = c.summary as { rows: number; ok: number; quarantined: number; quarantineReasons: Record<string, number> };
    report.rows += s.rows;
    report.ok += s.ok;
    report.quarantined += s.quarantined;
    report.encoder ??= encoderOf(input.modality, c.summary);
    for (const [r, n] of Object.entries(s.quarantineReasons))
      report.quarantineReasons[r] = (report.quarantineReasons[r] ?? 0) + n;
  }
  report.encoder ??= null;
  await store.put(reportKey, JSON.stringify(report, null, 2));
  await store.commit(input.featuresPrefix, {
    stage: `extract/${input.modality}`,
    summary: { rows: report.rows, ok: report.ok, quarantined: report.quarantined, shards: report.shards },
  });
  return report;
}
