import { z } from 'zod';

/**
 * What the segment stage writes for every utterance, and what the extract stage reads. Media objects:
 *  - audio: 16 kHz mono 16-bit PCM WAV (44-byte canonical header), `segments/<segKey>/audio/<utteranceId>.wav`
 *  - frames: F frames of 224x224 RGB, uint8, laid out [F, 224, 224, 3] row-major, deflate-compressed
 *    (node:zlib deflateRaw), `segments/<segKey>/frames/<utteranceId>.rgb.deflate`
 * Per shard, a Parquet index `segments/<segKey>/shards/<shard>.parquet` with one row per utterance of
 * the shard (quarantined ones included, with their reason), and `segments/<segKey>/report.json`.
 * `<shard>` is the shard's 0-based index, zero-padded to 5 digits; report.json lists the shard keys.
 * `segments/<segKey>/rows/<utteranceId>.json` holds each utterance's row as soon as its media are
 * stored: the per-utterance commit that lets a retried shard skip finished utterances.
 * An 'ok' row has at least one modality; a modality that could not be produced has null keys/counts
 * and a flag saying why (e.g. 'no_audio_stream', 'video_missing').
 */
export const SEGMENT_FRAME_SIZE = 224;

/**
 * `segment.maxUtteranceSec` when the config leaves it unset: real IEMOCAP and MELD utterances last
 * seconds to tens of seconds, while a hostile annotation or clip claiming hours would otherwise be
 * decoded and stored that long. Unset rather than defaulted in the config schema, so that configs,
 * cache keys and model recipes that never name it stay as they were.
 */
export const DEFAULT_MAX_UTTERANCE_SEC = 300;

/** The longest utterance the segment stage cuts, seconds (longer ones: the `overlong` policy). */
export const maxUtteranceSec = (p: { maxUtteranceSec?: number }): number =>
  p.maxUtteranceSec ?? DEFAULT_MAX_UTTERANCE_SEC;

export const SegmentRowSchema = z.strictObject({
  utteranceId: z.string().min(1),
  dataset: z.enum(['iemocap', 'meld']),
  /** 'ok' rows have media; 'quarantined' rows have none and say why. */
  status: z.enum(['ok', 'quarantined']),
  reason: z.string().nullable(),
  audioKey: z.string().nullable(),
  sampleRate: z.number().int().nullable(),
  samples: z.number().int().nonnegative().nullable(),
  framesKey: z.string().nullable(),
  frameCount: z.number().int().nonnegative().nullable(),
  frameHeight: z.number().int().nullable(),
  frameWidth: z.number().int().nullable(),
  /** Seconds of the source the utterance was cut from (after any over-long clip policy). */
  startSec: z.number().nullable(),
  endSec: z.number().nullable(),
  /** e.g. 'overlong_clip_cut', 'overlong_utterance_cut', 'two_frame_clip', 'audio_from_dialog', 'no_audio_stream'. */
  flags: z.array(z.string()),
});
export type SegmentRow = z.infer<typeof SegmentRowSchema>;

/** An 'ok' row with no media yet: what `mer encode` and the benchmarks fill in for one input. */
export function blankSegmentRow(utteranceId: string, over: Partial<SegmentRow> = {}): SegmentRow {
  return {
    utteranceId,
    dataset: 'meld',
    status: 'ok',
    reason: null,
    audioKey: null,
    sampleRate: null,
    samples: null,
    framesKey: null,
    frameCount: null,
    frameHeight: null,
    frameWidth: null,
    startSec: 0,
    endSec: null,
    flags: [],
    ...over,
  };
}
