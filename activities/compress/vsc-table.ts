import {
  Float32,
  Int32,
  RecordBatch,
  Struct,
  Table,
  Utf8,
  makeData,
  vectorFromArray,
  type FixedSizeList,
} from 'apache-arrow';
import { vscArrowSchema } from '../../schemas/compress.ts';
import { tableToParquet } from '../common/parquet.ts';
import { FeatureShardCorruptError } from '../common/shard-errors.ts';
import { fixedFloat32Column, intColumn, stringColumn, type ParquetGroups } from '../common/parquet-groups.ts';

/** Compressed sequences of some utterances: [n x maxFrames x dim] zero-padded, with lengths. */
export interface VscRows {
  readonly ids: readonly string[];
  readonly lengths: Int32Array;
  readonly sequences: Float32Array;
}

export interface VscOutputShape {
  readonly maxFrames: number;
  readonly dim: number;
}

/** Rows per row group: about 3 MB of 15 x 768 float32 sequences, the unit a loader holds decoded. */
export const VSC_ROW_GROUP = 64;

export function vscRowsToParquet(rows: VscRows, shape: VscOutputShape, vscKey: string): Uint8Array {
  const n = rows.ids.length;
  const width = shape.maxFrames * shape.dim;
  if (rows.lengths.length !== n || rows.sequences.length !== n * width) {
    throw new RangeError(
      `vsc rows: ${n} ids, ${rows.lengths.length} lengths, ${rows.sequences.length} values (width ${width})`,
    );
  }
  const schema = vscArrowSchema(shape.maxFrames, shape.dim, vscKey);
  const seqType = schema.fields[2].type as FixedSizeList;
  const children = [
    vectorFromArray([...rows.ids], new Utf8()).data[0],
    makeData({ type: new Int32(), length: n, nullCount: 0, data: rows.lengths }),
    makeData({
      type: seqType,
      length: n,
      nullCount: 0,
      child: makeData({ type: new Float32(), length: n * width, nullCount: 0, data: rows.sequences }),
    }),
  ];
  const struct = makeData({ type: new Struct(schema.fields), length: n, nullCount: 0, children });
  const table = new Table(schema, [new RecordBatch(schema, struct)]);
  // Dictionary encoding only bloats float columns; zero padding still compresses under zstd.
  return tableToParquet(table, { rowGroupSize: VSC_ROW_GROUP, dictionary: false });
}

/** The shape a VSC shard declares in its metadata. */
export function vscShardShape(groups: ParquetGroups): VscOutputShape {
  const maxFrames = Number(groups.metadata.get('mer.frames'));
  const dim = Number(groups.metadata.get('mer.dim'));
  if (groups.metadata.get('mer.schema') !== 'visual-vsc-shard' || !(maxFrames >= 1) || !(dim >= 1)) {
    throw new FeatureShardCorruptError(groups.name, 'not a VSC shard (metadata mer.schema/mer.frames/mer.dim)');
  }
  return { maxFrames, dim };
}

export interface VscGroup {
  readonly ids: string[];
  readonly lengths: number[];
  /** Per-row views of maxFrames x dim values. */
  readonly sequences: Float32Array[];
}

/** One row group of a VSC shard, validated against the declared shape. */
export async function readVscGroup(groups: ParquetGroups, group: number, shape: VscOutputShape): Promise<VscGroup> {
  const t = await groups.readGroup(group, ['utteranceId', 'length', 'sequence']);
  const ids = stringColumn(t, 'utteranceId', groups.name);
  const lengths = intColumn(t, 'length', groups.name);
  const seq = fixedFloat32Column(t, 'sequence', groups.name);
  if (seq.width !== shape.maxFrames * shape.dim) {
    throw new FeatureShardCorruptError(
      groups.name,
      `sequence width ${seq.width}, metadata says ${shape.maxFrames} x ${shape.dim}`,
    );
  }
  const sequences: Float32Array[] = [];
  ids.forEach((id, j) => {
    const len = lengths[j];
    const s = seq.rows[j];
    if (!id || len === null || !(len >= 0 && len <= shape.maxFrames) || !s) {
      throw new FeatureShardCorruptError(
        groups.name,
        `row group ${group} row ${j} (${id ?? 'no id'}): length ${String(len)} or sequence missing`,
      );
    }
    sequences.push(s);
  });
  return { ids: ids as string[], lengths: lengths as number[], sequences };
}
