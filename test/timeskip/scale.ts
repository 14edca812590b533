/**
 * The orchestration at corpus sizes no machine here could run: MerPipeline through all six stages on
 * the time-skipping server with every activity mocked (instant, results of the real shapes and sizes:
 * mock-corpus.ts), measuring what Temporal limits. Used by the 100k guard test (scale.test.ts) and the
 * benchmark (bench/workflow/scale.bench.ts), which runs 10k, 100k and 1M.
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Client, Connection } from '@temporalio/client';
import { Worker } from '@temporalio/worker';
import { pipelineWorkflowId } from '../../cli/run.ts';
import type { DatasetName } from '../../schemas/config.ts';
import { progressQuery } from '../../workflows/progress.ts';
import type { MerPipeline } from '../../workflows/pipeline.ts';
import { chainOf, eventsOf, type HistoryMeasure } from './history-size.ts';
import type { TaskQueues } from './inputs.ts';
import { pipelineInput } from './inputs.ts';
import { MockActivities, type ActivityName } from './mock-activities.ts';

export interface ScaleMeasure {
  utterances: number;
  /** Segment shards of the dataset. */
  shards: number;
  /** Histories measured: the parent and every run of every child (continue-as-new makes a chain). */
  histories: number;
  longest: HistoryMeasure;
  largestBytes: HistoryMeasure;
  largestPayload: HistoryMeasure;
  /** Progress signals the children sent to the parent (they land in its history). */
  parentSignals: number;
  /** The progress query's answer at the end, bytes of JSON. */
  queryBytes: number;
  /** Most activities one workflow had scheduled and not closed at once (Temporal limits it per workflow). */
  pendingActivitiesPeak: number;
  /** Activities the mocks ran, over all types. */
  activities: number;
  wallSeconds: number;
}

const STAGE_CHILDREN = ['acquire', 'segment', 'extract', 'compress', 'train', 'evaluate'] as const;

/**
 * Runs MerPipeline for one dataset of `utterances` (IEMOCAP layout, leave-one-session-out, the paper's
 * modality ablations) and measures every history. A workflow worker must serve `queues.cpu`; this starts
 * the activity workers.
 */
export async function measureScale(
  env: TestWorkflowEnvironment,
  queues: TaskQueues,
  utterances: number,
  dataset: DatasetName = 'iemocap',
): Promise<ScaleMeasure> {
  const t0 = Date.now();
  const mocks = new MockActivities({ [dataset]: { utterances } }, { keepLog: false });
  const input = pipelineInput({
    queues,
    datasets: [dataset],
    train: { ablations: 'modalities' },
    segment: { parallelism: 16 },
  });
  const workers = await Promise.all(
    (['cpu', 'gpu'] as const).map((kind) =>
      Worker.create({
        connection: env.nativeConnection,
        taskQueue: queues[kind],
        activities: mocks.forWorker(`scale/${kind}`),
        maxConcurrentActivityTaskExecutions: 256,
        identity: `scale/${kind}`,
      }),
    ),
  );
  const runs = workers.map((w) => w.run());
  try {
    const handle = await env.client.workflow.start<typeof MerPipeline>('MerPipeline', {
      taskQueue: queues.cpu,
      workflowId: pipelineWorkflowId(input.configHash),
      args: [input],
    });
    await handle.result();
    // The test server returns a whole history in one message whatever the page size: allow big ones.
    const reader = new Client({
      connection: await Connection.connect({
        address: env.address,
        channelArgs: { 'grpc.max_receive_message_length': 256 * 1024 * 1024 },
      }),
      namespace: env.client.options.namespace,
    });
    const queryBytes = Buffer.byteLength(JSON.stringify(await handle.query(progressQuery)));
    const parent = await chainOf(reader, handle.workflowId, handle.firstExecutionRunId);
    const measures: HistoryMeasure[] = [...parent];
    const parentEvents = await eventsOf(reader, handle.workflowId, handle.firstExecutionRunId);
    for (const stage of STAGE_CHILDREN) {
      const id = `${handle.workflowId}/${stage}/${dataset}`;
      const started = parentEvents.find(
        (e) => e.childWorkflowExecutionStartedEventAttributes?.workflowExecution?.workflowId === id,
      );
      const firstRun = started?.childWorkflowExecutionStartedEventAttributes?.workflowExecution?.runId ?? undefined;
      measures.push(...(await chainOf(reader, id, firstRun)));
    }
    const parentSignals = parentEvents.filter((e) => e.workflowExecutionSignaledEventAttributes).length;
    const max = (f: (m: HistoryMeasure) => number) => measures.reduce((a, b) => (f(b) > f(a) ? b : a));
    let activities = 0;
    for (const name of Object.keys(mocks.forWorker('count')) as ActivityName[]) activities += mocks.stats(name).calls;
    return {
      utterances,
      shards: mocks.stats('segmentShard').calls,
      histories: measures.length,
      longest: max((m) => m.events),
      largestBytes: max((m) => m.bytes),
      largestPayload: max((m) => m.largestPayload),
      parentSignals,
      queryBytes,
      pendingActivitiesPeak: max((m) => m.pendingActivitiesPeak).pendingActivitiesPeak,
      activities,
      wallSeconds: (Date.now() - t0) / 1000,
    };
  } finally {
    for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
    await Promise.allSettled(runs);
  }
}
