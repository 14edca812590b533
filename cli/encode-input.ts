/**
 * `mer encode`'s input as the segment stage would store it: one utterance's media cut by the segment
 * stage's own code and written, as its shard writer writes them, into a throwaway local store, plus
 * the shard index row that points at them. The extract stage's runner then reads exactly what it
 * reads in a run.
 *  - `--audio FILE`: the whole-file audio path of the IEMOCAP cutter (segment-format WAV re-wrapped
 *    without a process, anything else converted by ffmpeg to 16 kHz mono s16le).
 *  - `--image FILE`: one picture through the segment stage's fit filters (`segment.aspect`) to a
 *    224x224 RGB frame.
 *  - `--clip FILE`: the clip preparation `mer predict` uses (the MELD cutter: sampled frames and
 *    16 kHz audio of the whole clip).
 *  - `--text`: no media; the text (and context) is what the manifest would hold.
 */
import { stat } from 'node:fs/promises';
import { deflateRawSync, constants as zlibConstants } from 'node:zlib';
import { ErrorTypes, MerError } from '../activities/common/errors.ts';
import { encodeSegmentWav, SEGMENT_SAMPLE_RATE } from '../activities/common/wav.ts';
import { segmentClip } from '../activities/predict/segment.ts';
import { wholeFileAudio } from '../activities/segment/audio.ts';
import { fitFilters, FRAME_BYTES } from '../activities/segment/geometry.ts';
import type { LocalMedia } from '../activities/segment/media-files.ts';
import { toolMessage, type SegmentTools } from '../activities/segment/tools.ts';
import { ToolError } from '../activities/common/run-tool.ts';
import type { ObjectStore } from '../activities/store/types.ts';
import type { SegmentParams } from '../schemas/config.ts';
import type { Modality } from '../schemas/extract.ts';
import { blankSegmentRow, maxUtteranceSec, SEGMENT_FRAME_SIZE, type SegmentRow } from '../schemas/segment.ts';

export type EncodeSource =
  | { kind: 'text'; text: string; context: string[] }
  | { kind: 'audio'; path: string }
  | { kind: 'image'; path: string }
  | { kind: 'clip'; path: string };

/** The utterance id the row and the store keys use. */
export const UTTERANCE_ID = 'encode';
const AUDIO_KEY = `segments/encode/audio/${UTTERANCE_ID}.wav`;
const FRAMES_KEY = `segments/encode/frames/${UTTERANCE_ID}.rgb.deflate`;

export interface PreparedInput {
  row: SegmentRow;
  /** What the segment stage cut: audio samples at 16 kHz, frames of 224x224x3. */
  media: { samples: number | null; frames: number | null; flags: string[] };
}

function inputError(message: string, file: string): MerError {
  return new MerError(ErrorTypes.ConfigInvalid, message, { file });
}

async function localFile(path: string, flag: string): Promise<LocalMedia> {
  let size: number;
  try {
    const s = await stat(path);
    if (!s.isFile()) throw inputError(`${flag}: ${path} is not a file`, path);
    size = s.size;
  } catch (err) {
    if (err instanceof MerError) throw err;
    throw inputError(`${flag}: ${path} does not exist`, path);
  }
  return { path, size, release: async () => {} };
}

function baseRow(): SegmentRow {
  return blankSegmentRow(UTTERANCE_ID);
}

/** A quarantined segment row: the runner's screen turns it into the extract stage's quarantined row. */
function quarantinedRow(reason: string, flags: string[] = []): PreparedInput {
  return {
    row: { ...baseRow(), status: 'quarantined', reason, startSec: null, flags },
    media: { samples: null, frames: null, flags },
  };
}

