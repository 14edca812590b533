// Records workflow histories of the current workflow code as JSON fixtures for the replay test
// (test/workflow/replay.test.ts). Run it when a workflow version ships:
//   node --import tsx scripts/record-histories.ts <label> [--until acquire|segment|extract|compress|train|evaluate] [--children stage,stage]
// e.g. `acquire-v1` (acquire only, the default), `segment-v1 --until segment`, `extract-v1 --until extract`
// (extract runs the tiny encoders of test/fixtures/models/), `train-v1 --until train --children compress,train`
// (the pipeline's history plus the compress and train children; two short epochs per fold),
// `evaluate-v1 --until evaluate --children evaluate`.
// `--config FILE` adds a run config file under the flags: `experiments-v1 --until evaluate --children train,evaluate
// --config scripts/record-experiments-v1.json` (train.seeds 2, one s5 fold, evaluate.crossCorpus: the paths behind
// the `train-seeds` and `mer-cross-corpus` patches).
// `--sweep` records a MerSweep instead (`sweep-v1 --sweep`, file `<label>-sweep.json`): two settings of train.lr
// on the iemocap corpus, through train, one after the other (scripts/record-sweep.ts).
// Committed histories must keep replaying: a workflow change that breaks one needs `patched()`.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { buildRunConfig, toPipelineInput } from '../cli/config.ts';
import { archiveOf, synthCorpora } from '../test/helpers/corpus.ts';
import { startArchiveServer } from '../test/helpers/http-server.ts';
import { startInProcess } from '../test/helpers/pipeline.ts';
import { startTemporal } from '../test/helpers/temporal.ts';
import { recordSweep, writeHistory } from './record-sweep.ts';

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    until: { type: 'string', default: 'acquire' },
    children: { type: 'string' },
    config: { type: 'string' },
    sweep: { type: 'boolean', default: false },
  },
});
const label = positionals[0] ?? 'v1';
const until = values.until;
/** The pipeline run of the flags (and `--config`), its history and those of the chosen children. */
async function recordPipeline(env: TestWorkflowEnvironment, dir: string): Promise<void> {
  const corpora = await synthCorpora(dir, { seed: 11, iemocap: 'archive', meld: 'archive' });
  const http = await startArchiveServer([archiveOf(corpora, 'meld')]);
  const { config, baseDir } = buildRunConfig(values.config, {
    iemocap: archiveOf(corpora, 'iemocap'),
    meld: http.urlOf(archiveOf(corpora, 'meld')),
    store: join(dir, 'store'),
    until,
    chunkMiB: 0.5,
    taskQueuePrefix: 'record',
  });
  if (['extract', 'compress', 'train', 'evaluate'].includes(until)) {
    const models = fileURLToPath(new URL('../test/fixtures/models/', import.meta.url));
    config.extract.text.model = join(models, 'tiny-bert');
    config.extract.audio.model = join(models, 'tiny-wav2vec2');
    config.extract.visual.model = join(models, 'tiny-swin');
  }
  config.train = { ...config.train, maxEpochs: 2, batchSize: 8, checkpointEverySteps: 2 };
  const base = toPipelineInput(config, baseDir, true);
  // Shards of 16, two in flight: the tiny corpora then fan out over several shard activities at once,
  // which is what the recorded segment histories are for (the config minimum of 64 would give one).
  const input = base.segment ? { ...base, segment: { ...base.segment, shardSize: 16, parallelism: 2 } } : base;
  const { handle, done } = await startInProcess(env, input);
  await done;
  await http.close();
  const only = values.children?.split(',');
  const children = input.stages
    .filter((s) => !only || only.includes(s))
    .flatMap((stage) => input.datasets.map((d) => `${handle.workflowId}/${stage}/${d.dataset}`));
  for (const id of [handle.workflowId, ...children]) {
    const type = id === handle.workflowId ? 'pipeline' : id.slice(handle.workflowId.length + 1).replace('/', '-');
    await writeHistory(env.address, id, `${label}-${type}.json`);
  }
}

const dir = await mkdtemp(join(tmpdir(), 'mer-record-'));
const env = await startTemporal();
try {
  if (values.sweep) await recordSweep(env, dir, label);
  else await recordPipeline(env, dir);
} finally {
  await env.teardown();
  await rm(dir, { recursive: true, force: true });
}
