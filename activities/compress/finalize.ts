import {
  VscParamsSchema,
  VscShardReportSchema,
  type VscParams,
  type VscParamsInput,
  type VscShardReport,
  type VscStageReport,
} from '../../schemas/compress.ts';
import { vscPrefix, vscReportKey, vscShardCommitPrefix } from '../../schemas/layout.ts';
import type { StoreSpec } from '../../schemas/store.ts';
import { createStore } from '../store/index.ts';
import { storedVscParams } from './key.ts';
import { reduction } from './vsc.ts';

export interface FinalizeCompressInput {
  store: StoreSpec;
  params: VscParams | VscParamsInput;
  vscKey: string;
  shards: readonly string[];
}

/**
 * The stage report and commit, once every shard is committed: how much VSC shrank the visual data
 * and how long it took. Idempotent; a missing shard is an error naming it.
 */
export async function finalizeCompressStep(input: FinalizeCompressInput): Promise<VscStageReport> {
  const store = createStore(input.store);
  const prefix = vscPrefix(input.vscKey);
  const existing = await store.committed(prefix);
  if (existing) return JSON.parse((await store.get(vscReportKey(input.vscKey))).toString('utf8')) as VscStageReport;
  const shards: VscShardReport[] = [];
  for (const s of input.shards) {
    const m = await store.committed(vscShardCommitPrefix(input.vscKey, s));
    if (!m) throw new Error(`compress: shard ${s} of ${prefix} is not committed`);
    shards.push(VscShardReportSchema.parse(m.summary));
  }
  const sum = (f: (r: VscShardReport) => number) => shards.reduce((a, r) => a + f(r), 0);
  const valuesIn = sum((r) => r.valuesIn);
  const valuesOut = sum((r) => r.valuesOut);
  const bytesIn = sum((r) => r.bytesIn);
  const bytesOut = sum((r) => r.bytesOut);
  const seconds = sum((r) => r.seconds);
  const utterances = sum((r) => r.utterances);
  const report: VscStageReport = {
    vscKey: input.vscKey,
    // Without chunkUtterances: the report belongs to its key, not to the chunking of the run that wrote it.
    params: storedVscParams(VscParamsSchema.parse(input.params)),
    shards,
    utterances,
    valuesIn,
    valuesOut,
    ratio: reduction(valuesIn, valuesOut).ratio,
    bytesIn,
    bytesOut,
    byteRatio: bytesOut === 0 ? 1 : bytesIn / bytesOut,
    seconds,
    utterancesPerSecond: seconds > 0 ? utterances / seconds : 0,
  };
  await store.put(vscReportKey(input.vscKey), JSON.stringify(report, null, 2));
  await store.commit(prefix, {
    stage: 'compress/vsc',
    summary: { shards: shards.length, utterances, ratio: report.ratio, byteRatio: report.byteRatio, seconds },
  });
  return report;
}
