/**
 * `mer compare <run|report> <run|report> [...]`: resolves each argument to report folders, then
 * compares them (activities/evaluate/compare/).
 *
 * Decision record: an argument that names something on disk is a report fetched earlier (a dataset
 * folder, its metrics.json, or the `mer report` folder holding one folder per dataset); anything
 * else is a run (workflow id or config hash), fetched as `mer report` fetches it (into
 * ./mer-reports/<workflow id>/ unless --reports says otherwise), with the run's stage settings from
 * its history added to the provenance diff. Temporal is only contacted when a run is named.
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { PipelineInput } from '../schemas/config.ts';
import { compareReports, type CompareInput } from '../activities/evaluate/compare/compare.ts';
import { loadReport, type LoadedReport } from '../activities/evaluate/compare/read.ts';
import { comparisonHtml, comparisonText } from '../activities/evaluate/compare/render.ts';
import type { Comparison } from '../schemas/compare.ts';
import { fetchReports } from './report.ts';
import { describeRun, fetchEvents, inputFromHistory } from './run-history.ts';
import { openSession, type CliSession } from './session.ts';

export interface CompareFlags {
  json?: boolean;
  out?: string;
  /** Where runs' reports are fetched to (default ./mer-reports/<workflow id>). */
  reports?: string;
  rounds?: number;
  seed?: number;
}

/** The report folders under a path: itself (or its metrics.json), or its dataset subfolders. */
async function reportFolders(path: string): Promise<string[]> {
  if ((await stat(path)).isFile() || existsSync(join(path, 'metrics.json'))) return [path];
  const subs: string[] = [];
  for (const d of (await readdir(path, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name)))
    if (d.isDirectory() && existsSync(join(path, d.name, 'metrics.json'))) subs.push(join(path, d.name));
  if (!subs.length)
    throw new Error(`${path}: no metrics.json in it or in its subfolders (a folder \`mer report\` fetched)`);
  return subs;
}

/** The run settings that metrics.json does not carry (train and VSC it does). */
export function runSettings(input: PipelineInput): Record<string, unknown> {
  return {
    datasets: Object.fromEntries(input.datasets.map((d) => [d.dataset, { source: d.source, labels: d.labels }])),
    ...(input.segment ? { segment: input.segment } : {}),
    ...(input.extract ? { extract: input.extract } : {}),
  };
}

/** Each argument's reports, in argument order (a run or folder with two datasets gives two). */
export async function resolveCompareArguments(args: string[], flags: CompareFlags): Promise<CompareInput[]> {
  const out: CompareInput[] = [];
  let session: CliSession | undefined;
  try {
    for (const arg of args) {
      if (existsSync(arg)) {
        for (const dir of await reportFolders(resolve(arg)))
          out.push({ argument: arg, kind: 'report', report: await loadReport(dir) });
        continue;
      }
      session ??= await openSession({ startDevServer: false });
      const fetched = await fetchReports(
        session.client,
        arg,
        flags.reports ? join(resolve(flags.reports), arg) : undefined,
      );
      const ref = await describeRun(session.client, arg);
      const settings = runSettings(inputFromHistory(await fetchEvents(session.client, ref.workflowId, ref.runId)));
      // Datasets in name order (a run's result lists them in the order they finished).
      for (const f of [...fetched].sort((x, y) => x.dataset.localeCompare(y.dataset))) {
        const report: LoadedReport = { ...(await loadReport(f.dir)), runConfig: settings };
        out.push({ argument: arg, kind: 'run', report });
      }
    }
  } finally {
    await session?.close();
  }
  return out;
}

export async function executeCompare(args: string[], flags: CompareFlags): Promise<Comparison> {
  const inputs = await resolveCompareArguments(args, flags);
  const comparison = await compareReports(inputs, { rounds: flags.rounds, seed: flags.seed });
  if (flags.out) {
    const dir = resolve(flags.out);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'compare.html'), await comparisonHtml(comparison));
    await writeFile(join(dir, 'compare.json'), `${JSON.stringify(comparison, null, 2)}\n`);
  }
  if (flags.json) console.log(JSON.stringify(comparison, null, 2));
  else {
    for (const line of comparisonText(comparison)) console.log(line);
    if (flags.out) console.log(`\n${join(resolve(flags.out), 'compare.html')}`);
  }
  return comparison;
}
