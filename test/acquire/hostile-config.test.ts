import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfigFile, parseConfigObject } from '../../cli/config.ts';

/**
 * Numbers in a run config (acquire and temporal settings): each bounded, so no byte count, part size or
 * retry count can overflow or loop; out-of-bounds values, `.inf`, `.nan`, 1e400 and hex are config errors
 * naming the file, line and field.
 */

describe('run config numbers are bounded, and errors name the field', () => {
  const base = { datasets: { meld: { source: 'x' } } };
  for (const [section, field, value, message] of [
    ['acquire', 'chunkMiB', 0.000001, /at least 0\.0625/],
    ['acquire', 'chunkMiB', 1e6, /at most 4096/],
    ['acquire', 'maxExtractGiB', 1e300, /at most 65536/],
    ['acquire', 'maxEntries', 2 ** 53 + 2, /int|at most/],
    ['acquire', 'maxEntries', 1.5, /int/],
    ['temporal', 'activityMaxAttempts', 1e9, /at most 1000/],
    ['temporal', 'heartbeatTimeoutSec', 0.001, /at least 1 second/],
    ['acquire', 'chunkMiB', Infinity, /received Infinity/],
    ['acquire', 'chunkMiB', NaN, /received NaN/],
  ] as const) {
    test(`${section}.${field} = ${value} is refused naming the field`, () => {
      assert.throws(
        () => parseConfigObject({ ...base, [section]: { [field]: value } }, 'run.yaml'),
        (err: unknown) =>
          err instanceof ConfigError &&
          new RegExp(`run\\.yaml: field ${section}\\.${field}: `).test(err.message) &&
          message.test(err.message),
      );
    });
  }

  test('YAML .inf, .nan, 1e400 and hex in a config file are refused with file, line and field', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mer-hostile-config-'));
    try {
      const file = join(dir, 'run.yaml');
      await writeFile(
        file,
        [
          'datasets:',
          '  meld: { source: x }',
          'acquire:',
          '  chunkMiB: .inf',
          '  maxExtractGiB: 1e400',
          '  maxEntries: .nan',
          'temporal:',
          '  activityMaxAttempts: 0x7fffffff',
          '',
        ].join('\n'),
      );
      assert.throws(
        () => loadConfigFile(file),
        (err: unknown) => {
          const m = (err as Error).message;
          return (
            err instanceof ConfigError &&
            m.includes(`${file}:4: field acquire.chunkMiB`) &&
            m.includes(`${file}:5: field acquire.maxExtractGiB`) &&
            m.includes(`${file}:6: field acquire.maxEntries`) &&
            m.includes(`${file}:8: field temporal.activityMaxAttempts: at most 1000`)
          );
        },
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
