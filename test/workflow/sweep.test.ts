import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, test } from 'node:test';
import { LocalStore } from '../../activities/store/local.ts';
import { buildSweep } from '../../cli/sweep/settings.ts';
import type { PipelineResult } from '../../schemas/config.ts';
import { SweepReportSchema, type SweepProgress } from '../../schemas/sweep.ts';
import { createMerWorkers, runWorkers } from '../../workers/factory.ts';
import { MerPipeline } from '../../workflows/pipeline.ts';
import { MerSweep, settingWorkflowId, sweepProgressQuery, sweepWorkflowId } from '../../workflows/sweep.ts';
import { launchChromium } from '../helpers/chromium.ts';
import { clusterEnv, runMer } from '../helpers/cli.ts';
import { installInferenceLog, readInferenceLog } from '../helpers/inference-log.ts';
import { TINY_ENCODERS } from '../helpers/pipeline.ts';
import { pipelineTest } from '../helpers/pipeline-test.ts';

/**
 * A 2x2 sweep (train.lr x train.contrastiveWeight) on the tiny cue corpus, started by `mer sweep` on the
 * real Temporal server: one parent, four MerPipeline children side by side (two at a time) after one
 * preparing run.
 * Every feature is computed once for all four settings (encoder runs counted), the chosen setting is
 * the best on validation, and the report page renders in Chromium.
 */

const fx = pipelineTest({ name: 'sweep-wf', seed: 4, cue: true, iemocap: 'archive' });
const ARTIFACTS = fileURLToPath(new URL('../../artifacts/sweep/', import.meta.url));

