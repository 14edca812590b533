import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { reportDiverged } from '../../cli/run-command.ts';
import type { PipelineResult } from '../../schemas/config.ts';

/** `mer run` ends non-zero, naming what diverged, when a training diverged even though the run completed. */
describe('mer run exit status', () => {
  test('a diverged training sets exit status 1 and prints its message; a clean run leaves it alone', (t) => {
    const lines: string[] = [];
    t.mock.method(console, 'error', (m: string) => lines.push(m));
    const saved = process.exitCode;
    try {
      process.exitCode = undefined;
      const clean = { configHash: 'h', datasets: {}, trained: { meld: { diverged: undefined } } };
      reportDiverged(clean as unknown as PipelineResult);
      assert.equal(process.exitCode, undefined);
      assert.deepEqual(lines, []);
      const message =
        'train: meld variant T+A+V-lr1e+20 fold official diverged: the loss became NaN at epoch 0, step 2; lower the lr of variant T+A+V-lr1e+20 (now 1e+20)';
      reportDiverged({
        configHash: 'h',
        datasets: {},
        trained: { meld: { diverged: [{ message }] } },
      } as unknown as PipelineResult);
      assert.equal(process.exitCode, 1);
      assert.match(lines[0], /1 training\(s\) diverged; the other variants were trained and reported/);
      assert.equal(lines[1], `  ${message}`);
    } finally {
      process.exitCode = saved;
    }
  });
});
