import type { DatasetPlan, StoreSpecResolved } from '../../schemas/config.ts';
import { corpusFileKey, manifestFiles, rawFilesPrefix } from '../../schemas/layout.ts';
import {
  ColumnRangeError,
  ManifestSummarySchema,
  rowsToArrowTable,
  type LabelSetName,
  type ManifestRow,
} from '../../schemas/manifest.ts';
import type { StepContext } from '../common/context.ts';
import { ErrorTypes, MerError } from '../common/errors.ts';
import { tableToParquet } from '../common/parquet.ts';
import { parseStoredJson } from '../common/stored-json.ts';
import { createStore } from '../store/index.ts';
import { buildIemocapManifest } from './iemocap.ts';
import { buildMeldManifest } from './meld.ts';
import { readRawIndex } from './unpack.ts';

/** Bumped whenever the parsers would produce different rows: old manifests are then not reused. */
export const MANIFEST_CODE_VERSION = 1;

export interface ManifestStepResult {
  manifestKey: string;
  summaryKey: string;
  issuesKey: string;
  rows: number;
  inLabelSet: number;
  issues: number;
}

/** Parses the unpacked corpus's annotations into manifest.parquet, summary.json and issues.jsonl, then commits. */
export async function buildManifestStep(
  input: { store: StoreSpecResolved; plan: DatasetPlan; rawPrefix: string; manifestPrefix: string },
  ctx: StepContext,
): Promise<ManifestStepResult> {
  const { plan, rawPrefix, manifestPrefix } = input;
  const store = createStore(input.store);
  const keys = manifestFiles(manifestPrefix);
  if (await store.committed(manifestPrefix)) return readSummaryStep(input);
  const index = await readRawIndex(store, rawPrefix);
  const filesPrefix = rawFilesPrefix(rawPrefix);
  let reads = 0;
  const read = async (path: string): Promise<Uint8Array> => {
    if (++reads % 32 === 0) ctx.heartbeat({ filesRead: reads });
    if (ctx.signal?.aborted) throw ctx.signal.reason ?? new Error('cancelled');
    return store.get(corpusFileKey(filesPrefix, path));
  };
  const args = {
    files: index.files.map((f) => ({ path: f.path, size: f.size })),
    read,
    keyPrefix: filesPrefix,
    labelSet: plan.labels as LabelSetName,
  };
  const built = plan.dataset === 'iemocap' ? await buildIemocapManifest(args) : await buildMeldManifest(args);
  const rows = built.rows;
  await store.put(keys.manifest, tableToParquet(manifestTable(rows)));
  await store.put(
    keys.issues,
    built.issues.map((i) => JSON.stringify(i)).join('\n') + (built.issues.length ? '\n' : ''),
  );
  const summary = {
    ...built.summary,
    manifestKey: keys.manifest,
    sourceRawPrefix: rawPrefix,
    extractionSkipped: index.skipped,
  };
  await store.put(keys.summary, JSON.stringify(summary, null, 2));
  await store.commit(manifestPrefix, {
    stage: 'acquire/manifest',
    summary: { rows: rows.length, issues: built.issues.length },
  });
  return readSummaryStep(input);
}

/** The committed manifest's counts and keys: the stage's result, whether it was built now or reused. */
export async function readSummaryStep(input: {
  store: StoreSpecResolved;
  manifestPrefix: string;
}): Promise<ManifestStepResult> {
  const store = createStore(input.store);
  const keys = manifestFiles(input.manifestPrefix);
  const s = parseStoredJson(await store.get(keys.summary), keys.summary, 'the store', StoredSummarySchema);
  return {
    manifestKey: keys.manifest,
    summaryKey: keys.summary,
    issuesKey: keys.issues,
    rows: s.rows,
    inLabelSet: s.inLabelSet,
    issues: s.issues,
  };
}

/** The counts the stage returns; the summary holds more (perLabel, extractionSkipped, ...), kept as written. */
const StoredSummarySchema = ManifestSummarySchema.pick({ rows: true, inLabelSet: true, issues: true }).loose();

/** The Arrow table to write; a number that does not fit its column is refused, never written wrapped. */
function manifestTable(rows: readonly ManifestRow[]) {
  try {
    return rowsToArrowTable(rows);
  } catch (err) {
    if (!(err instanceof ColumnRangeError)) throw err;
    throw new MerError(
      ErrorTypes.OutputInvalid,
      `${err.message}: the parser let a value through that the manifest cannot hold; correct that utterance's annotation line and report it`,
      { column: err.column, row: err.row, utteranceId: err.utteranceId },
    );
  }
}
