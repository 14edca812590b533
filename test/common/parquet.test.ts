import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  Bool,
  Field,
  FixedSizeList,
  Float32,
  Float64,
  Int32,
  Table,
  Utf8,
  makeData,
  makeVector,
  vectorFromArray,
  type Data,
  type Vector,
} from 'apache-arrow';
import { parquetToTable, tableToParquet } from '../../activities/common/parquet.ts';

const DIM = 768;
const ROWS = 2000;

/** All float32 values of a FixedSizeList column, across however many record batches the reader made. */
function flatFloat32(chunks: readonly Data<FixedSizeList<Float32>>[]): Float32Array {
  const out = new Float32Array(chunks.reduce((n, d) => n + d.length, 0) * DIM);
  let at = 0;
  for (const d of chunks) {
    const child = d.children[0];
    const values = child.values as Float32Array;
    const from = child.offset + d.offset * DIM;
    out.set(values.subarray(from, from + d.length * DIM), at);
    at += d.length * DIM;
  }
  return out;
}

function embeddingTable(): { table: Table; values: Float32Array } {
  const values = new Float32Array(ROWS * DIM);
  // Full float32 range with signs and tiny magnitudes, so any lossy path (float16, float64 detour) shows.
  for (let i = 0; i < values.length; i++) values[i] = (Math.random() - 0.5) * 10 ** ((i % 13) - 6);
  values[0] = -0;
  values[1] = 1.401298464324817e-45; // smallest subnormal float32
  values[2] = 3.4028234663852886e38;
  const type = new FixedSizeList(DIM, new Field('item', new Float32(), false));
  const child = makeData({ type: new Float32(), length: values.length, nullCount: 0, data: values });
  const emb = makeVector(makeData({ type, length: ROWS, nullCount: 0, child }));
  const id = vectorFromArray(
    Array.from({ length: ROWS }, (_, i) => `utt-${i}`),
    new Utf8(),
  );
  return { table: new Table({ id, emb }), values };
}

