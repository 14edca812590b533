import { spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { Client } from '@temporalio/client';
import { createStore } from '../activities/store/index.ts';
import type { DatasetEvaluateResult, PipelineResult } from '../schemas/config.ts';
import { COMMIT_MARKER, crossCorpusKeys, reportKeys } from '../schemas/layout.ts';
import { ReportRunSchema, readMetricsReport, type ReportRun } from '../schemas/report.ts';
import { evaluateWorkflowId, type EvaluateDataset } from '../workflows/evaluate.ts';
import { formatDuration } from './progress-rate.ts';
import { decodePayload, describeRun, fetchEvents, inputFromHistory } from './run-history.ts';

export interface FetchedReport {
  dataset: string;
  evalKey: string;
  /** Local paths of the fetched files. */
  dir: string;
  html: string;
  markdown: string;
  metrics: string;
  files: number;
  headline: DatasetEvaluateResult['headline'];
  /**
   * This run's side of the report (config hash, whether it wrote or reused it, stage timings), also
   * written as `run.json` beside the report; null when the store has none for this run.
   */
  run: ReportRun | null;
}

/**
 * The evaluation reports of a run: the run's result names them (`reports/<evalKey>/`); an unfinished
 * or failed run still has the reports its evaluate children committed. Every object under each
 * report prefix is copied from the run's store to `<out>/<dataset>/`.
 */
export async function fetchReports(
  client: Client,
  run: string,
  out: string | undefined,
  runId?: string,
): Promise<FetchedReport[]> {
  const ref = await describeRun(client, run, runId);
  const events = await fetchEvents(client, ref.workflowId, ref.runId);
  const input = inputFromHistory(events);
  const completed = events.find(
    (e) => e.workflowExecutionCompletedEventAttributes,
  )?.workflowExecutionCompletedEventAttributes;
  const result = decodePayload<PipelineResult>(completed?.result?.payloads?.[0]);
  const reports: DatasetEvaluateResult[] = Object.values(result?.reports ?? {});
  if (!result) {
    for (const d of input.datasets) {
      try {
        reports.push(
          await client.workflow
            .getHandle<typeof EvaluateDataset>(evaluateWorkflowId(ref.workflowId, d.dataset))
            .result(),
        );
      } catch {
        // no committed report for this dataset
      }
    }
  }
  if (!reports.length) {
    const until = input.stages[input.stages.length - 1];
    throw new Error(
      until === 'evaluate'
        ? `run ${ref.workflowId} has no evaluation report yet (${ref.description.status.name}); \`mer status ${run}\` shows where it stands`
        : `run ${ref.workflowId} stopped after ${until}: rerun it with --until evaluate (or without --until) to get a report`,
    );
  }
  const store = createStore(input.store);
  const base = resolve(out ?? join('mer-reports', ref.workflowId));
  const fetched: FetchedReport[] = [];
  for (const r of reports) {
    const dir = join(base, r.dataset);
    const keys = reportKeys(r.evalKey);
    let files = 0;
    for (const o of await store.list(keys.contents)) {
      const rel = o.key.slice(keys.contents.length);
      // runs/ holds every run's side of the report: only this run's is fetched, as run.json below.
      if (rel === COMMIT_MARKER || rel.startsWith('_') || o.key.startsWith(keys.runs)) continue;
      const path = join(dir, ...rel.split('/'));
      await mkdir(dirname(path), { recursive: true });
      await writeFile(path, await store.get(o.key));
      files++;
    }
    // A report someone can open is only useful if it is whole: metrics.json must validate (any version).
    const { embeddedRun } = readMetricsReport(JSON.parse((await store.get(keys.metrics)).toString('utf8')));
    // A version 1 report names the run that wrote it: only this run's if the hashes agree.
    const run =
      (await readReportRun(store, keys.run(input.configHash))) ??
      (embeddedRun?.configHash === input.configHash ? embeddedRun : null);
    if (run) {
      await writeFile(join(dir, 'run.json'), `${JSON.stringify(run, null, 2)}\n`);
      files++;
    }
    fetched.push({
      dataset: r.dataset,
      evalKey: r.evalKey,
      dir,
      html: join(dir, 'report.html'),
      markdown: join(dir, 'report.md'),
      metrics: join(dir, 'metrics.json'),
      files,
      headline: r.headline,
      run,
    });
  }
  return fetched;
}

/**
 * The run's cross-corpus report (`evaluate.crossCorpus`), copied to `<out>/cross-corpus/` beside the
 * dataset folders; null when the run has none (not enabled, or not finished).
 */
export async function fetchCrossCorpus(
  client: Client,
  run: string,
  out: string | undefined,
  runId?: string,
): Promise<{ dir: string; html: string; report: string; files: number } | null> {
  const ref = await describeRun(client, run, runId);
  const events = await fetchEvents(client, ref.workflowId, ref.runId);
  const completed = events.find(
    (e) => e.workflowExecutionCompletedEventAttributes,
  )?.workflowExecutionCompletedEventAttributes;
  const cross = decodePayload<PipelineResult>(completed?.result?.payloads?.[0])?.crossCorpus;
  if (!cross) return null;
  const store = createStore(inputFromHistory(events).store);
  const keys = crossCorpusKeys(cross.key);
  const dir = join(resolve(out ?? join('mer-reports', ref.workflowId)), 'cross-corpus');
  let files = 0;
  for (const o of await store.list(keys.contents)) {
    const rel = o.key.slice(keys.contents.length);
    if (rel.startsWith('_')) continue;
    const path = join(dir, ...rel.split('/'));
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, await store.get(o.key));
    files++;
  }
  return { dir, html: join(dir, 'report.html'), report: join(dir, 'cross-corpus.json'), files };
}

async function readReportRun(store: ReturnType<typeof createStore>, key: string): Promise<ReportRun | null> {
  if (!(await store.exists(key))) return null;
  return ReportRunSchema.parse(JSON.parse((await store.get(key)).toString('utf8')));
}

/** `run <hash> wrote this report; stage times: acquire 4s, segment 1m02s (reused), ...` */
export function describeReportRun(run: ReportRun): string {
  const times = run.timings
    .filter((t) => t.seconds !== undefined)
    .map((t) => `${t.stage} ${formatDuration(t.seconds!)}${t.status === 'skipped' ? ' (reused)' : ''}`);
  return `run ${run.configHash} ${run.wrote ? 'wrote' : 'reused'} this report${times.length ? `; stage times: ${times.join(', ')}` : ''}`;
}

/** Opens a file with the desktop's default application (no shell). */
export function openFile(path: string): void {
  const cmd = process.platform === 'darwin' ? 'open' : process.platform === 'win32' ? 'explorer' : 'xdg-open';
  const child = spawn(cmd, [path], { detached: true, stdio: 'ignore' });
  child.on('error', (err) => console.error(`could not open ${path} with ${cmd}: ${err.message}`));
  child.unref();
}