describe('MerSweep on the cue corpus', () => {
  test('a 2x2 sweep extracts every feature once, picks its setting on validation and renders its report', async () => {
    await fx.whenReady();
    const storeRoot = join(fx.dir, 'store');
    const file = join(fx.dir, 'sweep.json');
    await writeFile(
      file,
      JSON.stringify({
        datasets: { iemocap: { source: fx.archive('iemocap') } },
        store: { kind: 'local', root: storeRoot },
        segment: { frames: 4, shardSize: 64, parallelism: 2 },
        extract: TINY_ENCODERS,
        train: {
          maxEpochs: 2,
          patience: 2,
          batchSize: 16,
          checkpointEverySteps: 0,
          splits: { iemocap: { protocol: 's5', s5ValidationDialogues: 1 } },
        },
        sweep: { grid: { 'train.lr': [0.001, 0.003], 'train.contrastiveWeight': [0, 0.5] }, parallelism: 2 },
      }),
    );
    const plan = buildSweep(file);
    assert.equal(plan.prepare.length, 1);
    const { client } = fx.env;
    const workflowId = sweepWorkflowId(plan.sweepKey);
    fx.onTeardown(async () => {
      await client.workflow
        .getHandle(workflowId)
        .terminate()
        .catch(() => {});
    });

    // `mer sweep --no-wait` starts it; the workers run here, every encoder call of this process logged.
    const started = await runMer(['sweep', file, '--no-wait'], { env: clusterEnv(fx.env.address) });
    assert.equal(started.code, 0, started.stderr);
    assert.equal(started.stdout.trim(), workflowId);
    const log = join(fx.dir, 'inference.log');
    const undo = installInferenceLog(log);
    fx.onTeardown(undo);
    const workers = await createMerWorkers({
      connection: fx.env.nativeConnection,
      namespace: 'default',
      taskQueues: plan.temporal.taskQueues,
      queues: ['cpu', 'gpu'],
      workflows: true,
    });
    const handle = client.workflow.getHandle<typeof MerSweep>(workflowId);
    // Progress while it runs: every setting listed with its state, as `mer status` shows it.
    const seen: SweepProgress[] = [];
    let done = false;
    const poll = (async () => {
      while (!done) {
        await handle.query(sweepProgressQuery).then(
          (p) => seen.push(p),
          () => {},
        );
        await new Promise((r) => setTimeout(r, 500));
      }
    })();
    const result = (await runWorkers(
      workers,
      handle.result().finally(() => (done = true)),
    ))!;
    await poll;
    // Small history: children return keys and summaries, the report activity gets scores only.
    const history = JSON.stringify(await handle.fetchHistory());
    assert.ok(history.length < 256 * 1024, `history ${history.length} bytes`);
    assert.ok(seen.length > 0);
    for (const p of seen)
      assert.deepEqual(
        p.settings.map((x) => x.label),
        plan.settings.map((x) => x.label),
      );
    assert.ok(
      seen.some((p) => p.settings.some((x) => x.status === 'running')),
      'a setting seen running',
    );
    assert.deepEqual(
      result.settings.map((x) => [x.label, x.status]),
      plan.settings.map((x) => [x.label, 'completed']),
    );

    // `mer status mer-sweep-<key>` once the workers are gone: from the sweep's result.
    const st = await runMer(['status', workflowId], { env: clusterEnv(fx.env.address) });
    assert.equal(st.code, 0, st.stderr);
    assert.match(st.stdout, new RegExp(`${workflowId}: completed \\(4 completed\\)`));
    for (const x of plan.settings) assert.ok(st.stdout.includes(`completed ${x.label}`), x.label);
    assert.ok(st.stdout.includes(result.htmlKey));

    // Every feature reused: one encoder pass over the corpus per modality, whatever the setting.
    const children: PipelineResult[] = await Promise.all(
      plan.settings.map((s) =>
        client.workflow.getHandle<typeof MerPipeline>(settingWorkflowId(workflowId, s.index)).result(),
      ),
    );
    const inference = readInferenceLog(log);
    for (const c of children) {
      const f = c.features!.iemocap;
      assert.equal(f.ran, false, 'a setting extracts nothing: the preparing run did');
      assert.equal(c.compressed!.iemocap.ran, false);
      assert.equal(c.trained!.iemocap.ran, true, 'each setting trains its own models');
    }
    const features = children[0].features!.iemocap.modalities;
    for (const m of ['text', 'audio'] as const) {
      assert.equal(inference[m].items, features[m].rows, `${m}: each utterance encoded once`);
    }
    assert.equal(inference.visual.items, children[0].segments!.iemocap.frames, 'visual: each frame encoded once');
    assert.equal(
      new Set(children.flatMap((c) => c.trained!.iemocap.runs.map((r) => r.trainKey))).size,
      4,
      'four settings, four trainings',
    );

    // Selection on validation: the chosen setting has the best mean validation weighted F1.
    const store = new LocalStore(storeRoot);
    const report = SweepReportSchema.parse(JSON.parse((await store.get(result.jsonKey)).toString('utf8')));
    assert.ok(await store.committed(result.prefix));
    const [d] = report.datasets;
    const validation = children.map((c) => {
      const runs = c.trained!.iemocap.runs.filter((r) => r.variant === c.trained!.iemocap.variants[0]);
      return runs.reduce((s, r) => s + r.validation!.weightedF1, 0) / runs.length;
    });
    const best = validation.indexOf(Math.max(...validation));
    assert.equal(d.chosen?.index, best, `validation ${validation.join(', ')}`);
    assert.equal(result.chosen.iemocap?.index, best);
    assert.equal(d.intervalOver, 'folds');
    assert.equal(d.optimistic, false);
    for (const s of d.settings) {
      if (s.index === best) assert.equal(s.testNotForSelection, undefined);
      else assert.ok(s.testNotForSelection, `setting ${s.index + 1}: test metrics kept, not for selection`);
    }

    // The page in headless Chromium: both charts per key and the heat map drawn, nothing loaded.
    const html = join(fx.dir, 'sweep.html');
    await writeFile(html, await store.get(result.htmlKey));
    const browser = await launchChromium();
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      const requests: string[] = [];
      page.on('request', (r) => requests.push(r.url()));
      const url = pathToFileURL(html).href;
      await page.goto(url, { waitUntil: 'load' });
      for (const [id, kind] of [
        ['metric-iemocap-1', 'sweep-metric'],
        ['metric-iemocap-2', 'sweep-metric'],
        ['heatmap-iemocap', 'sweep-heatmap'],
      ]) {
        const svg = page.locator(`figure#${id} svg[data-chart="${kind}"]`);
        assert.equal(await svg.count(), 1, id);
        assert.ok(await svg.isVisible(), `${id}: visible`);
        const box = await svg.boundingBox();
        assert.ok(box && box.width > 200 && box.height > 150, `${id}: ${JSON.stringify(box)}`);
      }
      const text = await page.locator('main').innerText();
      assert.match(text, new RegExp(`Chosen: setting ${best + 1}`));
      assert.match(text, /NOT FOR SELECTION/);
      await mkdir(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: join(ARTIFACTS, 'sweep-report.png'), fullPage: true });
      assert.deepEqual(requests, [url], 'the page loads nothing but itself');
    } finally {
      await browser.close();
    }
  });
});
