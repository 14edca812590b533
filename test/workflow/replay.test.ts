import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { Worker } from '@temporalio/worker';
import { workflowBundle } from '../../workers/bundle.ts';
import { installRuntime } from '../../workers/runtime.ts';

const dir = new URL('../fixtures/histories/', import.meta.url).pathname;

/** The part of a recorded history (`temporal workflow show --output json`) this test reads itself. */
interface RecordedHistory {
  events: Array<{ workflowExecutionStartedEventAttributes?: { workflowType?: { name?: string } } }>;
}

/**
 * Histories recorded from earlier workflow versions (scripts/record-histories.ts) must replay through
 * the current code: runs that were in flight during a deploy keep going. A change that breaks one of
 * these needs `patched()`, not a new fixture.
 */
describe('workflow histories of earlier versions replay through the current code', () => {
  const ids = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as Record<string, string>;
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.json') && f !== 'index.json')
    .sort();
  test('there are recorded histories', () => assert.ok(files.length >= 3));
  test('every workflow type has a recorded history', async () => {
    const types = Object.keys(await import('../../workflows/index.ts')).sort();
    const recorded = new Set(
      files.map(
        (f) =>
          (JSON.parse(readFileSync(join(dir, f), 'utf8')) as RecordedHistory).events[0]
            .workflowExecutionStartedEventAttributes?.workflowType?.name,
      ),
    );
    assert.deepEqual(
      types.filter((t) => !recorded.has(t)),
      [],
      'record one with scripts/record-histories.ts',
    );
  });
  for (const f of files) {
    test(f, async () => {
      installRuntime('ERROR');
      const history = JSON.parse(readFileSync(join(dir, f), 'utf8')) as unknown;
      assert.ok(ids[f], `${f} has its workflow id in index.json`);
      await Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, history, ids[f]);
    });
  }
});
