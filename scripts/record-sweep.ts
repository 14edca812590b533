// Companion of scripts/record-histories.ts (`--sweep`): records a MerSweep history, and writes every
// history file with its index.json entry.
// The sweep is the smallest one that goes through every path of the workflow: a list of two train.lr
// settings on the tiny iemocap corpus, one preparing run, the settings one after the other (so the
// history's order does not depend on timing), until train (the least a sweep must reach), then the
// report activity. Only the parent's history is recorded: its children are ordinary MerPipeline runs,
// recorded by the pipeline labels.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { requireTemporalCli } from '../activities/common/tools.ts';
import { buildSweep } from '../cli/sweep/settings.ts';
import type { SweepInput } from '../schemas/sweep.ts';
import { archiveOf, synthCorpora } from '../test/helpers/corpus.ts';
import { createMerWorkers, runWorkers } from '../workers/factory.ts';
import { MerSweep, sweepWorkflowId } from '../workflows/sweep.ts';

const HISTORIES = join('test', 'fixtures', 'histories');

/** Writes workflow `id`'s history as `test/fixtures/histories/<file>` and its id into index.json. */
export async function writeHistory(address: string, id: string, file: string): Promise<void> {
  // The CLI writes the standard proto-JSON history format that the replayer and the UI read.
  const json = execFileSync(
    requireTemporalCli(),
    ['workflow', 'show', '-w', id, '--address', address, '--output', 'json'],
    {
      maxBuffer: 64 << 20,
    },
  );
  await writeFile(join(HISTORIES, file), json);
  // Replay needs each history's original workflow id (child ids derive from it).
  const indexFile = join(HISTORIES, 'index.json');
  const index = JSON.parse(await readFile(indexFile, 'utf8').catch(() => '{}')) as Record<string, string>;
  index[file] = id;
  await writeFile(indexFile, JSON.stringify(index, null, 2) + '\n');
  const events = (JSON.parse(json.toString()) as { events: unknown[] }).events.length;
  console.log(`wrote ${join(HISTORIES, file)} (${events} events, ${json.length} bytes)`);
}

/** Runs the two-setting sweep as `mer sweep` would start it, served here, and records `<label>-sweep.json`. */
export async function recordSweep(env: TestWorkflowEnvironment, dir: string, label: string): Promise<void> {
  const corpora = await synthCorpora(dir, { seed: 11, iemocap: 'archive' });
  const models = fileURLToPath(new URL('../test/fixtures/models/', import.meta.url));
  const file = join(dir, 'sweep.json');
  await writeFile(
    file,
    JSON.stringify({
      segment: { frames: 4 },
      extract: {
        text: { model: join(models, 'tiny-bert') },
        audio: { model: join(models, 'tiny-wav2vec2') },
        visual: { model: join(models, 'tiny-swin') },
      },
      train: {
        maxEpochs: 2,
        patience: 2,
        batchSize: 8,
        checkpointEverySteps: 2,
        splits: { iemocap: { protocol: 's5', s5ValidationDialogues: 1 } },
      },
      sweep: { list: [{ 'train.lr': 0.001 }, { 'train.lr': 0.003 }], parallelism: 1 },
    }),
  );
  const plan = buildSweep(file, {
    iemocap: archiveOf(corpora, 'iemocap'),
    store: join(dir, 'store'),
    until: 'train',
    taskQueuePrefix: 'record',
  });
  // The dev server of test/helpers/temporal.ts registers the search attributes.
  const settings = plan.settings.map((s) => ({ ...s, input: { ...s.input, searchAttributes: true } }));
  const input: SweepInput = {
    ...plan,
    settings,
    prepare: plan.prepare.map((p) => ({ ...p, searchAttributes: true })),
    parallelism: 1,
    temporal: settings[0].input.temporal,
    searchAttributes: true,
  };
  const workflowId = sweepWorkflowId(plan.sweepKey);
  const workers = await createMerWorkers({
    connection: env.nativeConnection,
    namespace: 'default',
    taskQueues: input.temporal.taskQueues,
    queues: ['cpu', 'gpu'],
    workflows: true,
  });
  const handle = await env.client.workflow.start(MerSweep, {
    taskQueue: input.temporal.taskQueues.cpu,
    workflowId,
    args: [input],
    staticSummary: `${label}: ${input.settings.length} settings over ${input.keys.join(', ')}`,
    memo: { sweepKey: input.sweepKey, keys: input.keys, settings: input.settings.length },
  });
  const result = (await runWorkers(workers, handle.result()))!;
  const failed = result.settings.filter((s) => s.status !== 'completed');
  if (failed.length) throw new Error(`sweep settings did not complete: ${JSON.stringify(failed)}`);
  await writeHistory(env.address, workflowId, `${label}-sweep.json`);
}
