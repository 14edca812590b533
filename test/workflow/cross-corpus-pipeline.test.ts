/**
 * `evaluate.crossCorpus: true` through MerPipeline on the real Temporal server: both tiny cue corpora
 * (IEMOCAP and MELD layouts) acquired, cut, encoded with the tiny encoders, compressed, trained (the
 * full model, two epochs) and evaluated, then the cross-corpus activity tests each dataset's models on
 * the other's cached features. It writes its report under its content address (its reuse on a rerun:
 * test/evaluate/cross-corpus.test.ts, which also checks the figures themselves). A second run changing
 * only train.lr reuses the features, and `mer compare` on the two runs names exactly that parameter.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { describe, test } from 'node:test';
import { LocalStore } from '../../activities/store/local.ts';
import { fetchCrossCorpus } from '../../cli/report.ts';
import { pipelineWorkflowId } from '../../cli/run.ts';
import { ComparisonSchema } from '../../schemas/compare.ts';
import type { PipelineInput } from '../../schemas/config.ts';
import { CrossCorpusReportSchema } from '../../schemas/cross-corpus.ts';
import { crossCorpusKeys } from '../../schemas/layout.ts';
import { TINY } from '../extract/inputs.ts';
import { clusterEnv, runMer } from '../helpers/cli.ts';
import { pipelineInput, runInProcess } from '../helpers/pipeline.ts';
import { pipelineTest } from '../helpers/pipeline-test.ts';

const fx = pipelineTest({ name: 'cross-wf', seed: 4, cue: true, iemocap: 'folder', meld: 'folder' });

/** Both corpora through evaluate with cross-corpus testing; `lr` is what a second run changes. */
function runInput(lr: number): Promise<PipelineInput> {
  const rel = (p: string) => relative(fx.dir, p);
  return pipelineInput(
    {
      iemocap: fx.folder('iemocap'),
      meld: fx.folder('meld'),
      store: join(fx.dir, 'store'),
      until: 'evaluate',
      taskQueuePrefix: 'cross-wf',
    },
    {
      file: join(fx.dir, `mer-${lr}.json`),
      config: {
        datasets: { iemocap: { source: fx.folder('iemocap'), labels: '4class' }, meld: { source: fx.folder('meld') } },
        segment: { frames: 4, shardSize: 64, parallelism: 2 },
        extract: {
          text: { model: rel(TINY.text) },
          audio: { model: rel(TINY.audio) },
          visual: { model: rel(TINY.visual) },
        },
        train: {
          lr,
          maxEpochs: 2,
          patience: 2,
          batchSize: 16,
          checkpointEverySteps: 0,
          splits: { iemocap: { protocol: 's5' }, meld: { protocol: 'official' } },
        },
        evaluate: { crossCorpus: true },
      },
    },
  );
}

describe('MerPipeline with evaluate.crossCorpus', () => {
  test("both corpora's models tested on each other's test split, from the cached features", async () => {
    await fx.whenReady();
    const storeRoot = join(fx.dir, 'store');
    const input = await runInput(0.001);
    assert.deepEqual(input.evaluate, { crossCorpus: true });
    const { result } = await runInProcess(fx.env, input);
    const cross = result.crossCorpus;
    assert.ok(cross, 'the run reports its cross-corpus evaluation');
    assert.equal(cross.ran, true);
    assert.equal(cross.prefix, crossCorpusKeys(cross.key).prefix);
    const store = new LocalStore(storeRoot);
    assert.ok(await store.committed(cross.prefix));
    const report = CrossCorpusReportSchema.parse(JSON.parse((await store.get(cross.reportKey)).toString('utf8')));
    assert.deepEqual(
      report.directions.map((d) => [d.source, d.target]),
      [
        ['iemocap', 'meld'],
        ['meld', 'iemocap'],
      ],
    );
    for (const d of report.directions) {
      assert.ok(d.targetUtterances > 0, `${d.source} -> ${d.target}: utterances in a shared class`);
      const v = d.variants[0];
      assert.equal(v.folds.length, result.trained![d.source].folds.length);
      for (const f of v.folds) assert.equal(f.crossCorpus.n, d.targetUtterances);
      assert.ok(Math.abs(v.drop.accuracy - (v.inCorpus.accuracy - v.crossCorpus.accuracy)) < 1e-12);
    }
    const html = (await store.get(cross.htmlKey)).toString('utf8');
    assert.match(html, /4class: neu -&gt; neutral, hap -&gt; happy, sad -&gt; sad, ang -&gt; angry/);
    // `mer report` fetches it beside the dataset folders.
    const fetched = await fetchCrossCorpus(fx.env.client, input.configHash, join(fx.dir, 'report'));
    assert.ok(fetched);
    assert.equal(fetched.files, 3);
    assert.deepEqual(CrossCorpusReportSchema.parse(JSON.parse(await readFile(fetched.report, 'utf8'))), report);

    // A second run that changes only train.lr: nothing is extracted again (features reused), its models
    // get their own cross-corpus report, and `mer compare` on the two runs names exactly that parameter
    // and gives each dataset's metric difference with its paired test.
    const second = await runInProcess(fx.env, await runInput(0.01));
    for (const d of ['iemocap', 'meld']) assert.equal(second.result.features![d].ran, false, `${d}: features reused`);
    assert.notEqual(second.result.crossCorpus?.key, cross.key);
    const cmp = await runMer(
      [
        'compare',
        input.configHash,
        pipelineWorkflowId(second.result.configHash),
        '--json',
        '--rounds',
        '1000',
        '--reports',
        join(fx.dir, 'fetched'),
      ],
      { env: clusterEnv(fx.env.address) },
    );
    assert.equal(cmp.code, 0, cmp.stderr);
    const c = ComparisonSchema.parse(JSON.parse(cmp.stdout));
    assert.deepEqual(
      c.entries.map((e) => [e.id, e.kind, e.dataset]),
      [
        ['A', 'run', 'iemocap'],
        ['B', 'run', 'meld'],
        ['C', 'run', 'iemocap'],
        ['D', 'run', 'meld'],
      ],
    );
    for (const p of c.provenance)
      assert.deepEqual(
        p.differences,
        [{ path: 'config.train.lr', a: '0.001', b: '0.01' }],
        `${p.dataset}: only train.lr`,
      );
    assert.deepEqual(
      c.pairs.map((p) => [p.dataset, p.a, p.b, p.coincide]),
      [
        ['iemocap', 'A', 'C', true],
        ['meld', 'B', 'D', true],
      ],
    );
    for (const p of c.pairs)
      assert.deepEqual(
        p.tests?.map((t) => t.metric),
        ['accuracy', 'weightedF1'],
      );
  });
});
