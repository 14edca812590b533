import type { PipelineInput, PipelineResult } from '../schemas/config.ts';
import { buildRunConfig, sealUrlSecrets, toPipelineInput } from './config.ts';
import { hasSearchAttributes, startPipeline } from './run.ts';
import { describeStore, openSession, printResult, uiWorkflowUrl, waitForRun } from './session.ts';

export interface RunFlags {
  config?: string;
  until?: string;
  iemocap?: string;
  meld?: string | boolean;
  iemocapSha256?: string;
  meldSha256?: string;
  labels?: string;
  store?: string;
  s3Endpoint?: string;
  chunkMib?: number;
  heartbeatTimeout?: number;
  workers?: boolean;
  json?: boolean;
  wait?: boolean;
  concurrency?: number;
  models?: string;
  protocol?: string;
  preset?: string;
  ablations?: string;
  epochs?: number;
}

/**
 * `mer run`: embedded default (no TEMPORAL_ADDRESS) starts or reuses the local dev server and runs
 * workers for both task queues in this process; with TEMPORAL_ADDRESS it talks to that cluster and
 * leaves the work to `mer worker` fleets unless --workers is given.
 */
export async function executeRun(
  o: RunFlags,
): Promise<{ result: PipelineResult; input: PipelineInput; workflowId: string } | undefined> {
  const { config, baseDir } = buildRunConfig(o.config, {
    until: o.until,
    iemocap: o.iemocap,
    meld: o.meld,
    iemocapSha256: o.iemocapSha256,
    meldSha256: o.meldSha256,
    labels: o.labels,
    store: o.store,
    s3Endpoint: o.s3Endpoint,
    chunkMiB: o.chunkMib,
    heartbeatTimeoutSec: o.heartbeatTimeout,
    models: o.models,
    protocol: o.protocol,
    preset: o.preset,
    ablations: o.ablations,
    epochs: o.epochs,
  });
  // Stages and sources are checked before any server is started or dialled: a typo must not cost a
  // dev-server start (or hang on an unreachable cluster) before it is reported.
  const checked = toPipelineInput(config, baseDir, false);
  const log = (m: string) => {
    if (!o.json) console.error(m);
  };
  const session = await openSession({ startDevServer: true, log });
  const { client, namespace } = session;
  let result: PipelineResult;
  let workflowId: string;
  let input: PipelineInput;
  try {
    input = await sealUrlSecrets({ ...checked, searchAttributes: await hasSearchAttributes(client, namespace) });
    const { handle, attached } = await startPipeline(client, input);
    workflowId = handle.workflowId;
    log(
      `${attached ? 'attached to running' : 'started'} ${handle.workflowId} (${input.stages.join(' → ')}; store ${describeStore(input.store)})`,
    );
    const ui = session.uiBase ? uiWorkflowUrl(session.uiBase, namespace, handle.workflowId) : undefined;
    if (ui) log(`Temporal UI: ${ui}`);
    if (o.json && o.wait !== false)
      process.stderr.write(
        `${JSON.stringify({ event: 'started', workflowId: handle.workflowId, attached, ui: ui ?? null })}\n`,
      );
    if (o.wait === false) {
      console.log(handle.workflowId);
      if (session.stopServer)
        log(
          'note: the SDK-downloaded dev server stops with this command; install the Temporal CLI for a persistent one',
        );
      return undefined;
    }
    result = await waitForRun(session, handle, input, {
      workers: o.workers ?? !session.cluster,
      json: o.json ?? false,
      concurrency: o.concurrency,
    });
  } finally {
    await session.close();
  }
  printResult(result, o.json ?? false);
  return { result, input, workflowId };
}
