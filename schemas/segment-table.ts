import {
  Field,
  Float64,
  Int32,
  List,
  RecordBatch,
  Schema,
  Struct,
  Table,
  Utf8,
  makeBuilder,
  makeData,
} from 'apache-arrow';
import type { DataType, Vector } from 'apache-arrow';
import { SegmentRowSchema, type SegmentRow } from './segment.ts';

/** The Arrow/Parquet form of a shard index: one row per utterance, columns named as SegmentRow's fields. */

type ColumnKind = 'utf8' | 'int32' | 'float64' | 'utf8list';

const COLUMNS: ReadonlyArray<{ name: keyof SegmentRow; kind: ColumnKind; nullable: boolean }> = [
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

function arrowType(kind: ColumnKind): DataType {
  switch (kind) {
    case 'utf8':
      return new Utf8();
    case 'int32':
      return new Int32();
    case 'float64':
      return new Float64();
    case 'utf8list':
      return new List(new Field('item', new Utf8(), false));
  }
}

export const segmentArrowSchema = new Schema(
  COLUMNS.map((c) => new Field(c.name, arrowType(c.kind), c.nullable)),
  new Map([
    ['mer.schema', 'segment-shard'],
    ['mer.schemaVersion', SEGMENT_TABLE_VERSION],
  ]),
);

export function segmentRowsToTable(rows: readonly SegmentRow[]): Table {
  const children = segmentArrowSchema.fields.map((field) => {
    const builder = makeBuilder({ type: field.type, nullValues: [null, undefined] });
    const name = field.name as keyof SegmentRow;
    for (const row of rows) builder.append(row[name]);
    return builder.finish().flush();
  });
  const struct = makeData({ type: new Struct(segmentArrowSchema.fields), length: rows.length, nullCount: 0, children });
  return new Table(segmentArrowSchema, [new RecordBatch(segmentArrowSchema, struct)]);
}

function values(vector: Vector, kind: ColumnKind): unknown[] {
  const out: unknown[] = [];
  for (const v of vector) {
    if (kind === 'utf8list') out.push(v === null ? null : Array.from(v as Iterable<string>));
    // Readers may widen integers to Int64; bring those back to JS numbers.
    else out.push(typeof v === 'bigint' ? Number(v) : v);
  }
  return out;
}

/** Reads a shard index back into validated rows; a missing column or invalid value names itself. */
export function tableToSegmentRows(table: Table): SegmentRow[] {
  const columns = new Map<string, unknown[]>();
  for (const c of COLUMNS) {
    const vector = table.getChild(c.name);
    if (!vector) throw new Error(`segment shard table lacks column ${c.name}`);
    columns.set(c.name, values(vector, c.kind));
  }
  const rows: SegmentRow[] = [];
  for (let i = 0; i < table.numRows; i++) {
    const raw: Record<string, unknown> = {};
    for (const c of COLUMNS) raw[c.name] = columns.get(c.name)![i];
    const parsed = SegmentRowSchema.safeParse(raw);
    if (!parsed.success) {
      const first = parsed.error.issues[0];
      throw new Error(`segment row ${i} (${String(raw.utteranceId)}): field ${first?.path.join('.')}: ${first?.message}`);
    }
    rows.push(parsed.data);
  }
  return rows;
}
