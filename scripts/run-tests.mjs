#!/usr/bin/env node
// Runs every test/**/*.test.ts with node's built-in test runner (through tsx), one file at a time:
// workflow tests each start a real Temporal server, and two of those racing on a 2-core machine
// miss the SDK's start-up deadline. Pass file or folder names to run a subset.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
function collect(p, out) {
  if (statSync(p).isDirectory()) {
    for (const n of readdirSync(p).sort()) {
      if (n === 'node_modules' || n === 'fixtures') continue;
      collect(join(p, n), out);
    }
  } else if (p.endsWith('.test.ts')) out.push(p);
  return out;
}
const args = process.argv.slice(2);
const targets = args.length ? args : [join(root, 'test')];
const files = targets.flatMap((t) => collect(t, [])).map((f) => relative(process.cwd(), f));
if (!files.length) {
  console.error('no test files found');
  process.exit(1);
}
const r = spawnSync(
  process.execPath,
  [
    '--import',
    'tsx',
    '--test',
    '--test-concurrency=1',
    '--test-force-exit',
    '--test-timeout=900000',
    '--test-reporter=spec',
    ...files,
  ],
  { stdio: 'inherit', env: { ...process.env, NODE_OPTIONS: '' } },
);
process.exit(r.status ?? 1);
