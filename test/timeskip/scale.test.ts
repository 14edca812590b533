import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { useTimeSkipping } from './env.ts';
import { TEMPORAL_LIMITS } from './history-size.ts';
import { measureScale } from './scale.ts';

/**
 * The guard of the scale simulation (bench/workflow/scale.bench.ts runs 10k, 100k and 1M): 100,000
 * utterances through the whole MerPipeline with mocked activities stay far inside Temporal's limits.
 * The bounds asserted are fractions of the limits, not measured figures: a change that makes a history
 * grow with the corpus again (per-shard signals, no continue-as-new, shard lists in one payload) fails here.
 */
const ts = useTimeSkipping('scale');

describe('workflow scale', () => {
  test('100,000 utterances: every history and payload far below Temporal\u2019s limits', async () => {
    const m = await measureScale(ts.env, ts.queues, 100_000);
    console.log(
      `# 100k: ${m.shards} shards, ${m.histories} histories, longest ${m.longest.events} events (${m.longest.workflowId}), largest ${m.largestBytes.bytes} bytes, largest payload ${m.largestPayload.largestPayload} bytes (${m.largestPayload.largestPayloadAt}), ${m.parentSignals} progress signals, pending activities ${m.pendingActivitiesPeak}, ${m.wallSeconds.toFixed(1)} s`,
    );
    assert.equal(m.shards, 782);
    assert.ok(m.longest.events < TEMPORAL_LIMITS.historyEvents.warn / 2, `longest history ${m.longest.events} events`);
    assert.ok(
      m.largestBytes.bytes < TEMPORAL_LIMITS.historyBytes.warn / 2,
      `largest history ${m.largestBytes.bytes} bytes`,
    );
    assert.ok(
      m.largestPayload.largestPayload < TEMPORAL_LIMITS.payloadBytes.limit / 4,
      `largest payload ${m.largestPayload.largestPayload} bytes at ${m.largestPayload.largestPayloadAt}`,
    );
    assert.ok(m.parentSignals < 6 * 110, `progress signals to the parent: ${m.parentSignals} (about 100 per stage)`);
    assert.ok(m.pendingActivitiesPeak <= 16, `pending activities ${m.pendingActivitiesPeak}: the stage parallelism`);
    assert.ok(m.histories > 7, 'the stage children continued as new');
  });
});
