import { tableFromIPC, tableToIPC, type Table as ArrowTable } from 'apache-arrow';
// The package's "node" export condition resolves this to the CommonJS build, which instantiates the
// wasm module synchronously at import time: no async init call is needed anywhere.
import { Compression, Table as WasmTable, WriterPropertiesBuilder, readParquet, writeParquet } from 'parquet-wasm';

export type ParquetCompression = 'zstd' | 'snappy' | 'lz4' | 'gzip' | 'none';

export interface ParquetWriteOptions {
  /** Default 'zstd': best ratio for the string/int columns of manifests at a write speed that never bottlenecks a stage. */
  compression?: ParquetCompression;
  /** Rows per row group; readers can skip whole groups, so shards that are read partially want smaller ones. */
  rowGroupSize?: number;
  /** Dictionary encoding; on by default (parquet's default), worth disabling for high-cardinality or float-heavy tables. */
  dictionary?: boolean;
  /** File-level key/value metadata, e.g. a schema version; readers see it in `table.schema.metadata`. */
  metadata?: Record<string, string>;
}

export interface ParquetReadOptions {
  /** Keep only these columns, in this order; an unknown name is an error rather than a silently missing column. */
  columns?: string[];
  /** Read only these row groups (0-based). */
  rowGroups?: number[];
  offset?: number;
  limit?: number;
}

const CODECS: Record<ParquetCompression, Compression> = {
  zstd: Compression.ZSTD,
  snappy: Compression.SNAPPY,
  lz4: Compression.LZ4_RAW,
  gzip: Compression.GZIP,
  none: Compression.UNCOMPRESSED,
};

/**
 * Encodes an Arrow table as one Parquet file in memory. Types survive a round trip through
 * `parquetToTable` exactly (the Arrow schema is embedded in the file), including FixedSizeList
 * embedding columns and nullability.
 */
export function tableToParquet(table: ArrowTable, opts: ParquetWriteOptions = {}): Uint8Array {
  let builder = new WriterPropertiesBuilder()
    .setCompression(CODECS[opts.compression ?? 'zstd'])
    .setCreatedBy('mer-pipeline');
  if (opts.rowGroupSize !== undefined) {
    if (!Number.isInteger(opts.rowGroupSize) || opts.rowGroupSize < 1) {
      throw new RangeError(`rowGroupSize must be a positive integer, got ${opts.rowGroupSize}`);
    }
    builder = builder.setMaxRowGroupSize(opts.rowGroupSize);
  }
  if (opts.dictionary !== undefined) builder = builder.setDictionaryEnabled(opts.dictionary);
  if (opts.metadata) builder = builder.setKeyValueMetadata(new Map(Object.entries(opts.metadata)));
  // Both arguments are moved into wasm and freed there: nothing is left to free on this side.
  const wasmTable = WasmTable.fromIPCStream(tableToIPC(table, 'stream'));
  return writeParquet(wasmTable, builder.build());
}

/** Decodes a whole Parquet file (already in memory) into an Arrow table. */
export function parquetToTable(bytes: Uint8Array, opts: ParquetReadOptions = {}): ArrowTable {
  // parquet-wasm 0.8's synchronous reader accepts a `columns` option but ignores it (every column comes
  // back), so projection is applied here; rowGroups/offset/limit do take effect inside the decoder.
  const wasmTable = readParquet(bytes, { rowGroups: opts.rowGroups, offset: opts.offset, limit: opts.limit });
  // intoIPCStream consumes (and frees) the wasm table, so wasm memory is released before we return.
  const table = tableFromIPC(wasmTable.intoIPCStream());
  if (!opts.columns) return table;
  const have = new Set(table.schema.fields.map((f) => f.name));
  const missing = opts.columns.filter((c) => !have.has(c));
  if (missing.length > 0) {
    throw new Error(`parquet file has no column(s) ${missing.join(', ')}; it has ${[...have].join(', ')}`);
  }
  return table.select(opts.columns);
}
