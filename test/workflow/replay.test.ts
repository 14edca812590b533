import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { Worker } from '@temporalio/worker';
import { workflowBundle } from '../../workers/bundle.ts';
import { installRuntime } from '../../workers/runtime.ts';

const dir = new URL('../fixtures/histories/', import.meta.url).pathname;

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
  for (const f of files) {
    test(f, async () => {
      installRuntime('ERROR');
      const history = JSON.parse(readFileSync(join(dir, f), 'utf8')) as unknown;
      assert.ok(ids[f], `${f} has its workflow id in index.json`);
      await Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, history, ids[f]);
    });
  }
});