describe('parquet round trip', () => {
  test('scalar columns: unicode strings, int32 extremes, float64 specials, nullable fields, bool', () => {
    const strings = ['plain', 'naïve café', '情绪识别', '😀 emoji 👩‍👩‍👧', '', 'tab\tnewline\n', 'x'.repeat(5000)];
    const ints = [0, -1, 2147483647, -2147483648, 42, 7, -7];
    const floats = [0, -0, Math.PI, Number.MIN_VALUE, Number.MAX_VALUE, -Infinity, 1e-300];
    const optText = ['a', null, 'ü', null, null, 'z', ''];
    const optInt = [null, 1, null, 3, null, null, -5];
    const flags = [true, false, true, true, false, false, true];
    const optFlags = [null, true, false, null, true, null, false];
    const table = new Table({
      text: vectorFromArray(strings, new Utf8()),
      n: vectorFromArray(ints, new Int32()),
      f: vectorFromArray(floats, new Float64()),
      optText: vectorFromArray(optText, new Utf8()),
      optInt: vectorFromArray(optInt, new Int32()),
      flag: vectorFromArray(flags, new Bool()),
      optFlag: vectorFromArray(optFlags, new Bool()),
    });

    const back = parquetToTable(tableToParquet(table));

    assert.equal(back.numRows, strings.length);
    assert.deepEqual(
      back.schema.fields.map((f) => [f.name, String(f.type)]),
      [
        ['text', 'Utf8'],
        ['n', 'Int32'],
        ['f', 'Float64'],
        ['optText', 'Utf8'],
        ['optInt', 'Int32'],
        ['flag', 'Bool'],
        ['optFlag', 'Bool'],
      ],
    );
    const col = (name: string): unknown[] => [...(back.getChild(name) ?? assert.fail(`missing column ${name}`))];
    assert.deepEqual(col('text'), strings);
    assert.deepEqual(col('n'), ints);
    const f = col('f') as number[];
    floats.forEach((v, i) => assert.ok(Object.is(f[i], v), `float64 row ${i}: ${f[i]} !== ${v}`));
    assert.deepEqual(col('optText'), optText);
    assert.deepEqual(col('optInt'), optInt);
    assert.deepEqual(col('flag'), flags);
    assert.deepEqual(col('optFlag'), optFlags);
    assert.equal(back.getChild('optInt')?.nullCount, 4);
  });

  test(`FixedSizeList<Float32>[${DIM}] x ${ROWS} rows is bit-exact`, () => {
    const { table, values } = embeddingTable();
    const bytes = tableToParquet(table);
    const back = parquetToTable(bytes);

    assert.equal(back.numRows, ROWS);
    const embField = back.schema.fields.find((x) => x.name === 'emb');
    assert.equal(String(embField?.type), `FixedSizeList[${DIM}]<Float32>`);

    // The type was checked just above; the table read back is untyped.
    const got = flatFloat32((back.getChild('emb') as Vector<FixedSizeList<Float32>>).data);
    assert.equal(got.length, values.length);
    assert.deepEqual(new Uint8Array(got.buffer, got.byteOffset, got.byteLength), new Uint8Array(values.buffer));
    assert.equal(back.getChild('id')?.get(ROWS - 1), `utt-${ROWS - 1}`);
  });

  test('ZSTD by default; options for codec, row groups, metadata and projection', () => {
    const n = 5000;
    const table = new Table({
      label: vectorFromArray(
        Array.from({ length: n }, (_, i) => ['neutral', 'happy', 'sad', 'angry'][i % 4]),
        new Utf8(),
      ),
      idx: vectorFromArray(
        Array.from({ length: n }, (_, i) => i),
        new Int32(),
      ),
    });
    const zstd = tableToParquet(table, { rowGroupSize: 1000, metadata: { 'mer.schema': 'manifest/v1' } });
    const plain = tableToParquet(table, { compression: 'none', dictionary: false });
    // Every ZSTD frame starts with the magic 28 B5 2F FD; an uncompressed file has none.
    const magic = Buffer.from([0x28, 0xb5, 0x2f, 0xfd]);
    assert.ok(Buffer.from(zstd).includes(magic), 'default codec is not ZSTD');
    assert.ok(!Buffer.from(plain).includes(magic));
    assert.ok(zstd.length * 3 < plain.length, `zstd ${zstd.length} B vs plain ${plain.length} B`);

    const back = parquetToTable(zstd);
    assert.equal(back.schema.metadata.get('mer.schema'), 'manifest/v1');
    assert.deepEqual(
      [...back.getChild('idx')!],
      Array.from({ length: n }, (_, i) => i),
    );

    const group2 = parquetToTable(zstd, { rowGroups: [2], columns: ['idx', 'label'] });
    assert.deepEqual(
      group2.schema.fields.map((x) => x.name),
      ['idx', 'label'],
    );
    assert.equal(group2.numRows, 1000);
    assert.equal(group2.getChild('idx')?.get(0), 2000);
    assert.equal(group2.getChild('label')?.get(1), 'happy');
    assert.throws(() => parquetToTable(zstd, { columns: ['idx', 'nope'] }), /no column\(s\) nope/);
    const tail = parquetToTable(zstd, { offset: n - 3, limit: 2 });
    assert.deepEqual([...tail.getChild('idx')!], [n - 3, n - 2]);

    const empty = parquetToTable(tableToParquet(new Table({ idx: vectorFromArray([], new Int32()) })));
    assert.equal(empty.numRows, 0);
    assert.deepEqual(
      empty.schema.fields.map((x) => x.name),
      ['idx'],
    );
  });

  test('rejects bytes that are not parquet', () => {
    assert.throws(() => parquetToTable(new TextEncoder().encode('definitely not a parquet file')));
    assert.throws(
      () => tableToParquet(new Table({ a: vectorFromArray([1], new Int32()) }), { rowGroupSize: 0 }),
      RangeError,
    );
  });
});
