import { TestWorkflowEnvironment } from '@temporalio/testing';
import { requireTemporalCli } from '../../activities/common/tools.ts';
import { MER_SEARCH_ATTRIBUTES } from '../../workflows/search-attributes.ts';
import { installRuntime } from '../../workers/runtime.ts';

/**
 * The real Temporal dev server (the pinned `temporal` CLI), started by @temporalio/testing from the
 * existing binary: never a download, never a mock. One per test file; files run one at a time.
 */
export async function startTemporal(
  opts: { dbFilename?: string; port?: number; ui?: boolean; uiPort?: number } = {},
): Promise<TestWorkflowEnvironment> {
  // Failure tests make workers log expected activity/workflow failures at WARN; keep the output readable.
  installRuntime((process.env.MER_LOG_LEVEL as 'ERROR' | undefined) ?? 'ERROR');
  return TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path: requireTemporalCli() },
      ip: '127.0.0.1',
      searchAttributes: MER_SEARCH_ATTRIBUTES,
      ...(opts.dbFilename ? { dbFilename: opts.dbFilename } : {}),
      ...(opts.port ? { port: opts.port } : {}),
      ...(opts.ui ? { ui: true, uiPort: opts.uiPort } : {}),
      extraArgs: ['--log-level', 'error'],
    },
  });
}
