import { z } from 'zod';
import type { Table } from 'apache-arrow';
import { defineRowTable, type ColumnSpec } from './arrow-table.ts';

/**
 * One row per utterance: the acquire stage's output and every later stage's input. Media locations
 * are object-store keys (never local paths) so a manifest stays valid on any worker.
 */

export const LABEL_SETS = ['6class', '4class', 'meld7', 'sentiment3'] as const;
export type LabelSetName = (typeof LABEL_SETS)[number];
export const LabelSetNameSchema = z.enum(LABEL_SETS);

export const MANIFEST_DATASETS = ['iemocap', 'meld'] as const;
export type ManifestDataset = (typeof MANIFEST_DATASETS)[number];

export const MELD_SPLITS = ['train', 'dev', 'test'] as const;
export type MeldSplit = (typeof MELD_SPLITS)[number];

/** Label sets each dataset can be mapped to; anything else is a configuration error. */
export const LABEL_SETS_BY_DATASET: Record<ManifestDataset, readonly LabelSetName[]> = {
  iemocap: ['6class', '4class'],
  meld: ['meld7', 'sentiment3'],
};

export const ROW_FLAGS = [
  'audio_missing',
  'audio_empty',
  'video_missing',
  'video_empty',
  'dialog_audio_missing',
  'text_missing',
  'zero_duration',
  'negative_duration',
  'dialog_mismatch',
] as const;
export type RowFlag = (typeof ROW_FLAGS)[number];

/** The int32 columns' range: a value outside it would be written wrapped, so the schema refuses it. */
export const INT32_MIN = -(2 ** 31);
export const INT32_MAX = 2 ** 31 - 1;
const int32 = z.int().min(INT32_MIN).max(INT32_MAX);
const nullableInt = int32.nullable();
const nullableNumber = z.number().nullable();
const nullableString = z.string().nullable();

const ManifestRowObject = z.object({
  utteranceId: z.string().min(1),
  dataset: z.enum(MANIFEST_DATASETS),
  split: z.string().min(1),
  session: nullableInt,
  dialogueId: z.string().min(1),
  speaker: z.string(),
  gender: z.enum(['F', 'M']).nullable(),
  interaction: z.enum(['improvised', 'scripted']).nullable(),
  /**
   * IEMOCAP: position of the turn inside the dialog recording (videoKey, dialogAudioKey); audioKey is
   * already cut to the turn. MELD: position inside the source episode, for reference only: videoKey is
   * already cut to the utterance, so these times must not be used to cut it.
   */
  startSec: z.number().nonnegative(),
  endSec: z.number().nonnegative(),
  text: z.string(),
  /** IEMOCAP majority code (lower case, 'xxx' = no majority); MELD emotion (lower case), also under sentiment3. */
  labelNative: z.string().min(1),
  labelSet: LabelSetNameSchema,
  /** Class index in the label set (sentiment3: from `sentiment`); -1 when outside the set. */
  labelIndex: int32.min(-1),
  labelName: nullableString,
  sentiment: nullableString,
  valence: nullableNumber,
  arousal: nullableNumber,
  dominance: nullableNumber,
  audioKey: nullableString,
  videoKey: nullableString,
  dialogAudioKey: nullableString,
  /** IEMOCAP: half of the split-screen video showing the speaker (the marker wearer is on the left). */
  videoHalf: z.enum(['left', 'right']).nullable(),
  season: nullableInt,
  episode: nullableInt,
  srNo: nullableInt,
  utteranceIndex: int32.nonnegative(),
  // Kept open (not the ROW_FLAGS enum) so a manifest written by a newer stage version still loads.
  flags: z.array(z.string()),
});

export const ManifestRowSchema = ManifestRowObject.superRefine((row, ctx) => {
  const fail = (path: string, message: string) => ctx.addIssue({ code: 'custom', path: [path], message });
  if (!LABEL_SETS_BY_DATASET[row.dataset].includes(row.labelSet)) {
    fail('labelSet', `label set ${row.labelSet} does not apply to ${row.dataset}`);
  }
  if ((row.labelIndex === -1) !== (row.labelName === null)) {
    fail('labelName', 'labelName must be null exactly when labelIndex is -1');
  }
  if (row.dataset === 'iemocap') {
    if (!/^Session\d+$/.test(row.split)) fail('split', 'IEMOCAP split must be SessionN');
    if (row.session === null || `Session${row.session}` !== row.split) fail('session', 'must match the split');
    if (row.gender === null) fail('gender', 'required for IEMOCAP');
    if (row.interaction === null) fail('interaction', 'required for IEMOCAP');
    if (row.videoHalf === null) fail('videoHalf', 'required for IEMOCAP');
  } else {
    if (!(MELD_SPLITS as readonly string[]).includes(row.split)) fail('split', 'MELD split must be train, dev or test');
    if (row.session !== null) fail('session', 'must be null for MELD');
    if (row.videoHalf !== null) fail('videoHalf', 'must be null for MELD');
    if (row.sentiment === null) fail('sentiment', 'required for MELD');
  }
});
export type ManifestRow = z.infer<typeof ManifestRowObject>;

/**
 * Issue kinds about the corpus as a whole (a session or split without annotations, label words outside
 * the dataset's codes): listed first in issues.jsonl, and shown as warnings by `mer status`.
 */
export const CORPUS_ISSUE_KINDS: ReadonlySet<string> = new Set([
  'session_missing',
  'annotation_missing',
  'unknown_labels',
]);

