import type { Table } from 'apache-arrow';
import { defineRowTable, type ColumnSpec } from './arrow-table.ts';
import { SegmentRowSchema, type SegmentRow } from './segment.ts';

/** The Arrow/Parquet form of a shard index: one row per utterance, columns named as SegmentRow's fields. */

const COLUMNS: ReadonlyArray<ColumnSpec<SegmentRow>> = [
  { name: 'utteranceId', kind: 'utf8', nullable: false },
  { name: 'dataset', kind: 'utf8', nullable: false },
  { name: 'status', kind: 'utf8', nullable: false },
  { name: 'reason', kind: 'utf8', nullable: true },
  { name: 'audioKey', kind: 'utf8', nullable: true },
  { name: 'sampleRate', kind: 'int32', nullable: true },
  { name: 'samples', kind: 'int32', nullable: true },
  { name: 'framesKey', kind: 'utf8', nullable: true },
  { name: 'frameCount', kind: 'int32', nullable: true },
  { name: 'frameHeight', kind: 'int32', nullable: true },
  { name: 'frameWidth', kind: 'int32', nullable: true },
  { name: 'startSec', kind: 'float64', nullable: true },
  { name: 'endSec', kind: 'float64', nullable: true },
  { name: 'flags', kind: 'utf8list', nullable: false },
];

export const SEGMENT_TABLE_VERSION = '1';

const segmentTable = defineRowTable({
  label: 'segment shard',
  schemaName: 'segment-shard',
  version: SEGMENT_TABLE_VERSION,
  columns: COLUMNS,
  rowSchema: SegmentRowSchema,
});

export const segmentArrowSchema = segmentTable.schema;

export function segmentRowsToTable(rows: readonly SegmentRow[]): Table {
  return segmentTable.toTable(rows);
}

/** Reads a shard index back into validated rows; a missing column or invalid value names itself. */
export function tableToSegmentRows(table: Table): SegmentRow[] {
  return segmentTable.fromTable(table);
}
