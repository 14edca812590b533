import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Browser } from 'playwright-core';
import { REPO_ROOT } from '../../activities/common/tools.ts';
import { buildRunConfig, toPipelineInput } from '../../cli/config.ts';
import { startPipeline, watchPipeline } from '../../cli/run.ts';
import { uiListUrl, uiWorkflowUrl } from '../../cli/session.ts';
import { synthesize } from '../../cli/synth/index.ts';
import { createMerWorkers, runWorkers } from '../../workers/factory.ts';
import { launchChromium } from '../helpers/chromium.ts';
import { inProcessWorkers } from '../helpers/pipeline.ts';
import { startTemporal } from '../helpers/temporal.ts';

async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => res(port));
    });
  });
}

const ARTIFACTS = join(REPO_ROOT, 'artifacts', 'ui');
let env: TestWorkflowEnvironment;
let browser: Browser | undefined;
let dir: string;
let meldArchive: string;
let uiBase: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mer-ui-'));
  const uiPort = await freePort();
  uiBase = `http://127.0.0.1:${uiPort}`;
  const [, m, e] = await Promise.all([
    synthesize({ dataset: 'iemocap', out: join(dir, 'iemocap'), archive: false, seed: 5, scale: 'tiny' }),
    synthesize({ dataset: 'meld', out: join(dir, 'meld'), archive: true, seed: 5, scale: 'tiny' }),
    startTemporal({ ui: true, uiPort }),
  ]);
  meldArchive = m.archive!;
  env = e;
  await mkdir(ARTIFACTS, { recursive: true });
});

after(async () => {
  await browser?.close();
  await env?.teardown();
  await rm(dir, { recursive: true, force: true });
});

describe('Temporal Web UI', () => {
  test('a run is found by its MerConfigHash search attribute and its page shows the summary', async () => {
    const { config, baseDir } = buildRunConfig(undefined, {
      iemocap: join(dir, 'iemocap', 'IEMOCAP_full_release'),
      store: join(dir, 'store'),
      until: 'acquire',
      taskQueuePrefix: 'ui',
    });
    const input = { ...toPipelineInput(config, baseDir, true), name: 'ui-e2e' };
    const workers = await inProcessWorkers(env, input);
    const { handle } = await startPipeline(env.client, input);
    const result = await runWorkers(workers, watchPipeline(handle, { quiet: true, intervalMs: 300 }));
    assert.ok(result?.datasets.iemocap.rows);
    const runId = (await handle.describe()).runId;

    browser = await launchChromium();
    const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    page.setDefaultTimeout(30_000);

    // The list, filtered by the search attribute as a user types it into the UI's query box.
    const query = `MerConfigHash="${input.configHash}"`;
    await page.goto(uiListUrl(uiBase, 'default', query), { waitUntil: 'domcontentloaded' });
    const row = page.getByRole('link', { name: handle.workflowId, exact: true });
    await row.first().waitFor({ state: 'visible' });
    // The child workflow carries the same search attribute, so it is listed beside its parent.
    await page.getByText(`${handle.workflowId}/acquire/iemocap`).first().waitFor({ state: 'visible' });
    const listText = await page.locator('body').innerText();
    assert.match(listText, /MerPipeline/);
    assert.match(listText, /AcquireDataset/);
    assert.doesNotMatch(
      listText,
      new RegExp(`mer-(?!${input.configHash})[0-9a-f]{20}`),
      'only runs of this config are listed',
    );
    await page.screenshot({ path: join(ARTIFACTS, 'workflows-by-config-hash.png'), fullPage: true });

    // The run's page: status, input and result; its User Metadata tab shows the summary and details
    // that `mer run` wrote, each rendered from markdown in its own iframe.
    await page.goto(uiWorkflowUrl(uiBase, 'default', handle.workflowId, runId), { waitUntil: 'domcontentloaded' });
    await page.getByText('MerPipeline', { exact: true }).first().waitFor({ state: 'visible' });
    await page
      .getByText(/^completed$/i)
      .first()
      .waitFor({ state: 'visible' });
    await page.getByText('User Metadata', { exact: true }).first().click();
    const summary = page.frameLocator('iframe#user-metadata-summary');
    const details = page.frameLocator('iframe#user-metadata-details');
    await summary.getByText('ui-e2e: iemocap until acquire', { exact: true }).waitFor({ state: 'visible' });
    await details.getByText('Config hash', { exact: true }).waitFor({ state: 'visible' });
    await details.getByText(input.configHash, { exact: true }).waitFor({ state: 'visible' });
    await page.screenshot({ path: join(ARTIFACTS, 'pipeline-run-summary.png') });

    // The child's timeline names each activity by its summary: plan, extract, parse.
    await page.goto(uiWorkflowUrl(uiBase, 'default', `${handle.workflowId}/acquire/iemocap`), {
      waitUntil: 'domcontentloaded',
    });
    for (const summary of [
      /^planAcquire • plan iemocap acquire from folder IEMOCAP_full_release\/$/,
      /^extractSource • extract folder IEMOCAP_full_release\/ safely into raw\/iemocap\//,
      /^buildManifest • parse iemocap annotations into a 6class manifest$/,
    ]) {
      await page.getByText(summary).first().waitFor({ state: 'visible' });
    }
    await page
      .getByText(/^extractSource • /)
      .first()
      .evaluate((el) => el.scrollIntoView({ block: 'center' }));
    await page.screenshot({ path: join(ARTIFACTS, 'acquire-child-timeline.png') });
  });

  test('a failed run shows the failure naming the archive, and the Failures filter finds it', async () => {
    const truncated = join(dir, 'MELD.Raw.tar.gz');
    const bytes = readFileSync(meldArchive);
    writeFileSync(truncated, bytes.subarray(0, Math.floor(bytes.length / 2)));
    const { config, baseDir } = buildRunConfig(undefined, {
      meld: truncated,
      store: join(dir, 'store-failed'),
      until: 'acquire',
      taskQueuePrefix: 'ui-fail',
    });
    const input = toPipelineInput(config, baseDir, true);
    const workers = await createMerWorkers({
      connection: env.nativeConnection,
      namespace: 'default',
      taskQueues: input.temporal.taskQueues,
      queues: ['cpu'],
      workflows: true,
    });
    const { handle } = await startPipeline(env.client, input);
    const outcome = await runWorkers(workers, watchPipeline(handle, { quiet: true, intervalMs: 300 })).then(
      () => 'completed',
      () => 'failed',
    );
    assert.equal(outcome, 'failed');
    assert.ok(browser, 'the first test launched the browser');
    const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    page.setDefaultTimeout(30_000);
    await page.goto(uiListUrl(uiBase, 'default', `MerConfigHash="${input.configHash}" AND ExecutionStatus="Failed"`), {
      waitUntil: 'domcontentloaded',
    });
    await page.getByRole('link', { name: handle.workflowId, exact: true }).first().waitFor({ state: 'visible' });
    await page.goto(uiWorkflowUrl(uiBase, 'default', handle.workflowId), { waitUntil: 'domcontentloaded' });
    await page
      .getByText(/^failed$/i)
      .first()
      .waitFor({ state: 'visible' });
    // The pipeline's failure carries the innermost message: the archive and what is wrong with it.
    await page
      .getByText(/MELD\.Raw\.tar\.gz/)
      .first()
      .waitFor({ state: 'visible' });
    const text = await page.locator('body').innerText();
    assert.match(text, /pipeline [0-9a-f]+ failed: .*MELD\.Raw\.tar\.gz/);
    await page.screenshot({ path: join(ARTIFACTS, 'failed-run.png') });
    await page.close();
  });
});
