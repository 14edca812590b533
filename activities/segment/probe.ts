import {
  mediaDemuxer,
  refusedDemuxer,
  MEDIA_CONTAINERS,
  type MediaDemuxer,
  type ProbeResult,
} from '../common/ffprobe.ts';
import { ToolError } from '../common/run-tool.ts';
import type { LocalMedia } from './media-files.ts';
import { toolMessage, type SegmentTools } from './tools.ts';

/**
 * ffprobe before any cut: a file that cannot be read becomes a quarantine reason (never an activity
 * failure), one that can gives the durations, rates and sizes every cut is planned from, and the
 * demuxer every later ffmpeg run on it is forced to (common/ffprobe.ts mediaInputArgs). A file whose
 * content is not one of the allowed containers (a playlist, a concat list, an SDP...) is refused by
 * the probe itself before it opens anything, and quarantined as `not_media`.
 */

export type Probed =
  { ok: true; probe: ProbeResult; durationSec: number; demuxer: MediaDemuxer } | { ok: false; reason: string };

const notMedia = (what: string, format: string): string =>
  `not_media: the ${what} holds ${format} content, not media in one of the containers read here (${MEDIA_CONTAINERS})`;

export async function probeMedia(tools: SegmentTools, media: LocalMedia, what: string): Promise<Probed> {
  if (media.refused) return { ok: false, reason: media.refused };
  if (media.size === 0) return { ok: false, reason: `zero_length: the ${what} is an empty file` };
  let probe: ProbeResult;
  try {
    // `file:` keeps a path that contains a colon from being read as a protocol name.
    probe = await tools.probe(`file:${media.path}`);
  } catch (err) {
    if (err instanceof ToolError && err.reason === 'exit') {
      const refused = refusedDemuxer(err.stderrTail);
      if (refused) return { ok: false, reason: notMedia(what, refused) };
      return {
        ok: false,
        reason: `corrupt: ffprobe cannot read the ${what}: ${toolMessage(err.stderrTail, media.path)}`,
      };
    }
    if (err instanceof ToolError && err.reason === 'timeout')
      return { ok: false, reason: `corrupt: ffprobe timed out on the ${what}` };
    // Cancellation, a missing binary or unparsable output: not a property of this file.
    throw err;
  }
  // The probe ran under the same allow-list; this holds even for a build that ignored it.
  const demuxer = mediaDemuxer(probe.format.formatName);
  if (!demuxer) return { ok: false, reason: notMedia(what, probe.format.formatName) };
  if (!probe.video && !probe.audio) return { ok: false, reason: `corrupt: the ${what} has no audio or video stream` };
  const durationSec = probe.format.duration ?? probe.video?.duration ?? probe.audio?.duration ?? 0;
  if (!(durationSec > 0)) return { ok: false, reason: `zero_length: the ${what} has no duration` };
  if (probe.video && probe.video.frames === 0 && !probe.audio)
    return { ok: false, reason: `zero_length: the ${what} has no video frames` };
  return { ok: true, probe, durationSec, demuxer };
}
