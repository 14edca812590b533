// Records workflow histories of the current workflow code as JSON fixtures for the replay test
// (test/workflow/replay.test.ts). Run it when a workflow version ships:
//   node --import tsx scripts/record-histories.ts <label> [--until acquire|segment|extract|compress|train|evaluate] [--children stage,stage]
// e.g. `acquire-v1` (acquire only, the default), `segment-v1 --until segment`, `extract-v1 --until extract`
// (extract runs the tiny encoders of test/fixtures/models/), `train-v1 --until train --children compress,train`
// (the pipeline's history plus the compress and train children; two short epochs per fold),
// `evaluate-v1 --until evaluate --children evaluate`.
// Committed histories must keep replaying: a workflow change that breaks one needs `patched()`.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { requireTemporalCli } from '../activities/common/tools.ts';
import { buildRunConfig, toPipelineInput } from '../cli/config.ts';
import { archiveOf, synthCorpora } from '../test/helpers/corpus.ts';
import { startArchiveServer } from '../test/helpers/http-server.ts';
import { startInProcess } from '../test/helpers/pipeline.ts';
import { startTemporal } from '../test/helpers/temporal.ts';

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: { until: { type: 'string', default: 'acquire' }, children: { type: 'string' } },
});
const label = positionals[0] ?? 'v1';
const until = values.until;
const dir = await mkdtemp(join(tmpdir(), 'mer-record-'));
const env = await startTemporal();
try {
  const corpora = await synthCorpora(dir, { seed: 11, iemocap: 'archive', meld: 'archive' });
  const http = await startArchiveServer([archiveOf(corpora, 'meld')]);
  const { config, baseDir } = buildRunConfig(undefined, {
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
  const indexFile = join('test', 'fixtures', 'histories', 'index.json');
  const index = JSON.parse(await readFile(indexFile, 'utf8').catch(() => '{}')) as Record<string, string>;
  const only = values.children?.split(',');
  const children = input.stages
    .filter((s) => !only || only.includes(s))
    .flatMap((stage) => input.datasets.map((d) => `${handle.workflowId}/${stage}/${d.dataset}`));
  for (const id of [handle.workflowId, ...children]) {
    // The CLI writes the standard proto-JSON history format that the replayer and the UI read.
    const json = execFileSync(
      requireTemporalCli(),
      ['workflow', 'show', '-w', id, '--address', env.address, '--output', 'json'],
      { maxBuffer: 64 << 20 },
    );
    const type = id === handle.workflowId ? 'pipeline' : id.slice(handle.workflowId.length + 1).replace('/', '-');
    const file = join('test', 'fixtures', 'histories', `${label}-${type}.json`);
    await writeFile(file, json);
    index[`${label}-${type}.json`] = id;
    console.log(`wrote ${file} (${(JSON.parse(json.toString()) as { events: unknown[] }).events.length} events)`);
  }
  // Replay needs each history's original workflow id (child ids derive from it).
  await writeFile(indexFile, JSON.stringify(index, null, 2) + '\n');
} finally {
  await env.teardown();
  await rm(dir, { recursive: true, force: true });
}
