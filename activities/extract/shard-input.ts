/**
 * What one extract activity reads besides the model: a segment shard's index (schemas/segment.ts)
 * and, for text, the manifest's utterance texts grouped by dialogue for the k-previous-utterances
 * context.
 */
import type { Table } from 'apache-arrow';
import { arrowTableToRows } from '../../schemas/manifest.ts';
import { SegmentRowSchema, type SegmentRow } from '../../schemas/segment.ts';
import { ErrorTypes, MerError } from '../common/errors.ts';
import { parquetToTable } from '../common/parquet.ts';
import type { ObjectStore } from '../store/types.ts';

const SEGMENT_FIELDS = Object.keys(SegmentRowSchema.shape) as Array<keyof SegmentRow>;

function plain(v: unknown): unknown {
  if (typeof v === 'bigint') return Number(v);
  if (v !== null && typeof v === 'object' && Symbol.iterator in v && typeof v !== 'string')
    return Array.from(v as Iterable<unknown>, plain);
  return v;
}

/** Rows of a segment shard index, validated against the contract; a violation names row and field. */
export async function readSegmentShard(store: ObjectStore, shardKey: string): Promise<SegmentRow[]> {
  let table: Table;
  try {
    table = parquetToTable(await store.get(shardKey));
  } catch (err) {
    if ((err as Error).name === 'StoreNotFoundError') throw err;
    throw new MerError(
      ErrorTypes.SegmentsInvalid,
      `${shardKey}: not a readable Parquet shard index (${(err as Error).message})`,
      { key: shardKey },
    );
  }
  const missing = SEGMENT_FIELDS.filter((f) => !table.getChild(f));
  if (missing.length)
    throw new MerError(ErrorTypes.SegmentsInvalid, `${shardKey}: shard index lacks column(s) ${missing.join(', ')}`, {
      key: shardKey,
    });
  const cols = SEGMENT_FIELDS.map((f) => [f, table.getChild(f)!] as const);
  const rows: SegmentRow[] = [];
  for (let i = 0; i < table.numRows; i++) {
    const raw: Record<string, unknown> = {};
    for (const [f, c] of cols) raw[f] = plain(c.get(i));
    const parsed = SegmentRowSchema.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new MerError(
        ErrorTypes.SegmentsInvalid,
        `${shardKey}: row ${i} (${String(raw.utteranceId)}): field ${issue?.path.join('.')}: ${issue?.message}`,
        { key: shardKey, row: i },
      );
    }
    rows.push(parsed.data);
  }
  return rows;
}

interface Utterance {
  text: string;
  dialogue: string;
  index: number;
}

export interface DialogueTexts {
  text(utteranceId: string): string | undefined;
  /** Texts of up to k utterances before this one in its dialogue, oldest first. */
  context(utteranceId: string, k: number): string[];
}

/** Manifests are content-addressed (immutable), so a parsed one can serve every shard of a run. */
const manifests = new Map<string, Promise<DialogueTexts>>();
const MAX_CACHED_MANIFESTS = 2;

async function load(store: ObjectStore, manifestKey: string): Promise<DialogueTexts> {
  const rows = arrowTableToRows(parquetToTable(await store.get(manifestKey)));
  const byId = new Map<string, Utterance>();
  const dialogues = new Map<string, Array<{ id: string; index: number }>>();
  for (const r of rows) {
    const dialogue = `${r.dataset}/${r.dialogueId}`;
    byId.set(r.utteranceId, { text: r.text, dialogue, index: r.utteranceIndex });
    let d = dialogues.get(dialogue);
    if (!d) dialogues.set(dialogue, (d = []));
    d.push({ id: r.utteranceId, index: r.utteranceIndex });
  }
  const position = new Map<string, number>();
  for (const d of dialogues.values()) {
    d.sort((a, b) => a.index - b.index || (a.id < b.id ? -1 : 1));
    d.forEach((u, i) => position.set(u.id, i));
  }
  return {
    text: (id) => byId.get(id)?.text,
    context: (id, k) => {
      const u = byId.get(id);
      if (!u || k <= 0) return [];
      const d = dialogues.get(u.dialogue)!;
      const p = position.get(id)!;
      return d.slice(Math.max(0, p - k), p).map((x) => byId.get(x.id)!.text);
    },
  };
}

export function dialogueTexts(store: ObjectStore, manifestKey: string): Promise<DialogueTexts> {
  let p = manifests.get(manifestKey);
  if (!p) {
    if (manifests.size >= MAX_CACHED_MANIFESTS) manifests.delete(manifests.keys().next().value!);
    p = load(store, manifestKey);
    manifests.set(manifestKey, p);
    p.catch(() => manifests.delete(manifestKey));
  }
  return p;
}
