import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { effectiveShardSize, planShards, SEGMENT_MAX_SHARDS } from '../../activities/segment/plan.ts';
import { forEachLimitBudget } from '../../workflows/stage.ts';

/** The two bounds that keep a stage's workflow history and payloads independent of the corpus size. */
describe('fan-out bounds', () => {
  test('shards grow to keep a dataset within SEGMENT_MAX_SHARDS, up to 512 utterances, never below the configured size', () => {
    assert.equal(effectiveShardSize(13_708, 128), 128, 'MELD: the configured size');
    assert.equal(effectiveShardSize(256_000, 128), 128);
    assert.equal(effectiveShardSize(256_001, 128), 129);
    assert.equal(effectiveShardSize(1_000_000, 128), 500);
    assert.equal(planShards(1_000_000, effectiveShardSize(1_000_000, 128)).length, SEGMENT_MAX_SHARDS);
    assert.equal(effectiveShardSize(10_000_000, 128), 512, 'beyond 1,024,000 utterances the count grows instead');
    assert.equal(effectiveShardSize(1_000, 256), 256);
  });

  test('forEachLimitBudget starts items in order, at most `limit` at once, and stops after `budget`', async () => {
    const items = Array.from({ length: 10 }, (_, i) => i);
    const started: number[] = [];
    let inFlight = 0;
    let peak = 0;
    const run = (budget: number) =>
      forEachLimitBudget(items, 3, budget, async (i) => {
        started.push(i);
        peak = Math.max(peak, ++inFlight);
        await new Promise((r) => setTimeout(r, 1 + (i % 3)));
        inFlight--;
      });
    assert.equal(await run(4), 4);
    assert.deepEqual(started, [0, 1, 2, 3]);
    assert.equal(peak, 3);
    assert.equal(inFlight, 0, 'returns once the started ones finished');
    started.length = 0;
    assert.equal(await run(100), 10);
    assert.deepEqual(started, items);
    started.length = 0;
    assert.equal(await run(0), 0);
    assert.deepEqual(started, []);
  });
});
