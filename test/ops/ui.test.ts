import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { REPO_ROOT } from '../../activities/common/tools.ts';
import { uiListUrl, uiWorkflowUrl } from '../../cli/session.ts';
import { launchChromium } from '../helpers/chromium.ts';
import { attemptInProcess, pipelineInput, runInProcess } from '../helpers/pipeline.ts';
import { pipelineTest } from '../helpers/pipeline-test.ts';

const ARTIFACTS = join(REPO_ROOT, 'artifacts', 'ui');
const fx = pipelineTest({ name: 'ui', seed: 5, iemocap: 'folder', meld: 'archive', ui: true });
let browser: Browser | undefined;

before(async () => {
  await fx.whenReady();
  await mkdir(ARTIFACTS, { recursive: true });
  fx.onTeardown(() => browser?.close());
});

describe('Temporal Web UI', () => {
  test('a run is found by its MerConfigHash search attribute and its page shows the summary', async () => {
    const input = {
      ...(await pipelineInput({
        iemocap: fx.folder('iemocap'),
        store: join(fx.dir, 'store'),
        until: 'acquire',
        taskQueuePrefix: 'ui',
      })),
      name: 'ui-e2e',
    };
    const { result, handle } = await runInProcess(fx.env, input);
    assert.ok(result.datasets.iemocap.rows);
    const runId = (await handle.describe()).runId;

    browser = await launchChromium();
    const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    page.setDefaultTimeout(30_000);

    // The list, filtered by the search attribute as a user types it into the UI's query box.
    const query = `MerConfigHash="${input.configHash}"`;
    await page.goto(uiListUrl(fx.uiUrl, 'default', query), { waitUntil: 'domcontentloaded' });
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
    await page.goto(uiWorkflowUrl(fx.uiUrl, 'default', handle.workflowId, runId), { waitUntil: 'domcontentloaded' });
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
    await page.goto(uiWorkflowUrl(fx.uiUrl, 'default', `${handle.workflowId}/acquire/iemocap`), {
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
      // Runs in the page: the element is a DOM element there (this project compiles without the DOM types).
      .evaluate((el: unknown) =>
        (el as { scrollIntoView(o: { block: string }): void }).scrollIntoView({ block: 'center' }),
      );
    await page.screenshot({ path: join(ARTIFACTS, 'acquire-child-timeline.png') });
  });

  test('a failed run shows the failure naming the archive, and the Failures filter finds it', async () => {
    const truncated = join(fx.dir, 'MELD.Raw.tar.gz');
    const bytes = readFileSync(fx.archive('meld'));
    writeFileSync(truncated, bytes.subarray(0, Math.floor(bytes.length / 2)));
    const input = await pipelineInput({
      meld: truncated,
      store: join(fx.dir, 'store-failed'),
      until: 'acquire',
      taskQueuePrefix: 'ui-fail',
    });
    const { outcome, handle } = await attemptInProcess(fx.env, input, { workers: { queues: ['cpu'] } });
    assert.equal(outcome.ok ? 'completed' : 'failed', 'failed');
    assert.ok(browser, 'the first test launched the browser');
    const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    page.setDefaultTimeout(30_000);
    await page.goto(
      uiListUrl(fx.uiUrl, 'default', `MerConfigHash="${input.configHash}" AND ExecutionStatus="Failed"`),
      {
        waitUntil: 'domcontentloaded',
      },
    );
    await page.getByRole('link', { name: handle.workflowId, exact: true }).first().waitFor({ state: 'visible' });
    await page.goto(uiWorkflowUrl(fx.uiUrl, 'default', handle.workflowId), { waitUntil: 'domcontentloaded' });
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
