import { Binary, Field, FixedSizeList, Float32, Int32, List, Schema, Table, Utf8, makeData } from 'apache-arrow';
import type { DataType, RecordBatch } from 'apache-arrow';
import { buildColumn, structBatch } from './arrow-table.ts';
import type { Modality } from './extract.ts';

/**
 * One row per utterance of a segment shard: what the extract stage caches per modality and encoder,
 * and what VSC and training read. Stored as Parquet under
 * `features/<modality>/<featuresKey>/shards/<shard>/features.parquet`.
 *
 * - `pooled`: the mask-aware mean of the encoder's last hidden states (text: over the utterance's own
 *   positions, not its context; audio: over frames; visual: over frames x patch tokens, or with
 *   `extract.visual.pooling: cls` the mean over frames of the CLS token), float32[D].
 * - `sequence`: the last hidden states, little-endian float16, row-major [seqSteps, seqTokens, seqDim]:
 *   text [tokens, 1, D], audio [frames, 1, D], visual [frames, P, D] with P the family's patch tokens
 *   (49 for Swin-Tiny, 196 for a /16 ViT, poolGrid^2 when set; never CLS or register tokens).
 * - quarantined rows have status 'quarantined', a reason, and null features: never zero-filled.
 * Rows come in batch order (text is batched by length), the utterances quarantined before inference
 * last: look rows up by utteranceId.
 */
export const FEATURES_SCHEMA_VERSION = '1';
export const SEQUENCE_DTYPE = 'float16';

export interface FeatureRow {
  utteranceId: string;
  status: 'ok' | 'quarantined';
  reason: string | null;
  pooled: Float32Array | null;
  sequence: Uint8Array | null;
  dtype: typeof SEQUENCE_DTYPE;
  seqSteps: number | null;
  seqTokens: number | null;
  seqDim: number | null;
  /** Text only: first sequence position of the utterance itself (after [CLS], context and [SEP]). */
  utteranceTokenStart: number | null;
  /** e.g. 'audio_truncated', 'text_truncated', 'context_truncated'. */
  flags: string[];
}

export interface FeatureShardMeta {
  modality: Modality;
  dim: number;
  modelSha256: string;
  featuresKey: string;
}

function nullable(type: DataType, name: string): Field {
  return new Field(name, type, true);
}

export function featureArrowSchema(meta: FeatureShardMeta): Schema {
  return new Schema(
    [
      new Field('utteranceId', new Utf8(), false),
      new Field('status', new Utf8(), false),
      nullable(new Utf8(), 'reason'),
      nullable(new FixedSizeList(meta.dim, new Field('item', new Float32(), false)), 'pooled'),
      nullable(new Binary(), 'sequence'),
      new Field('dtype', new Utf8(), false),
      nullable(new Int32(), 'seqSteps'),
      nullable(new Int32(), 'seqTokens'),
      nullable(new Int32(), 'seqDim'),
      nullable(new Int32(), 'utteranceTokenStart'),
      new Field('flags', new List(new Field('item', new Utf8(), false)), false),
    ],
    new Map([
      ['mer.schema', 'features'],
      ['mer.schemaVersion', FEATURES_SCHEMA_VERSION],
      ['mer.modality', meta.modality],
      ['mer.dim', String(meta.dim)],
      ['mer.modelSha256', meta.modelSha256],
      ['mer.featuresKey', meta.featuresKey],
    ]),
  );
}

function validity(rows: readonly FeatureRow[], has: (r: FeatureRow) => boolean): { bitmap: Uint8Array; nulls: number } {
  const bitmap = new Uint8Array(Math.ceil(rows.length / 8));
  let nulls = 0;
  rows.forEach((r, i) => {
    if (has(r)) bitmap[i >> 3] |= 1 << (i & 7);
    else nulls++;
  });
  return { bitmap, nulls };
}

