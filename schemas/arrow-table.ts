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
import type { Builder, Data, DataType, Vector } from 'apache-arrow';
import type { z } from 'zod';

/** The column types our row tables use; each maps to one Arrow type both ways. */
export type ColumnKind = 'utf8' | 'int32' | 'float64' | 'utf8list';

export interface ColumnSpec<R> {
  name: keyof R & string;
  kind: ColumnKind;
  nullable: boolean;
}

function arrowType(kind: ColumnKind): DataType {
  switch (kind) {
    case 'utf8':
      return new Utf8();
    case 'int32':
      return new Int32();
    case 'float64':
      return new Float64();
    case 'utf8list':
      // Child nullable=false: a list item is never null, and readers in other languages see that contract.
      return new List(new Field('item', new Utf8(), false));
  }
}

/** One column's data from JS values (null and undefined are nulls). */
export function buildColumn(type: DataType, values: readonly unknown[]): Data {
  // makeBuilder types its result by the DataType subclass; for the base class it says Builder<any>.
  const builder = makeBuilder({ type, nullValues: [null, undefined] }) as Builder<DataType>;
  for (const v of values) builder.append(v);
  return builder.finish().flush();
}

/** A record batch of `schema` from its columns' data, in schema order. */
export function structBatch(schema: Schema, length: number, children: Data[]): RecordBatch {
  return new RecordBatch(schema, makeData({ type: new Struct(schema.fields), length, nullCount: 0, children }));
}

function columnValues(vector: Vector, kind: ColumnKind): unknown[] {
  const out: unknown[] = new Array(vector.length);
  let i = 0;
  for (const v of vector) {
    if (kind === 'utf8list') out[i++] = v === null ? null : Array.from(v as Iterable<string>);
    // Readers such as parquet-wasm may widen integers to Int64; bring those back to JS numbers.
    else out[i++] = typeof v === 'bigint' ? Number(v) : v;
  }
  return out;
}

/**
 * A validated row type stored as an Arrow table (then Parquet): the column list fixes order and types,
 * the zod schema validates rows read back. Columns are matched by name on read, so a table whose column
 * order another writer changed still loads; a missing column or an invalid value is an error naming it.
 */
export function defineRowTable<S extends z.ZodType>(opts: {
  /** Used in error messages, e.g. 'manifest'. */
  label: string;
  /** `mer.schema` metadata value. */
  schemaName: string;
  version: string;
  columns: ReadonlyArray<ColumnSpec<z.infer<S>>>;
  rowSchema: S;
}) {
  type Row = z.infer<S>;
  const types = opts.columns.map((c) => arrowType(c.kind));
  const schema = new Schema(
    opts.columns.map((c, i) => new Field(c.name, types[i], c.nullable)),
    new Map([
      ['mer.schema', opts.schemaName],
      ['mer.schemaVersion', opts.version],
    ]),
  );

  function toTable(rows: readonly Row[]): Table {
    const children = opts.columns.map((c, i) =>
      buildColumn(
        types[i],
        rows.map((row) => (row as Record<string, unknown>)[c.name]),
      ),
    );
    return new Table(schema, [structBatch(schema, rows.length, children)]);
  }

  function fromTable(table: Table): Row[] {
    const columns = new Map<string, unknown[]>();
    const missing: string[] = [];
    for (const c of opts.columns) {
      const vector = table.getChild(c.name);
      if (vector) columns.set(c.name, columnValues(vector, c.kind));
      else missing.push(c.name);
    }
    if (missing.length) throw new Error(`${opts.label} table lacks column(s): ${missing.join(', ')}`);
    const rows = new Array<Row>(table.numRows);
    for (let i = 0; i < table.numRows; i++) {
      const raw: Record<string, unknown> = {};
      for (const c of opts.columns) raw[c.name] = columns.get(c.name)![i];
      const parsed = opts.rowSchema.safeParse(raw);
      if (!parsed.success) {
        const first = parsed.error.issues[0];
        throw new Error(
          `${opts.label} row ${i} (${String(raw.utteranceId)}): field ${first?.path.join('.')}: ${first?.message}`,
        );
      }
      rows[i] = parsed.data;
    }
    return rows;
  }

  return { schema, toTable, fromTable };
}
