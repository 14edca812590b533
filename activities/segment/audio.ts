import { readFile } from 'node:fs/promises';
import { mediaInputArgs, type MediaDemuxer } from '../common/ffprobe.ts';
import { ToolError } from '../common/run-tool.ts';
import type { LocalMedia } from './media-files.ts';
import { probeMedia } from './probe.ts';
import { toolMessage, type SegmentTools } from './tools.ts';
import { SEGMENT_SAMPLE_RATE, isSegmentFormat, parseWav, wavSamples } from '../common/wav.ts';

/** Audio to 16 kHz mono s16le: whole files, or a span of one. */

export type AudioOut = { pcm: Buffer; flags: string[] } | { pcm: null; reason: string };

/** ffmpeg arguments that write the first audio stream as 16 kHz mono s16le to `target` (downmixing all channels). */
export function pcmOutputArgs(target: string): string[] {
  return ['-map', '0:a:0', '-ac', '1', '-ar', String(SEGMENT_SAMPLE_RATE), '-c:a', 'pcm_s16le', '-f', 's16le', target];
}

/** Room for a WAV's header and non-audio chunks beyond its samples. */
const WAV_SLACK_BYTES = 1 << 20;

/**
 * A whole audio file of at most `maxSec` seconds (a longer one is refused with an `overlong_utterance`
 * reason). One already in the segment format (IEMOCAP's sentence wavs are) is re-wrapped without a
 * process: its RIFF header is the probe. Anything else is probed and converted by ffmpeg.
 */
export async function wholeFileAudio(
  tools: SegmentTools,
  media: LocalMedia,
  what: string,
  maxSec: number,
): Promise<AudioOut> {
  if (media.refused) return { pcm: null, reason: media.refused };
  if (media.size === 0) return { pcm: null, reason: `zero_length: the ${what} is an empty file` };
  const overlong = (sec: number): AudioOut => ({
    pcm: null,
    reason: `overlong_utterance: the ${what} runs ${sec.toFixed(2)} s, more than segment.maxUtteranceSec (${maxSec} s)`,
  });
  // A file too big to hold maxSec of segment-format audio is not read whole: the probe says what it is.
  if (media.size <= maxSec * SEGMENT_SAMPLE_RATE * 2 + WAV_SLACK_BYTES) {
    const bytes = await readFile(media.path);
    const info = parseWav(bytes);
    if (info && isSegmentFormat(info)) {
      const pcm = wavSamples(bytes, info);
      if (pcm.length > maxSec * SEGMENT_SAMPLE_RATE * 2) return overlong(pcm.length / 2 / SEGMENT_SAMPLE_RATE);
      return pcm.length ? { pcm, flags: [] } : { pcm: null, reason: `zero_length: the ${what} holds no samples` };
    }
  }
  const probed = await probeMedia(tools, media, what);
  if (!probed.ok) return { pcm: null, reason: probed.reason };
  if (!probed.probe.audio) return { pcm: null, reason: `no_audio_stream: the ${what} has no audio stream` };
  if (probed.durationSec > maxSec) return overlong(probed.durationSec);
  const out = await convert(tools, media, probed.demuxer, [], what, probed.durationSec);
  return out.pcm ? { pcm: out.pcm, flags: ['audio_converted'] } : out;
}

/** `[startSec, startSec + durationSec)` of an audio (or audio+video) file that has been probed. */
export async function spanAudio(
  tools: SegmentTools,
  media: LocalMedia,
  demuxer: MediaDemuxer,
  startSec: number,
  durationSec: number,
  what: string,
): Promise<AudioOut> {
  const span = ['-ss', startSec.toFixed(6), '-t', durationSec.toFixed(6)];
  return convert(tools, media, demuxer, span, what, durationSec);
}

async function convert(
  tools: SegmentTools,
  media: LocalMedia,
  demuxer: MediaDemuxer,
  inputArgs: string[],
  what: string,
  seconds: number,
): Promise<AudioOut> {
  try {
    const { stdout } = await tools.run(
      [
        '-nostdin',
        '-hide_banner',
        '-loglevel',
        'error',
        ...inputArgs,
        ...mediaInputArgs(media.path, demuxer),
        ...pcmOutputArgs('pipe:1'),
      ],
      { timeoutMs: 60_000 + seconds * 1000, maxStdoutBytes: Math.ceil((seconds + 60) * SEGMENT_SAMPLE_RATE * 2) },
    );
    const pcm = stdout.subarray(0, stdout.length - (stdout.length % 2));
    return pcm.length
      ? { pcm, flags: [] }
      : { pcm: null, reason: `zero_length: no audio in the requested span of the ${what}` };
  } catch (err) {
    if (
      err instanceof ToolError &&
      (err.reason === 'exit' || err.reason === 'timeout' || err.reason === 'output-limit')
    ) {
      return {
        pcm: null,
        reason: `corrupt: ffmpeg cannot decode the ${what}: ${err.reason === 'exit' ? toolMessage(err.stderrTail, media.path) : err.reason}`,
      };
    }
    throw err;
  }
}
