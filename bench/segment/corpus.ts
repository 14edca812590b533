/**
 * Corpora for the segment benches: a synthetic corpus acquired into a local store, its manifest
 * optionally replicated (every row k times under new utterance ids, same media) so a corpus of any
 * size costs one small synthesis.
 */
import { join } from 'node:path';
import { tableToParquet } from '../../activities/common/parquet.ts';
import { readManifestRows } from '../../activities/segment/plan.ts';
import { createStore } from '../../activities/store/index.ts';
import { acquireDirect } from '../../cli/direct.ts';
import { synthesize, type SynthScale } from '../../cli/synth/index.ts';
import { AcquireParamsSchema, type DatasetAcquireResult, type StoreSpecResolved } from '../../schemas/config.ts';
import { rowsToArrowTable } from '../../schemas/manifest.ts';

export interface BenchCorpus {
  store: StoreSpecResolved;
  acquired: DatasetAcquireResult;
}

export async function acquireCorpus(
  work: string,
  dataset: 'iemocap' | 'meld',
  scale: SynthScale,
): Promise<BenchCorpus> {
  const synth = await synthesize({ dataset, out: join(work, `${dataset}-${scale}`), archive: true, seed: 3, scale });
  const store: StoreSpecResolved = { kind: 'local', root: join(work, 'store') };
  const a = await acquireDirect({
    store,
    plan: {
      dataset,
      source: { kind: 'archive', path: synth.archive! },
      labels: dataset === 'iemocap' ? '6class' : 'meld7',
    },
    acquire: AcquireParamsSchema.parse({}),
  });
  return {
    store,
    acquired: {
      dataset,
      sourceKey: a.plan.sourceKey,
      rawPrefix: a.plan.rawPrefix,
      manifestKey: a.result.manifestKey,
      summaryKey: a.result.summaryKey,
      rows: a.result.rows,
      inLabelSet: a.result.inLabelSet,
      issues: a.result.issues,
      ran: a.ran,
    },
  };
}

/** The corpus with every manifest row repeated `times` times (ids suffixed _r<k>), as a new manifest. */
export async function replicate(corpus: BenchCorpus, times: number): Promise<BenchCorpus> {
  const store = createStore(corpus.store);
  const rows = await readManifestRows(store, corpus.acquired.manifestKey);
  const many = Array.from({ length: times }, (_, k) =>
    rows.map((r) => ({ ...r, utteranceId: `${r.utteranceId}_r${k}` })),
  ).flat();
  const key = `bench/manifests/${corpus.acquired.dataset}-x${times}.parquet`;
  await store.put(key, tableToParquet(rowsToArrowTable(many)));
  return { store: corpus.store, acquired: { ...corpus.acquired, manifestKey: key, rows: many.length } };
}
