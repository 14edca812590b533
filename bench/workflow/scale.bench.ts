/**
 * The workflow layer at corpus sizes no machine here could run for real: 10k, 100k and 1M utterances
 * (one IEMOCAP-layout dataset, loso folds, the modality ablations) through the whole MerPipeline on
 * Temporal's time-skipping test server, every activity mocked with results of the real shapes and sizes
 * (test/timeskip/mock-corpus.ts). Reported per size, beside Temporal's limits: events of the longest
 * history, bytes of the largest history, the largest payload, progress signals to the parent, pending
 * activities at peak, wall time.
 */
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, makeTelemetryFilterString, Runtime, Worker } from '@temporalio/worker';
import { requireTemporalTestServer } from '../../activities/common/tools.ts';
import { TEMPORAL_LIMITS } from '../../test/timeskip/history-size.ts';
import { measureScale } from '../../test/timeskip/scale.ts';
import { workflowBundle } from '../../workers/bundle.ts';
import type { BenchRow } from '../types.ts';

const BENCH = 'workflow/scale';
const SIZES = (process.env.MER_BENCH_SCALE_SIZES ?? '10000,100000,1000000').split(',').map(Number);

export default async function scale(): Promise<BenchRow[]> {
  try {
    Runtime.install({
      logger: new DefaultLogger('ERROR'),
      telemetryOptions: { logging: { filter: makeTelemetryFilterString({ core: 'ERROR', other: 'ERROR' }) } },
    });
  } catch {
    // a runtime is installed already
  }
  const env = await TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: requireTemporalTestServer() } },
  });
  const rows: BenchRow[] = [];
  const L = TEMPORAL_LIMITS;
  try {
    for (const n of SIZES) {
      const queues = { cpu: `scale-${n}-cpu`, gpu: `scale-${n}-gpu` };
      const worker = await Worker.create({
        connection: env.nativeConnection,
        taskQueue: queues.cpu,
        workflowBundle: await workflowBundle(),
      });
      const run = worker.run();
      try {
        const m = await measureScale(env, queues, n);
        const at = `${n} utterances, ${m.shards} shards`;
        const row = (metric: string, value: number, unit: string, limit: number | undefined, notes: string) =>
          rows.push({
            bench: BENCH,
            metric: `${metric} (${at})`,
            value,
            unit,
            notes:
              limit === undefined
                ? notes
                : `${notes}; limit ${limit}, ${(limit / Math.max(1, value)).toFixed(1)}x margin`,
          });
        row('events, longest history', m.longest.events, 'events', L.historyEvents.limit, m.longest.workflowId);
        row('bytes, largest history', m.largestBytes.bytes, 'bytes', L.historyBytes.limit, m.largestBytes.workflowId);
        row(
          'largest payload',
          m.largestPayload.largestPayload,
          'bytes',
          L.payloadBytes.limit,
          m.largestPayload.largestPayloadAt,
        );
        row('progress signals to the parent', m.parentSignals, 'signals', undefined, 'per-percent reports');
        row(
          'pending activities at peak, one workflow',
          m.pendingActivitiesPeak,
          'activities',
          L.pendingActivities.limit,
          'segment.parallelism 16',
        );
        row('histories (runs incl. continue-as-new)', m.histories, 'histories', undefined, '');
        row('progress query answer', m.queryBytes, 'bytes', L.payloadBytes.limit, '');
        row('wall time', m.wallSeconds, 's', undefined, `${m.activities} mocked activities`);
      } finally {
        worker.shutdown();
        await run;
      }
    }
  } finally {
    await env.teardown();
  }
  return rows;
}
