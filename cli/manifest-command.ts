import { resolve } from 'node:path';
import { AcquireParamsSchema, StoreConfigSchema, type DatasetName } from '../schemas/config.ts';
import { LABEL_SETS_BY_DATASET } from '../schemas/manifest.ts';
import { ConfigError, parseStoreFlag, resolveSource } from './config.ts';
import { acquireDirect, exportManifest, manifestReport } from './direct.ts';

export interface ManifestFlags {
  dataset: DatasetName;
  source: string;
  labels?: string;
  sha256?: string;
  store?: string;
  s3Endpoint?: string;
  out?: string;
  json?: boolean;
}

/** `mer manifest`: acquire one dataset in this process (no Temporal) and print its manifest summary. */
export async function executeManifest(o: ManifestFlags): Promise<void> {
  const store = StoreConfigSchema.parse(parseStoreFlag(o.store ?? '.mer/store', o.s3Endpoint));
  const storeResolved = store.kind === 'local' ? { ...store, root: resolve(store.root) } : store;
  const labels = o.labels ?? (o.dataset === 'iemocap' ? '6class' : 'meld7');
  // Checked here because the manifest builder would only notice after extracting the whole archive.
  if (!(LABEL_SETS_BY_DATASET[o.dataset] as readonly string[]).includes(labels)) {
    throw new ConfigError(
      `--labels: ${labels} is not a label set of ${o.dataset} (use ${LABEL_SETS_BY_DATASET[o.dataset].join(' or ')})`,
    );
  }
  const plan = { dataset: o.dataset, source: resolveSource(o.dataset, o.source, o.sha256, process.cwd()), labels };
  const r = await acquireDirect({
    store: storeResolved,
    plan,
    acquire: AcquireParamsSchema.parse({}),
    onProgress: (step, d) => {
      if (!o.json && process.stderr.isTTY) process.stderr.write(`\r\x1b[2K${step}: ${JSON.stringify(d).slice(0, 110)}`);
    },
  });
  if (!o.json && process.stderr.isTTY) process.stderr.write('\r\x1b[2K');
  const report = await manifestReport(storeResolved, r.plan.manifestPrefix);
  if (o.out) await exportManifest(storeResolved, r.result.manifestKey, resolve(o.out));
  if (o.json) console.log(JSON.stringify({ ...report, manifestKey: r.result.manifestKey, ran: r.ran }, null, 2));
  else {
    const rep = report as {
      rows: number;
      perSplit: Record<string, number>;
      perLabel: Record<string, number>;
      issueList: Array<{ file: string; line?: number; reason: string }>;
    };
    console.log(`${o.dataset}: ${rep.rows} utterances -> ${r.result.manifestKey}${r.ran.manifest ? '' : ' (reused)'}`);
    console.log(`  per split: ${JSON.stringify(rep.perSplit)}`);
    console.log(`  per label: ${JSON.stringify(rep.perLabel)}`);
    console.log(`  issues: ${rep.issueList.length}`);
    for (const i of rep.issueList.slice(0, 20)) console.log(`    ${i.file}${i.line ? `:${i.line}` : ''}: ${i.reason}`);
    if (rep.issueList.length > 20) console.log(`    ... ${rep.issueList.length - 20} more (--json lists all)`);
    if (o.out) console.log(`  written to ${o.out}`);
  }
}
