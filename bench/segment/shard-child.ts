/**
 * One step of the segment stage in a fresh process, for memory.bench.ts: the peak RSS of a process
 * that did nothing else is what a worker needs for that step.
 *
 *   node --import tsx bench/segment/shard-child.ts plan  <storeRoot> <manifestKey> <iemocap|meld> <shardSize>
 *   node --import tsx bench/segment/shard-child.ts shard <storeRoot> <manifestKey> <iemocap|meld> <shardSize> <planJson>
 *   node --import tsx bench/segment/shard-child.ts baseline
 *
 * `plan` plans the stage as the plan activity does; `shard` runs shard 0 of the plan it is given, as
 * the shard activity does. Prints one JSON line.
 */
import { peakRssKiB } from '../peak-rss.ts';
import { localStepContext } from '../../activities/common/context.ts';
import { planSegmentStep, type SegmentPlan } from '../../activities/segment/plan.ts';
import { segmentShardStep } from '../../activities/segment/shard.ts';
import { SegmentParamsSchema } from '../../schemas/config.ts';

export interface ShardChildResult {
  ms: number;
  /** VmHWM (see bench/acquire/extract-child.ts for why not getrusage), KiB. */
  peakRssKiB: number;
  /** Utterances the shard cut (shard mode). */
  rows: number;
  plan?: SegmentPlan;
}

const [mode, storeRoot, manifestKey, dataset, shardSize, planJson] = process.argv.slice(2);
const t0 = performance.now();
const store = { kind: 'local' as const, root: storeRoot };
const params = SegmentParamsSchema.parse({ shardSize: Number(shardSize ?? 128) });
const ds = dataset as 'iemocap' | 'meld';
let out: ShardChildResult;
if (mode === 'plan') {
  const plan = await planSegmentStep({ store, dataset: ds, manifestKey, params });
  out = { ms: performance.now() - t0, peakRssKiB: peakRssKiB(), rows: 0, plan };
} else if (mode === 'shard') {
  const plan = JSON.parse(planJson) as SegmentPlan;
  const stats = await segmentShardStep(
    {
      store,
      dataset: ds,
      manifestKey,
      prefix: plan.prefix,
      ffmpegVersion: plan.ffmpegVersion,
      params,
      shard: plan.shards[0],
    },
    localStepContext(),
  );
  out = { ms: performance.now() - t0, peakRssKiB: peakRssKiB(), rows: stats.rows };
} else {
  out = { ms: 0, peakRssKiB: peakRssKiB(), rows: 0 };
}
console.log(JSON.stringify(out));
