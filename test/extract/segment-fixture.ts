/**
 * A small segment-stage output built directly from the schemas/segment.ts contract (WAV audio,
 * deflated frames, Parquet shard index, commit marker) plus the acquire manifest it came from, so
 * the extract stage is tested without running the segment stage.
 */
import { deflateRawSync } from 'node:zlib';
import { Field, Float64, Int32, List, Schema, Table, Utf8 } from 'apache-arrow';
import type { DataType } from 'apache-arrow';
import { tableToParquet } from '../../activities/common/parquet.ts';
import { buildColumn, structBatch } from '../../schemas/arrow-table.ts';
import type { ObjectStore } from '../../activities/store/types.ts';
import { rowsToArrowTable, type ManifestRow } from '../../schemas/manifest.ts';
import { SEGMENT_FRAME_SIZE, type SegmentRow } from '../../schemas/segment.ts';
import { framesRgb, lcgSamples, wavBytes } from './inputs.ts';

export interface UtteranceSpec {
  id: string;
  dialogue: string;
  index: number;
  text: string;
  /** Samples of generated audio, or raw bytes stored as the audio object (a corrupt WAV), or null for none. */
  audio: { samples: number; seed: number } | { bytes: Uint8Array; samples: number } | null;
  frames: { count: number; seed: number } | null;
  /** The segment stage quarantined it (no media at all). */
  segmentQuarantine?: string;
}

export function manifestRow(u: UtteranceSpec, i: number): ManifestRow {
  return {
    utteranceId: u.id,
    dataset: 'meld',
    split: 'train',
    session: null,
    dialogueId: u.dialogue,
    speaker: 'Joey',
    gender: null,
    interaction: null,
    startSec: 0,
    endSec: 1,
    text: u.text,
    labelNative: 'neutral',
    labelSet: 'meld7',
    labelIndex: 0,
    labelName: 'neutral',
    sentiment: 'neutral',
    valence: null,
    arousal: null,
    dominance: null,
    audioKey: null,
    videoKey: null,
    dialogAudioKey: null,
    videoHalf: null,
    season: 1,
    episode: 1,
    srNo: i,
    utteranceIndex: u.index,
    flags: [],
  };
}

const INDEX_COLUMNS: Array<[keyof SegmentRow, DataType]> = [
  ['utteranceId', new Utf8()],
  ['dataset', new Utf8()],
  ['status', new Utf8()],
  ['reason', new Utf8()],
  ['audioKey', new Utf8()],
  ['sampleRate', new Int32()],
  ['samples', new Int32()],
  ['framesKey', new Utf8()],
  ['frameCount', new Int32()],
  ['frameHeight', new Int32()],
  ['frameWidth', new Int32()],
  ['startSec', new Float64()],
  ['endSec', new Float64()],
  ['flags', new List(new Field('item', new Utf8(), false))],
];

export function segmentIndexTable(rows: readonly SegmentRow[]): Table {
  const schema = new Schema(INDEX_COLUMNS.map(([name, type]) => new Field(name, type, true)));
  const children = INDEX_COLUMNS.map(([name, type]) =>
    buildColumn(
      type,
      rows.map((r) => r[name]),
    ),
  );
  return new Table(schema, [structBatch(schema, rows.length, children)]);
}

export interface BuiltSegments {
  segmentPrefix: string;
  shardKeys: string[];
  manifestKey: string;
  rows: SegmentRow[][];
}

/** Writes the utterances as consecutive shards of `shardSize` and commits the segment output. */
export async function buildSegments(
  store: ObjectStore,
  segKey: string,
  utterances: readonly UtteranceSpec[],
  shardSize: number,
): Promise<BuiltSegments> {
  const prefix = `segments/${segKey}`;
  const manifestKey = `datasets/meld/${segKey}-manifest/manifest.parquet`;
  await store.put(manifestKey, tableToParquet(rowsToArrowTable(utterances.map(manifestRow))));
  const shardKeys: string[] = [];
  const all: SegmentRow[][] = [];
  for (let s = 0; s * shardSize < utterances.length; s++) {
    const rows: SegmentRow[] = [];
    for (const u of utterances.slice(s * shardSize, (s + 1) * shardSize)) {
      const q = u.segmentQuarantine ?? null;
      let audioKey: string | null = null;
      let samples: number | null = null;
      if (!q && u.audio) {
        audioKey = `${prefix}/audio/${u.id}.wav`;
        samples = u.audio.samples;
        await store.put(
          audioKey,
          'bytes' in u.audio ? u.audio.bytes : wavBytes(lcgSamples(u.audio.samples, u.audio.seed)),
        );
      }
      let framesKey: string | null = null;
      if (!q && u.frames) {
        framesKey = `${prefix}/frames/${u.id}.rgb.deflate`;
        await store.put(framesKey, deflateRawSync(framesRgb(u.frames.count, u.frames.seed)));
      }
      rows.push({
        utteranceId: u.id,
        dataset: 'meld',
        status: q ? 'quarantined' : 'ok',
        reason: q,
        audioKey,
        sampleRate: audioKey ? 16000 : null,
        samples,
        framesKey,
        frameCount: framesKey ? u.frames!.count : null,
        frameHeight: framesKey ? SEGMENT_FRAME_SIZE : null,
        frameWidth: framesKey ? SEGMENT_FRAME_SIZE : null,
        startSec: q ? null : 0,
        endSec: q ? null : 1,
        flags: q ? [] : u.frames ? [] : ['no_video_stream'],
      });
    }
    const key = `${prefix}/shards/${String(s).padStart(5, '0')}.parquet`;
    await store.put(key, tableToParquet(segmentIndexTable(rows)));
    shardKeys.push(key);
    all.push(rows);
  }
  await store.commit(prefix, { stage: 'segment', summary: { shards: shardKeys.length } });
  return { segmentPrefix: prefix, shardKeys, manifestKey, rows: all };
}
