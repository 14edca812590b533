/**
 * Parquet write/read throughput of `tableToParquet` / `parquetToTable` (apache-arrow + parquet-wasm,
 * default options: ZSTD, dictionary on) on the two tables the pipeline writes most:
 *
 * - an embedding shard: 2,000 rows of FixedSizeList<Float32>[768] plus the utterance id; the project's
 *   notes (README, dependency notes) measured 0.29 s write / 0.10 s read for it on this machine, which
 *   is the reference here (as MB/s of the same bytes, so ratio > 1 is faster);
 * - a manifest: the 13,708 rows `buildMeldManifest` makes of a full-scale generated MELD corpus, through
 *   `rowsToArrowTable`.
 *
 * MB/s is over the table's Arrow IPC size (the uncompressed columnar bytes), the same figure for write
 * and read. Median of a few runs after a warm-up; everything is in memory.
 */
import {
  Field,
  FixedSizeList,
  Float32,
  Table,
  Utf8,
  makeData,
  makeVector,
  tableToIPC,
  vectorFromArray,
} from 'apache-arrow';
import { fileURLToPath } from 'node:url';
import { buildMeldManifest } from '../../activities/acquire/meld.ts';
import { parquetToTable, tableToParquet } from '../../activities/common/parquet.ts';
import { rowsToArrowTable } from '../../schemas/manifest.ts';
import { generateMeldCorpus } from '../acquire/manifest-parse.bench.ts';
import { median } from '../acquire/unpack.bench.ts';
import type { BenchRow } from '../types.ts';

const BENCH = 'common/parquet';
const DIM = 768;
const EMB_ROWS = 2000;
const WARMUP = 2;
const TIMED = 7;
/** From the project's notes: the same 2,000 x 768 float32 table on this machine. */
const REFERENCE_SECONDS = { write: 0.29, read: 0.1 };

/** Unit-variance Gaussian values (Box-Muller over a seeded LCG): the mantissas of real embeddings are as incompressible. */
function embeddingTable(): Table {
  let s = 12345;
  const uniform = (): number => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s + 1) / 4294967297;
  };
  const values = new Float32Array(EMB_ROWS * DIM);
  for (let i = 0; i < values.length; i += 2) {
    const r = Math.sqrt(-2 * Math.log(uniform()));
    const th = 2 * Math.PI * uniform();
    values[i] = r * Math.cos(th);
    values[i + 1] = r * Math.sin(th);
  }
  const type = new FixedSizeList(DIM, new Field('item', new Float32(), false));
  const child = makeData({ type: new Float32(), length: values.length, nullCount: 0, data: values });
  const embedding = makeVector(makeData({ type, length: EMB_ROWS, nullCount: 0, child }));
  const utteranceId = vectorFromArray(
    Array.from({ length: EMB_ROWS }, (_, i) => `meld_train_dia${Math.floor(i / 10)}_utt${i % 10}`),
    new Utf8(),
  );
  return new Table({ utteranceId, embedding });
}

interface Measured {
  /** The first call of each in this process: JIT and wasm tier-up included, as a one-off script would see it. */
  coldWriteMs: number;
  coldReadMs: number;
  writeMs: number;
  readMs: number;
  fileBytes: number;
  ipcBytes: number;
}

/** Median warm and first-call milliseconds of one direction. */
function timesOf(m: Measured, op: 'write' | 'read'): { ms: number; cold: number } {
  return op === 'write' ? { ms: m.writeMs, cold: m.coldWriteMs } : { ms: m.readMs, cold: m.coldReadMs };
}

function measure(table: Table): Measured {
  const c0 = performance.now();
  let bytes = tableToParquet(table);
  const c1 = performance.now();
  parquetToTable(bytes);
  const coldWriteMs = c1 - c0;
  const coldReadMs = performance.now() - c1;
  for (let i = 0; i < WARMUP; i++) {
    bytes = tableToParquet(table);
    if (parquetToTable(bytes).numRows !== table.numRows) throw new Error('parquet round trip lost rows');
  }
  const writes: number[] = [];
  const reads: number[] = [];
  for (let i = 0; i < TIMED; i++) {
    const t0 = performance.now();
    bytes = tableToParquet(table);
    const t1 = performance.now();
    const back = parquetToTable(bytes);
    const t2 = performance.now();
    if (back.numRows !== table.numRows) throw new Error('parquet round trip lost rows');
    writes.push(t1 - t0);
    reads.push(t2 - t1);
  }
  return {
    coldWriteMs,
    coldReadMs,
    writeMs: median(writes),
    readMs: median(reads),
    fileBytes: bytes.length,
    ipcBytes: tableToIPC(table, 'stream').byteLength,
  };
}

export default async function run(): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];

  const emb = measure(embeddingTable());
  const embMb = emb.ipcBytes / 1e6;
  const embCommon = `${EMB_ROWS} x ${DIM} float32 + utteranceId, ${embMb.toFixed(2)} MB Arrow -> ${(emb.fileBytes / 1e6).toFixed(2)} MB parquet (zstd); median of ${TIMED} after ${WARMUP} warm-up`;
  for (const op of ['write', 'read'] as const) {
    const { ms, cold } = timesOf(emb, op);
    const value = embMb / (ms / 1000);
    const reference = embMb / REFERENCE_SECONDS[op];
    rows.push({
      bench: BENCH,
      metric: `embeddings ${op} MB/s`,
      value,
      unit: 'MB/s',
      reference: { name: `project notes (${REFERENCE_SECONDS[op]} s)`, value: reference },
      ratio: value / reference,
      notes: `${(ms / 1000).toFixed(3)} s warm, ${(cold / 1000).toFixed(3)} s on the process's first call; ${embCommon}`,
    });
  }

  const meld = generateMeldCorpus();
  const built = await buildMeldManifest({
    files: meld.files,
    read: meld.read,
    keyPrefix: 'raw/files',
    labelSet: 'meld7',
  });
  const man = measure(rowsToArrowTable(built.rows));
  const manMb = man.ipcBytes / 1e6;
  const manCommon = `${built.rows.length} MELD manifest rows (28 columns), ${manMb.toFixed(2)} MB Arrow -> ${(man.fileBytes / 1e6).toFixed(2)} MB parquet (zstd); median of ${TIMED} after ${WARMUP} warm-up`;
  for (const op of ['write', 'read'] as const) {
    const { ms, cold } = timesOf(man, op);
    rows.push({
      bench: BENCH,
      metric: `manifest ${op} MB/s`,
      value: manMb / (ms / 1000),
      unit: 'MB/s',
      notes: `${(ms / 1000).toFixed(3)} s warm, ${(cold / 1000).toFixed(3)} s first call; ${manCommon}`,
    });
  }
  return rows;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  for (const row of await run()) console.log(JSON.stringify(row));
}
