import type { ProbeResult } from '../common/ffprobe.ts';
import { ToolError } from '../common/run-tool.ts';
import type { LocalMedia } from './media-files.ts';
import { toolMessage, type SegmentTools } from './tools.ts';

/**
 * ffprobe before any cut: a file that cannot be read becomes a quarantine reason (never an activity
 * failure), one that can gives the durations, rates and sizes every cut is planned from.
 */

export type Probed = { ok: true; probe: ProbeResult; durationSec: number } | { ok: false; reason: string };

/** `file:` keeps a path that contains a colon from being read as a protocol name. */
export const ffmpegInput = (path: string): string => `file:${path}`;

export async function probeMedia(tools: SegmentTools, media: LocalMedia, what: string): Promise<Probed> {
  if (media.size === 0) return { ok: false, reason: `zero_length: the ${what} is an empty file` };
  let probe: ProbeResult;
  try {
    probe = await tools.probe(ffmpegInput(media.path));
  } catch (err) {
    if (err instanceof ToolError && err.reason === 'exit') {
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
  if (!probe.video && !probe.audio) return { ok: false, reason: `corrupt: the ${what} has no audio or video stream` };
  const durationSec = probe.format.duration ?? probe.video?.duration ?? probe.audio?.duration ?? 0;
  if (!(durationSec > 0)) return { ok: false, reason: `zero_length: the ${what} has no duration` };
  if (probe.video && probe.video.frames === 0 && !probe.audio)
    return { ok: false, reason: `zero_length: the ${what} has no video frames` };
  return { ok: true, probe, durationSec };
}
