import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import type { WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { REPO_ROOT } from '../../activities/common/tools.ts';
import { WORKFLOWS_ENTRY } from '../../workers/bundle.ts';

const noop = () => {};
// Webpack's progress chatter is noise here; warnings and errors still show.
const logger = {
  trace: noop,
  debug: noop,
  info: noop,
  log: noop,
  warn: (m: string) => console.warn(m),
  error: (m: string) => console.error(m),
};

let dir: string;
let bundle: WorkflowBundleWithSourceMap;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mer-bundle-'));
  // Built fresh (not through workflowBundle()'s disk cache) so the test sees the sources as they are now.
  bundle = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_ENTRY, logger });
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('workflow bundle', () => {
  test('the entry is workflows/index.ts and it bundles for the workflow sandbox', () => {
    assert.match(WORKFLOWS_ENTRY, /[/\\]workflows[/\\]index\.ts$/);
    assert.ok(bundle.code.length > 10_000, 'bundle has code');
    assert.ok(bundle.sourceMap, 'bundle has a source map');
  });

  test('the bundle carries MerPipeline and a child workflow per stage', async () => {
    assert.match(bundle.code, /\bMerPipeline\b/);
    assert.match(bundle.code, /\bAcquireDataset\b/);
    assert.match(bundle.code, /\bSegmentDataset\b/);
    assert.match(bundle.code, /\bExtractDataset\b/);
    assert.match(bundle.code, /\bCompressDataset\b/);
    assert.match(bundle.code, /\bTrainDataset\b/);
    assert.match(bundle.code, /\bEvaluateDataset\b/);
    assert.match(bundle.code, /\bMerSweep\b/);
    // The workflow type names are the exported names: importing the entry (no sandbox needed) shows them.
    const workflows = (await import('../../workflows/index.ts')) as Record<string, unknown>;
    assert.deepEqual(Object.keys(workflows).sort(), [
      'AcquireDataset',
      'CompressDataset',
      'EvaluateDataset',
      'ExtractDataset',
      'MerPipeline',
      'MerSweep',
      'SegmentDataset',
      'TrainDataset',
    ]);
    for (const w of Object.values(workflows)) assert.equal(typeof w, 'function');
  });

  test('a Node-only import in workflow code fails the build instead of failing at run time', async () => {
    const entry = join(dir, 'stray.ts');
    await writeFile(
      entry,
      "import { readFileSync } from 'node:fs';\nexport async function Stray(): Promise<number> {\n  return readFileSync('/etc/hostname').length;\n}\n",
    );
    const errors: string[] = [];
    await assert.rejects(
      bundleWorkflowCode({
        workflowsPath: entry,
        logger: { ...logger, warn: noop, error: (m: string) => errors.push(m) },
        // The entry lives outside the repository; the SDK's own modules must still resolve from here.
        webpackConfigHook: (c) => ({
          ...c,
          resolve: {
            ...c.resolve,
            modules: [...(c.resolve?.modules ?? ['node_modules']), join(REPO_ROOT, 'node_modules')],
          },
        }),
      }),
      /Webpack finished with errors/,
    );
    assert.match(errors.join('\n'), /ERROR in node:fs/);
  });
});
