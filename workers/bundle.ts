import { createHash } from 'node:crypto';
import { mkdir, readFile, readdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { bundleWorkflowCode, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { REPO_ROOT, merHome } from '../activities/common/tools.ts';

export const WORKFLOWS_ENTRY = join(REPO_ROOT, 'workflows', 'index.ts');

let inProcess: Promise<WorkflowBundleWithSourceMap> | undefined;

/**
 * The workflow bundle (webpack, a few seconds), built once per process and cached on disk keyed by
 * the hash of the workflow sources, so `mer run` and workers start fast after the first time.
 */
export function workflowBundle(): Promise<WorkflowBundleWithSourceMap> {
  inProcess ??= loadOrBuild();
  return inProcess;
}

async function sourceHash(): Promise<string> {
  const h = createHash('sha256');
  for (const dir of ['workflows', 'schemas']) {
    const names = (await readdir(join(REPO_ROOT, dir))).filter((n) => n.endsWith('.ts')).sort();
    for (const n of names) h.update(n).update(await readFile(join(REPO_ROOT, dir, n)));
  }
  const sdk = JSON.parse(
    await readFile(join(REPO_ROOT, 'node_modules', '@temporalio', 'workflow', 'package.json'), 'utf8'),
  ) as { version: string };
  h.update(sdk.version);
  return h.digest('hex').slice(0, 16);
}

async function loadOrBuild(): Promise<WorkflowBundleWithSourceMap> {
  const dir = join(merHome(), 'cache', 'workflow-bundles');
  const file = join(dir, `${await sourceHash()}.json`);
  try {
    return JSON.parse(await readFile(file, 'utf8')) as WorkflowBundleWithSourceMap;
  } catch {
    // not cached yet
  }
  const bundle = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_ENTRY, logger: quietLogger });
  await mkdir(dir, { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(bundle));
  await rename(tmp, file);
  return bundle;
}

const noop = () => {};
const quietLogger = {
  trace: noop,
  debug: noop,
  info: noop,
  warn: (m: string) => console.warn(m),
  error: (m: string) => console.error(m),
  log: noop,
};
