import { tableFromIPC, type Table, type Vector } from 'apache-arrow';
import { openAsBlob } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ParquetFile } from 'parquet-wasm';
import { LocalStore } from '../store/local.ts';
import { StoreNotFoundError, assertValidKey, type ObjectStore } from '../store/types.ts';
import { FeatureShardCorruptError } from './shard-errors.ts';

/**
 * A Parquet file read one row group at a time and only the named columns: feature shards carry
 * float16 sequences next to the pooled vectors, and a reader that needs only the pooled vectors (or
 * one row group of sequences) must not decode the rest. `parquetToTable` (activities/common/parquet.ts)
 * decodes whole files; this uses parquet-wasm's ParquetFile reader, which honours projection.
 */
export interface ParquetGroups {
  /** Store key, named in every error. */
  readonly name: string;
  readonly numRows: number;
  /** Rows per row group, in file order. */
  readonly groupRows: readonly number[];
  /** The file's Arrow schema metadata (e.g. `mer.dim`). */
  readonly metadata: ReadonlyMap<string, string>;
  readGroup(index: number, columns: readonly string[]): Promise<Table>;
  /** Every row group in turn (a whole-file read of narrow columns, such as ids). */
  readAll(columns: readonly string[]): AsyncGenerator<Table>;
  close(): Promise<void>;
}

/**
 * Opens a stored Parquet file through a file-backed Blob: only the footer and the column chunks
 * asked for are read from disk, so a shard's size does not bound memory. A local store's file is
 * read in place; other stores' objects are downloaded to a temporary file first (removed on close).
 */
export async function openStoredParquet(store: ObjectStore, key: string): Promise<ParquetGroups> {
  if (store instanceof LocalStore) {
    assertValidKey(key);
    // LocalStore keeps key a/b/c at <root>/a/b/c; head() gives its own not-found semantics first.
    if (!(await store.head(key))) throw new StoreNotFoundError(key, store.describe);
    return openParquetGroups(await openAsBlob(join(store.root, ...key.split('/'))), key);
  }
  const dir = await mkdtemp(join(tmpdir(), 'mer-parquet-'));
  try {
    const path = join(dir, 'file.parquet');
    await store.getFile(key, path);
    return await openParquetGroups(await openAsBlob(path), key, () => rm(dir, { recursive: true, force: true }));
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

/** `source`: the file's bytes or a Blob over them; `cleanup` runs once on close. */
export async function openParquetGroups(
  source: Uint8Array | Blob,
  name: string,
  cleanup?: () => Promise<void>,
): Promise<ParquetGroups> {
  let file: ParquetFile;
  let groupRows: number[];
  let fieldNames: Set<string>;
  let metadata: Map<string, string>;
  try {
    file = await ParquetFile.fromFile(source instanceof Blob ? source : new Blob([source]));
    groupRows = file
      .metadata()
      .rowGroups()
      .map((g) => g.numRows());
    const schema = tableFromIPC(file.schema().intoIPCStream()).schema;
    fieldNames = new Set(schema.fields.map((f) => f.name));
    metadata = schema.metadata;
  } catch (err) {
    await cleanup?.();
    throw new FeatureShardCorruptError(name, `not a readable Parquet file (${(err as Error).message ?? String(err)})`);
  }
  const readGroup = async (index: number, columns: readonly string[]): Promise<Table> => {
    const missing = columns.filter((c) => !fieldNames.has(c));
    if (missing.length) throw new FeatureShardCorruptError(name, `no column(s) ${missing.join(', ')}`);
    try {
      // One batch per group keeps every column a single contiguous chunk for the readers below.
      const t = await file.read({
        rowGroups: [index],
        columns: [...columns],
        batchSize: Math.max(1, groupRows[index]),
      });
      return tableFromIPC(t.intoIPCStream());
    } catch (err) {
      throw new FeatureShardCorruptError(
        name,
        `row group ${index} cannot be decoded (${(err as Error).message ?? String(err)})`,
      );
    }
  };
  return {
    name,
    numRows: groupRows.reduce((a, b) => a + b, 0),
    groupRows,
    metadata,
    readGroup,
    async *readAll(columns) {
      for (let g = 0; g < groupRows.length; g++) yield await readGroup(g, columns);
    },
    close: async () => {
      file.free();
      await cleanup?.();
    },
  };
}

/** Column accessors that name the file when a column has the wrong type. */
export function column(table: Table, name: string, shard: string): Vector {
  const c = table.getChild(name);
  if (!c) throw new FeatureShardCorruptError(shard, `no column ${name}`);
  return c;
}

export function stringColumn(table: Table, name: string, shard: string): Array<string | null> {
  const out: Array<string | null> = [];
  for (const v of column(table, name, shard)) out.push(v === null || v === undefined ? null : String(v));
  return out;
}

/** Integers (readers may widen int32 to int64); null stays null. */
export function intColumn(table: Table, name: string, shard: string): Array<number | null> {
  const out: Array<number | null> = [];
  for (const v of column(table, name, shard)) out.push(v === null || v === undefined ? null : Number(v));
  return out;
}

/**
 * A FixedSizeList<float32> column as per-row views into the decoded buffers (no copies); null rows
 * give null. `width` is checked against the column type.
 */
export function fixedFloat32Column(
  table: Table,
  name: string,
  shard: string,
): { width: number; rows: Array<Float32Array | null> } {
  const vec = column(table, name, shard);
  const type = vec.type as { listSize?: number; children?: Array<{ type: { typeId: number; precision?: number } }> };
  const width = type.listSize;
  if (typeof width !== 'number' || !(vec.data[0]?.children[0]?.values instanceof Float32Array)) {
    throw new FeatureShardCorruptError(shard, `column ${name} is ${String(vec.type)}, expected FixedSizeList<Float32>`);
  }
  const rows: Array<Float32Array | null> = [];
  let at = 0;
  for (const d of vec.data) {
    const child = d.children[0];
    const values = child.values as Float32Array;
    for (let j = 0; j < d.length; j++, at++) {
      if (!vec.isValid(at)) {
        rows.push(null);
        continue;
      }
      const from = child.offset + (d.offset + j) * width;
      rows.push(values.subarray(from, from + width));
    }
  }
  return { width, rows };
}

/** A Binary column as per-row views (no copies). */
export function binaryColumn(table: Table, name: string, shard: string): Array<Uint8Array | null> {
  const out: Array<Uint8Array | null> = [];
  for (const v of column(table, name, shard)) {
    if (v !== null && v !== undefined && !(v instanceof Uint8Array)) {
      throw new FeatureShardCorruptError(shard, `column ${name} does not hold binary values`);
    }
    out.push((v as Uint8Array | null | undefined) ?? null);
  }
  return out;
}