/** Stores media as the segment shard writer does (WAV; raw deflate at its level) and fills the row. */
async function storeMedia(
  store: ObjectStore,
  m: { audio: Buffer | null; frames: Buffer | null; frameCount: number; endSec: number | null; flags: string[] },
): Promise<PreparedInput> {
  const row = { ...baseRow(), endSec: m.endSec, flags: m.flags };
  if (m.audio) {
    await store.put(AUDIO_KEY, encodeSegmentWav(m.audio));
    Object.assign(row, { audioKey: AUDIO_KEY, sampleRate: SEGMENT_SAMPLE_RATE, samples: m.audio.length / 2 });
  }
  if (m.frames) {
    await store.put(FRAMES_KEY, deflateRawSync(m.frames, { level: zlibConstants.Z_BEST_SPEED }));
    Object.assign(row, {
      framesKey: FRAMES_KEY,
      frameCount: m.frameCount,
      frameHeight: SEGMENT_FRAME_SIZE,
      frameWidth: SEGMENT_FRAME_SIZE,
    });
  }
  return {
    row,
    media: { samples: m.audio ? m.audio.length / 2 : null, frames: m.frames ? m.frameCount : null, flags: m.flags },
  };
}

/** One picture -> one 224x224 RGB frame under the segment stage's aspect policy. */
async function imageFrame(tools: SegmentTools, media: LocalMedia, aspect: SegmentParams['aspect']): Promise<Buffer> {
  if (media.size === 0) throw inputError(`--image: ${media.path} is an empty file`, media.path);
  try {
    const { stdout } = await tools.run(
      [
        '-nostdin',
        '-hide_banner',
        '-loglevel',
        'error',
        // one picture file, read by the image demuxer only (no patterns, no other protocol)
        '-f',
        'image2',
        '-protocol_whitelist',
        'file',
        '-pattern_type',
        'none',
        '-i',
        `file:${media.path}`,
        '-frames:v',
        '1',
        '-vf',
        fitFilters(aspect),
        '-f',
        'rawvideo',
        '-pix_fmt',
        'rgb24',
        'pipe:1',
      ],
      { timeoutMs: 60_000, maxStdoutBytes: FRAME_BYTES * 2 },
    );
    if (stdout.length !== FRAME_BYTES) throw new Error(`ffmpeg wrote ${stdout.length} bytes, expected ${FRAME_BYTES}`);
    return stdout;
  } catch (err) {
    const why =
      err instanceof ToolError && err.reason === 'exit' ? toolMessage(err.stderrTail, media.path) : String(err);
    throw inputError(`--image: ffmpeg cannot read ${media.path} as a picture: ${why}`, media.path);
  }
}

/** The segment row (and stored media) for `source`, as the segment stage would make them for `modality`. */
export async function prepareInput(
  source: EncodeSource,
  modality: Modality,
  params: SegmentParams,
  tools: SegmentTools,
  store: ObjectStore,
): Promise<PreparedInput> {
  switch (source.kind) {
    case 'text':
      // text is read from the manifest; the segment row only has to exist (and be ok or not: text ignores it)
      return { row: baseRow(), media: { samples: null, frames: null, flags: [] } };
    case 'audio': {
      const media = await localFile(source.path, '--audio');
      const out = await wholeFileAudio(tools, media, 'audio file', maxUtteranceSec(params));
      if (!out.pcm) return quarantinedRow(out.reason);
      return storeMedia(store, {
        audio: out.pcm,
        frames: null,
        frameCount: 0,
        endSec: out.pcm.length / 2 / SEGMENT_SAMPLE_RATE,
        flags: out.flags,
      });
    }
    case 'image': {
      const frame = await imageFrame(tools, await localFile(source.path, '--image'), params.aspect);
      return storeMedia(store, { audio: null, frames: frame, frameCount: 1, endSec: null, flags: [] });
    }
    case 'clip': {
      await localFile(source.path, '--clip');
      const m = await segmentClip(source.path, params, tools);
      if (m.quarantine !== null) return quarantinedRow(m.quarantine, m.flags);
      // only the modality being encoded is stored: the other one's absence is no reason here
      return storeMedia(store, {
        audio: modality === 'audio' ? m.audio : null,
        frames: modality === 'visual' ? m.frames : null,
        frameCount: m.frameCount,
        endSec: m.endSec,
        flags: m.flags,
      });
    }
  }
}