/** One record batch of feature rows; pooled vectors and blobs are copied once into contiguous buffers. */
export function featureRowsToBatch(rows: readonly FeatureRow[], schema: Schema): RecordBatch {
  const dim = Number(schema.metadata.get('mer.dim'));
  const n = rows.length;
  const pooledValues = new Float32Array(n * dim);
  rows.forEach((r, i) => {
    if (!r.pooled) return;
    if (r.pooled.length !== dim)
      throw new Error(`features: ${r.utteranceId} has a pooled vector of ${r.pooled.length}, schema says ${dim}`);
    pooledValues.set(r.pooled, i * dim);
  });
  const pv = validity(rows, (r) => r.pooled !== null);
  const pooledType = schema.fields[3].type as FixedSizeList;
  const pooled = makeData({
    type: pooledType,
    length: n,
    nullCount: pv.nulls,
    nullBitmap: pv.bitmap,
    child: makeData({ type: new Float32(), length: n * dim, nullCount: 0, data: pooledValues }),
  });

  const offsets = new Int32Array(n + 1);
  let total = 0;
  rows.forEach((r, i) => {
    total += r.sequence?.length ?? 0;
    if (total > 0x7fffffff)
      throw new RangeError('features: one record batch holds more than 2 GiB of sequences; use smaller batches');
    offsets[i + 1] = total;
  });
  const blob = new Uint8Array(total);
  rows.forEach((r, i) => r.sequence && blob.set(r.sequence, offsets[i]));
  const sv = validity(rows, (r) => r.sequence !== null);
  const sequence = makeData({
    type: new Binary(),
    length: n,
    nullCount: sv.nulls,
    nullBitmap: sv.bitmap,
    valueOffsets: offsets,
    data: blob,
  });

  const utf8 = (get: (r: FeatureRow) => string | null) => buildColumn(new Utf8(), rows.map(get));
  const int32 = (get: (r: FeatureRow) => number | null) => buildColumn(new Int32(), rows.map(get));
  const children = [
    utf8((r) => r.utteranceId),
    utf8((r) => r.status),
    utf8((r) => r.reason),
    pooled,
    sequence,
    utf8((r) => r.dtype),
    int32((r) => r.seqSteps),
    int32((r) => r.seqTokens),
    int32((r) => r.seqDim),
    int32((r) => r.utteranceTokenStart),
    buildColumn(
      schema.fields[10].type as List<Utf8>,
      rows.map((r) => r.flags),
    ),
  ];
  return structBatch(schema, n, children);
}

export function featureTable(schema: Schema, batches: RecordBatch[]): Table {
  return new Table(schema, batches);
}

const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

/** Reads feature rows back (columns by name, so a reordered file still loads). */
export function tableToFeatureRows(table: Table): FeatureRow[] {
  const col = (name: string) => {
    const c = table.getChild(name);
    if (!c) throw new Error(`features table lacks column ${name}`);
    return c;
  };
  const [id, status, reason, pooled, sequence, dtype, steps, tokens, dimC, start, flags] = [
    'utteranceId',
    'status',
    'reason',
    'pooled',
    'sequence',
    'dtype',
    'seqSteps',
    'seqTokens',
    'seqDim',
    'utteranceTokenStart',
    'flags',
  ].map(col);
  const rows: FeatureRow[] = [];
  for (let i = 0; i < table.numRows; i++) {
    const p = pooled.get(i) as { toArray(): Float32Array } | null;
    const s = sequence.get(i) as Uint8Array | null;
    const st = String(status.get(i));
    if (st !== 'ok' && st !== 'quarantined') throw new Error(`features row ${i}: status ${st}`);
    const dt = String(dtype.get(i));
    if (dt !== SEQUENCE_DTYPE) throw new Error(`features row ${i}: dtype ${dt} (this reader knows ${SEQUENCE_DTYPE})`);
    rows.push({
      utteranceId: String(id.get(i)),
      status: st,
      reason: (reason.get(i) as string | null) ?? null,
      pooled: p ? Float32Array.from(p.toArray()) : null,
      sequence: s ? Uint8Array.from(s) : null,
      dtype: SEQUENCE_DTYPE,
      seqSteps: num(steps.get(i)),
      seqTokens: num(tokens.get(i)),
      seqDim: num(dimC.get(i)),
      utteranceTokenStart: num(start.get(i)),
      flags: Array.from((flags.get(i) as Iterable<string> | null) ?? []),
    });
  }
  return rows;
}
