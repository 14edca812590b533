import {
  Field,
  FixedSizeList,
  Float32,
  Int32,
  RecordBatch,
  Schema,
  Struct,
  Table,
  Utf8,
  makeData,
  vectorFromArray,
} from 'apache-arrow';
import { parquetToTable, tableToParquet } from '../common/parquet.ts';

/**
 * A fold's test predictions as Parquet (`models/<trainKey>/test-predictions.parquet`): one row per
 * test utterance with its fold, true and predicted class indices and the class probabilities; the
 * class names are in the metadata (`mer.classes`, JSON). The evaluate stage pools these across folds.
 */

export interface PredictionRows {
  readonly utteranceIds: readonly string[];
  /** One fold for every row, or a fold per row (pooled predictions of several folds). */
  readonly fold: string | readonly string[];
  readonly labels: Int32Array;
  readonly predicted: Int32Array;
  /** [n x classes] row-major. */
  readonly probabilities: Float32Array;
  readonly classes: readonly string[];
}

export function predictionsSchema(classes: readonly string[], meta: Record<string, string> = {}): Schema {
  return new Schema(
    [
      new Field('utteranceId', new Utf8(), false),
      new Field('fold', new Utf8(), false),
      new Field('label', new Int32(), false),
      new Field('predicted', new Int32(), false),
      new Field('probabilities', new FixedSizeList(classes.length, new Field('item', new Float32(), false)), false),
    ],
    new Map([
      ['mer.schema', 'test-predictions'],
      ['mer.schemaVersion', '1'],
      ['mer.classes', JSON.stringify(classes)],
      ...Object.entries(meta),
    ]),
  );
}

export function predictionsToParquet(rows: PredictionRows, meta: Record<string, string> = {}): Uint8Array {
  const n = rows.utteranceIds.length;
  const c = rows.classes.length;
  if (typeof rows.fold !== 'string' && rows.fold.length !== n)
    throw new RangeError(`predictions: ${rows.fold.length} folds for ${n} rows`);
  if (rows.labels.length !== n || rows.predicted.length !== n || rows.probabilities.length !== n * c) {
    throw new RangeError(
      `predictions: ${n} ids, ${rows.labels.length} labels, ${rows.predicted.length} predictions, ${rows.probabilities.length} probabilities for ${c} classes`,
    );
  }
  const schema = predictionsSchema(rows.classes, meta);
  const children = [
    vectorFromArray([...rows.utteranceIds], new Utf8()).data[0],
    vectorFromArray(typeof rows.fold === 'string' ? new Array<string>(n).fill(rows.fold) : [...rows.fold], new Utf8())
      .data[0],
    makeData({ type: new Int32(), length: n, nullCount: 0, data: rows.labels }),
    makeData({ type: new Int32(), length: n, nullCount: 0, data: rows.predicted }),
    makeData({
      type: schema.fields[4].type as FixedSizeList,
      length: n,
      nullCount: 0,
      child: makeData({ type: new Float32(), length: n * c, nullCount: 0, data: rows.probabilities }),
    }),
  ];
  const struct = makeData({ type: new Struct(schema.fields), length: n, nullCount: 0, children });
  return tableToParquet(new Table(schema, [new RecordBatch(schema, struct)]), { dictionary: false });
}

/** Reads a predictions file back, checking its shape; `name` appears in errors. */
export function parquetToPredictions(bytes: Uint8Array, name: string): PredictionRows & { fold: string[] } {
  const table = parquetToTable(bytes);
  const fail = (msg: string): never => {
    throw new Error(`predictions ${name}: ${msg}`);
  };
  if (table.schema.metadata.get('mer.schema') !== 'test-predictions')
    fail('not a test-predictions file (metadata mer.schema)');
  let classes: string[] = [];
  try {
    classes = JSON.parse(table.schema.metadata.get('mer.classes') ?? '') as string[];
  } catch {
    fail('metadata mer.classes is not JSON');
  }
  const col = (k: string) => table.getChild(k) ?? fail(`column ${k} is missing`);
  const ids = [...col('utteranceId')].map(String);
  const folds = [...col('fold')].map(String);
  const ints = (k: string) => Int32Array.from([...col(k)].map((v) => Number(v)));
  const labels = ints('label');
  const predicted = ints('predicted');
  const c = classes.length;
  const probabilities = new Float32Array(ids.length * c);
  let i = 0;
  for (const row of col('probabilities')) {
    // Each row is an Arrow Vector: read by get(k) (bracket indexing gives undefined, hence NaN).
    const values = row as { length: number; get(k: number): unknown } | null;
    if (!values || values.length !== c) fail(`row ${i} has ${values?.length ?? 0} probabilities for ${c} classes`);
    for (let k = 0; k < c; k++) probabilities[i * c + k] = Number(values!.get(k));
    i++;
  }
  for (let r = 0; r < ids.length; r++) {
    if (!(labels[r] >= 0 && labels[r] < c) || !(predicted[r] >= 0 && predicted[r] < c))
      fail(`row ${r} (${ids[r]}): class index outside 0..${c - 1}`);
  }
  return { utteranceIds: ids, fold: folds, labels, predicted, probabilities, classes };
}
