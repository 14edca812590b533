import type { SegmentParams } from '../../schemas/config.ts';
import type { ManifestRow } from '../../schemas/manifest.ts';
import type { MediaSource } from './media-files.ts';
import type { SegmentTools } from './tools.ts';

/** What a dataset's cutter produces for one utterance, before it is stored. */
export interface UtteranceMedia {
  /** 16 kHz mono s16le samples; null when no audio could be produced (a flag says why). */
  audio: Buffer | null;
  /** frameCount x 224 x 224 x 3 RGB bytes; null when no frames could be produced. */
  frames: Buffer | null;
  frameCount: number;
  /** Span of the source that was cut, seconds (dialog time for IEMOCAP, clip time for MELD). */
  startSec: number | null;
  endSec: number | null;
  flags: string[];
  /** Set when nothing usable came out: the row is quarantined with this reason. */
  quarantine: string | null;
}

export type Emit = (row: ManifestRow, media: UtteranceMedia) => Promise<void>;

export interface CutterEnv {
  tools: SegmentTools;
  files: MediaSource;
  params: SegmentParams;
}

export function quarantined(reason: string, flags: string[] = []): UtteranceMedia {
  return { audio: null, frames: null, frameCount: 0, startSec: null, endSec: null, flags, quarantine: reason };
}

/** Audio and frames produced separately -> one utterance: quarantined only when neither came out. */
export function combine(
  audio: { pcm: Buffer | null; flags: string[]; reason: string | null },
  frames: { data: Buffer | null; count: number; flags: string[]; reason: string | null },
  span: { startSec: number; endSec: number },
): UtteranceMedia {
  const flags = [...new Set([...audio.flags, ...frames.flags])].sort();
  if (!audio.pcm && !frames.data) {
    const reasons = [...new Set([audio.reason, frames.reason].filter((r): r is string => !!r))];
    return quarantined(reasons.join(' | ') || 'media_missing: no audio or video for this utterance', flags);
  }
  return {
    audio: audio.pcm,
    frames: frames.data,
    frameCount: frames.data ? frames.count : 0,
    startSec: span.startSec,
    endSec: span.endSec,
    flags,
    quarantine: null,
  };
}
