/**
 * Segment for one new clip: the MELD cutter (activities/segment/meld.ts), because a clip given to
 * `mer predict` is, like a MELD clip, already cut to its utterance and shows the whole picture. The
 * cutter reads media through MediaFiles by store key; here the "key" is the clip's local path. A clip
 * has no CSV duration, so the whole clip is used up to `segment.maxUtteranceSec`; the cutter opens it
 * like any corpus media (one file, an allowed container, or `not_media`).
 */
import { stat } from 'node:fs/promises';
import type { SegmentParams } from '../../schemas/config.ts';
import type { ManifestRow } from '../../schemas/manifest.ts';
import type { LocalMedia, MediaSource } from '../segment/media-files.ts';
import { cutMeld } from '../segment/meld.ts';
import type { SegmentTools } from '../segment/tools.ts';
import type { UtteranceMedia } from '../segment/utterance.ts';

/** Media "keys" that are absolute local paths, read where they lie (the user named them). */
class ClipFiles implements MediaSource {
  async open(path: string): Promise<LocalMedia | null> {
    try {
      const s = await stat(path);
      return s.isFile() ? { path, size: s.size, release: async () => {} } : null;
    } catch {
      return null;
    }
  }
}

/**
 * The manifest row the MELD cutter needs (schema-valid, unlabelled); startSec = endSec = 0 means "no
 * CSV duration": the whole clip is used.
 */
function clipRow(path: string): ManifestRow {
  return {
    utteranceId: 'clip',
    dataset: 'meld',
    split: 'test',
    session: null,
    dialogueId: 'predict',
    speaker: '',
    gender: null,
    interaction: null,
    startSec: 0,
    endSec: 0,
    text: '',
    labelNative: 'unknown',
    labelSet: 'meld7',
    labelIndex: -1,
    labelName: null,
    sentiment: 'neutral',
    valence: null,
    arousal: null,
    dominance: null,
    audioKey: null,
    videoKey: path,
    dialogAudioKey: null,
    videoHalf: null,
    season: null,
    episode: null,
    srNo: null,
    utteranceIndex: 0,
    flags: [],
  };
}

/** 16 kHz mono audio and the sampled 224x224 frames of one clip file, or a quarantine reason. */
export async function segmentClip(path: string, params: SegmentParams, tools: SegmentTools): Promise<UtteranceMedia> {
  let out: UtteranceMedia | undefined;
  // eslint-disable-next-line @typescript-eslint/require-await -- the cutter awaits its callback; this one has nothing to wait for
  await cutMeld([clipRow(path)], { tools, files: new ClipFiles(), params }, async (_row, media) => {
    out = media;
  });
  if (!out) throw new Error(`segment: the cutter produced nothing for ${path}`);
  // the flag only says that no CSV duration was given, which is always so here
  return { ...out, flags: out.flags.filter((f) => f !== 'zero_csv_duration') };
}
