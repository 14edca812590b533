import { SEQUENCE_DTYPE } from '../../schemas/features.ts';
import { FeatureShardCorruptError } from '../common/shard-errors.ts';
import {
  binaryColumn,
  fixedFloat32Column,
  intColumn,
  stringColumn,
  type ParquetGroups,
} from '../common/parquet-groups.ts';

/**
 * Reading the extract stage's feature shards (schemas/features.ts) without decoding what a reader
 * does not need: the index (ids, status, sequence shapes), the pooled vectors, or the float16
 * sequences of one row group at a time. Every schema violation names the shard, row and utterance.
 */

export interface FeatureIndexRow {
  readonly utteranceId: string;
  /** false for quarantined rows, which have no features. */
  readonly ok: boolean;
  readonly steps: number;
  readonly tokens: number;
  readonly dim: number;
}

export interface FeatureIndex {
  readonly rows: readonly FeatureIndexRow[];
  /** `mer.dim` of the file: the pooled width, and the sequence width of every row. */
  readonly dim: number;
  readonly modality: string | undefined;
}

const INDEX_COLUMNS = ['utteranceId', 'status', 'dtype', 'seqSteps', 'seqTokens', 'seqDim'];

function fileDim(groups: ParquetGroups): number {
  const dim = Number(groups.metadata.get('mer.dim'));
  if (!Number.isInteger(dim) || dim < 1)
    throw new FeatureShardCorruptError(groups.name, `metadata mer.dim is ${String(groups.metadata.get('mer.dim'))}`);
  return dim;
}

/** Ids, status and sequence shapes of every row, validated; reads no feature values. */
export async function readFeatureIndex(groups: ParquetGroups): Promise<FeatureIndex> {
  const dim = fileDim(groups);
  const rows: FeatureIndexRow[] = [];
  const seen = new Set<string>();
  for await (const t of groups.readAll(INDEX_COLUMNS)) {
    const ids = stringColumn(t, 'utteranceId', groups.name);
    const status = stringColumn(t, 'status', groups.name);
    const dtype = stringColumn(t, 'dtype', groups.name);
    const steps = intColumn(t, 'seqSteps', groups.name);
    const tokens = intColumn(t, 'seqTokens', groups.name);
    const dims = intColumn(t, 'seqDim', groups.name);
    for (let j = 0; j < ids.length; j++) {
      const at = rows.length;
      const id = ids[j];
      const fail = (what: string): never => {
        throw new FeatureShardCorruptError(groups.name, `row ${at} (${id ?? 'no id'}): ${what}`);
      };
      if (!id) fail('empty utteranceId');
      if (seen.has(id!)) fail('utteranceId appears twice');
      seen.add(id!);
      if (status[j] === 'quarantined') {
        rows.push({ utteranceId: id!, ok: false, steps: 0, tokens: 0, dim });
        continue;
      }
      if (status[j] !== 'ok') fail(`status ${String(status[j])}`);
      if (dtype[j] !== SEQUENCE_DTYPE) fail(`dtype ${String(dtype[j])}, expected ${SEQUENCE_DTYPE}`);
      const s = steps[j];
      const k = tokens[j];
      const d = dims[j];
      if (s === null || !Number.isInteger(s) || s < 0) fail(`seqSteps ${String(s)}`);
      if (k === null || !Number.isInteger(k) || k < 1) fail(`seqTokens ${String(k)}`);
      if (d !== dim) fail(`seqDim ${String(d)}, the file's dim is ${dim}`);
      rows.push({ utteranceId: id!, ok: true, steps: s!, tokens: k!, dim });
    }
  }
  return { rows, dim, modality: groups.metadata.get('mer.modality') };
}

/**
 * Pooled vectors of the ok rows, copied out of the decoded buffers; only the ids in `want` when
 * given. Quarantined rows are absent from the result.
 */
export async function readPooled(
  groups: ParquetGroups,
  want?: ReadonlySet<string>,
): Promise<{ dim: number; vectors: Map<string, Float32Array> }> {
  const dim = fileDim(groups);
  const vectors = new Map<string, Float32Array>();
  let at = 0;
  for await (const t of groups.readAll(['utteranceId', 'status', 'pooled'])) {
    const ids = stringColumn(t, 'utteranceId', groups.name);
    const status = stringColumn(t, 'status', groups.name);
    const pooled = fixedFloat32Column(t, 'pooled', groups.name);
    if (pooled.width !== dim)
      throw new FeatureShardCorruptError(groups.name, `pooled width ${pooled.width}, metadata mer.dim ${dim}`);
    for (let j = 0; j < ids.length; j++, at++) {
      const id = ids[j]!;
      if (status[j] !== 'ok') continue;
      const v = pooled.rows[j];
      if (!v) throw new FeatureShardCorruptError(groups.name, `row ${at} (${id}): status ok but no pooled vector`);
      if (want && !want.has(id)) continue;
      if (vectors.has(id))
        throw new FeatureShardCorruptError(groups.name, `row ${at} (${id}): utteranceId appears twice`);
      vectors.set(id, Float32Array.from(v));
    }
  }
  return { dim, vectors };
}

/** The float16 sequence blobs of one row group (views; null for quarantined rows), checked against the index. */
export async function readSequenceGroup(
  groups: ParquetGroups,
  group: number,
  firstRow: number,
  index: FeatureIndex,
): Promise<Array<Uint8Array | null>> {
  const t = await groups.readGroup(group, ['utteranceId', 'sequence']);
  const ids = stringColumn(t, 'utteranceId', groups.name);
  const blobs = binaryColumn(t, 'sequence', groups.name);
  return blobs.map((blob, j) => {
    const row = index.rows[firstRow + j];
    const fail = (what: string): never => {
      throw new FeatureShardCorruptError(groups.name, `row ${firstRow + j} (${ids[j] ?? 'no id'}): ${what}`);
    };
    if (!row || row.utteranceId !== ids[j]) fail('row order differs between reads');
    if (!row.ok) return null;
    const want = row.steps * row.tokens * row.dim * 2;
    if (!blob) fail('status ok but no sequence');
    if (blob!.length !== want)
      fail(`sequence has ${blob!.length} bytes, shape [${row.steps}, ${row.tokens}, ${row.dim}] float16 needs ${want}`);
    return blob;
  });
}