/** A problem found in the input: the item is skipped or flagged, the run goes on. */
export const AcquireIssueSchema = z.object({
  /** Corpus-relative path of the file the problem is in (or a folder, for folder-level findings). */
  file: z.string(),
  /** 1-based physical line in that file where the offending record starts. */
  line: z.int().positive().optional(),
  field: z.string().optional(),
  value: z.string().optional(),
  reason: z.string(),
  kind: z.string(),
});
export type AcquireIssue = z.infer<typeof AcquireIssueSchema>;

export const ManifestSummarySchema = z.object({
  dataset: z.enum(MANIFEST_DATASETS),
  labelSet: LabelSetNameSchema,
  rows: z.int().nonnegative(),
  perSplit: z.record(z.string(), z.int().nonnegative()),
  /** Counts of the dataset-native labels over all rows (comparable with the datasets' published counts). */
  perLabel: z.record(z.string(), z.int().nonnegative()),
  /** Counts of the mapped classes, in label-set order; rows outside the label set are not counted. */
  perClass: z.record(z.string(), z.int().nonnegative()),
  inLabelSet: z.int().nonnegative(),
  issues: z.int().nonnegative(),
  issueKinds: z.record(z.string(), z.int().nonnegative()),
  mediaMissing: z.object({ audio: z.int().nonnegative(), video: z.int().nonnegative() }),
});
export type ManifestSummary = z.infer<typeof ManifestSummarySchema>;

// ---------------------------------------------------------------------------------------------------
// Arrow

/** Column order and types of the manifest table; nullability follows the zod schema. */
const COLUMNS: ReadonlyArray<ColumnSpec<ManifestRow>> = [
  { name: 'utteranceId', kind: 'utf8', nullable: false },
  { name: 'dataset', kind: 'utf8', nullable: false },
  { name: 'split', kind: 'utf8', nullable: false },
  { name: 'session', kind: 'int32', nullable: true },
  { name: 'dialogueId', kind: 'utf8', nullable: false },
  { name: 'speaker', kind: 'utf8', nullable: false },
  { name: 'gender', kind: 'utf8', nullable: true },
  { name: 'interaction', kind: 'utf8', nullable: true },
  { name: 'startSec', kind: 'float64', nullable: false },
  { name: 'endSec', kind: 'float64', nullable: false },
  { name: 'text', kind: 'utf8', nullable: false },
  { name: 'labelNative', kind: 'utf8', nullable: false },
  { name: 'labelSet', kind: 'utf8', nullable: false },
  { name: 'labelIndex', kind: 'int32', nullable: false },
  { name: 'labelName', kind: 'utf8', nullable: true },
  { name: 'sentiment', kind: 'utf8', nullable: true },
  { name: 'valence', kind: 'float64', nullable: true },
  { name: 'arousal', kind: 'float64', nullable: true },
  { name: 'dominance', kind: 'float64', nullable: true },
  { name: 'audioKey', kind: 'utf8', nullable: true },
  { name: 'videoKey', kind: 'utf8', nullable: true },
  { name: 'dialogAudioKey', kind: 'utf8', nullable: true },
  { name: 'videoHalf', kind: 'utf8', nullable: true },
  { name: 'season', kind: 'int32', nullable: true },
  { name: 'episode', kind: 'int32', nullable: true },
  { name: 'srNo', kind: 'int32', nullable: true },
  { name: 'utteranceIndex', kind: 'int32', nullable: false },
  { name: 'flags', kind: 'utf8list', nullable: false },
];

export const MANIFEST_SCHEMA_VERSION = '1';

const manifestTable = defineRowTable({
  label: 'manifest',
  schemaName: 'manifest',
  version: MANIFEST_SCHEMA_VERSION,
  columns: COLUMNS,
  rowSchema: ManifestRowSchema,
});

export const manifestArrowSchema = manifestTable.schema;

/** A value that does not fit its Arrow column: refused, since the builder would store it wrapped or rounded. */
export class ColumnRangeError extends RangeError {
  constructor(
    readonly column: string,
    readonly row: number,
    readonly utteranceId: string,
    readonly value: unknown,
  ) {
    super(`manifest row ${row} (${utteranceId}): ${column} = ${String(value)} does not fit its column`);
    this.name = 'ColumnRangeError';
  }
}

function fits(kind: ColumnSpec<ManifestRow>['kind'], v: unknown): boolean {
  if (v === null || v === undefined) return true;
  if (kind === 'int32') return Number.isInteger(v) && (v as number) >= INT32_MIN && (v as number) <= INT32_MAX;
  if (kind === 'float64') return Number.isFinite(v);
  return true;
}

/** Rows as an Arrow table; every number is checked against its column first (defence behind the parsers' bounds). */
export function rowsToArrowTable(rows: readonly ManifestRow[]): Table {
  const numeric = COLUMNS.filter((c) => c.kind === 'int32' || c.kind === 'float64');
  for (let i = 0; i < rows.length; i++) {
    for (const c of numeric) {
      const v = rows[i][c.name];
      if (!fits(c.kind, v)) throw new ColumnRangeError(c.name, i, rows[i].utteranceId, v);
    }
  }
  return manifestTable.toTable(rows);
}

/**
 * Reads a manifest table back into validated rows. Columns are matched by name, so a table whose
 * column order was changed by another writer still loads; a missing column or an invalid value is an
 * error naming the column or the row.
 */
export function arrowTableToRows(table: Table): ManifestRow[] {
  return manifestTable.fromTable(table);
}
