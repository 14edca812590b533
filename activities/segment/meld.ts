import { mediaInputArgs } from '../common/ffprobe.ts';
import { ToolError } from '../common/run-tool.ts';
import type { ManifestRow } from '../../schemas/manifest.ts';
import { maxUtteranceSec } from '../../schemas/segment.ts';
import { pcmOutputArgs } from './audio.ts';
import { ShowinfoFrames } from './frame-identity.ts';
import { framePassArgs, frameGraph, frameStderr, videoStreamOf } from './frames.ts';
import { FRAME_BYTES } from './geometry.ts';
import { probeMedia } from './probe.ts';
import { distinctSorted, frameIndexes, framesFor, sampleTimes, timestampSelectExpression } from './sampling.ts';
import { toolMessage } from './tools.ts';
import { quarantined, type CutterEnv, type Emit, type UtteranceMedia } from './utterance.ts';

/**
 * MELD: each clip is already cut to its utterance. One ffprobe and one ffmpeg run per clip: the run
 * writes the sampled frames to stdout and the downmixed 16 kHz audio to fd 3. A clip more than
 * `overlongFactor` times its CSV duration is cut to that duration from its start (default), kept or
 * quarantined; missing, empty and unreadable clips are quarantined with the reason. Whatever the CSV
 * says and the clip holds, no more than `maxUtteranceSec` is cut (overlongUtterance).
 */
export async function cutMeld(rows: readonly ManifestRow[], env: CutterEnv, emit: Emit): Promise<void> {
  for (const r of rows) await emit(r, await cutClip(r, env));
}

async function cutClip(r: ManifestRow, env: CutterEnv): Promise<UtteranceMedia> {
  if (!r.videoKey) {
    const empty = r.flags.includes('video_empty');
    return quarantined(
      empty ? 'zero_length: the clip is an empty file' : 'media_missing: no clip for this row in the corpus',
    );
  }
  const media = await env.files.open(r.videoKey);
  if (!media) return quarantined(`media_missing: ${r.videoKey} is not in the store`);
  try {
    const probed = await probeMedia(env.tools, media, 'clip');
    if (!probed.ok) return quarantined(probed.reason);
    const { probe } = probed;
    const clipSec = probed.durationSec;
    // CSV times are millisecond text; their difference in binary floating point is not (0.958 - 1e-14).
    const csvSec = Math.round((r.endSec - r.startSec) * 1e6) / 1e6;
    const flags: string[] = [];
    let useSec = clipSec;
    if (!(csvSec > 0)) flags.push('zero_csv_duration');
    else if (clipSec > env.params.overlongFactor * csvSec) {
      const what = `the clip runs ${clipSec.toFixed(2)} s, ${(clipSec / csvSec).toFixed(1)}x its CSV duration of ${csvSec.toFixed(2)} s`;
      if (env.params.overlong === 'quarantine') return quarantined(`overlong_clip: ${what}`, ['overlong_clip']);
      if (env.params.overlong === 'cut') {
        useSec = csvSec;
        flags.push('overlong_clip_cut');
      } else flags.push('overlong_clip_kept');
    }
    const over = overlongUtterance(env, csvSec, useSec, clipSec);
    if (typeof over === 'string') return quarantined(over, ['overlong_utterance']);
    flags.push(...over.flags);
    useSec = over.useSec;

    const video = videoStreamOf(probe, media.path);
    let indices: number[] = [];
    if ('reason' in video) flags.push(video.reason.split(':')[0]);
    else {
      if (video.frameCount <= 2) flags.push('two_frame_clip');
      const usable = Math.max(1, Math.min(video.frameCount, Math.ceil(useSec * video.fps - 1e-6)));
      indices = frameIndexes(sampleTimes(0, useSec, framesFor(useSec, env.params)), video.fps, usable);
      if (new Set(indices).size < indices.length) flags.push('frames_repeated');
    }
    const hasAudio = !!probe.audio;
    if (!hasAudio) flags.push('no_audio_stream');
    if (!indices.length && !hasAudio)
      return quarantined(`corrupt: the clip has neither a readable video nor an audio stream`, flags);

    const distinct = distinctSorted(indices);
    const pass = framePassArgs(env.tools);
    const args = [...pass.global];
    if (useSec < clipSec) args.push('-t', useSec.toFixed(6));
    args.push(...mediaInputArgs(media.path, probed.demuxer));
    if (indices.length) args.push(...pass.output);
    if (hasAudio) args.push(...pcmOutputArgs('pipe:3'));
    const stream = 'reason' in video ? null : video;
    const identity = new ShowinfoFrames(stream?.fps ?? 1, stream?.startSec ?? 0);
    const produced = new Map<number, Buffer>();
    let audio: Buffer;
    try {
      const out = await env.tools.piped(args, {
        stdin: stream
          ? frameGraph(timestampSelectExpression(distinct, stream.fps, stream.startSec), [null], env.params.aspect)
          : undefined,
        timeoutMs: 60_000 + useSec * 2000,
        recordBytes: FRAME_BYTES,
        onStderrLine: frameStderr(identity),
        onStderrEnd: () => identity.end(),
        onRecord: async (rec, i) => {
          const k = await identity.frame(i);
          if (k !== null) produced.set(k, rec);
        },
        fd3: hasAudio,
      });
      audio = out.fd3.subarray(0, out.fd3.length - (out.fd3.length % 2));
    } catch (err) {
      if (err instanceof ToolError && (err.reason === 'exit' || err.reason === 'timeout')) {
        return quarantined(
          `corrupt: ffmpeg cannot decode the clip: ${err.reason === 'exit' ? toolMessage(err.stderrTail, media.path) : 'timed out'}`,
          flags,
        );
      }
      throw err;
    }

    let frames: Buffer | null = null;
    if (indices.length && produced.size) {
      // A frame the decoder never produced is repeated from the nearest earlier one (or the first produced).
      let previous = produced.get(distinct.find((d) => produced.has(d))!)!;
      const at = new Map<number, Buffer>();
      for (const d of distinct) at.set(d, (previous = produced.get(d) ?? previous));
      if (distinct.some((d) => !produced.has(d))) flags.push('frames_short');
      frames = Buffer.alloc(indices.length * FRAME_BYTES);
      indices.forEach((d, slot) => at.get(d)!.copy(frames!, slot * FRAME_BYTES));
    } else if (indices.length) flags.push('video_unreadable');
    if (hasAudio && !audio.length) flags.push('audio_unreadable');
    const pcm = audio.length ? audio : null;
    if (!frames && !pcm) return quarantined('corrupt: the clip decoded to no frames and no audio', flags);
    return {
      audio: pcm,
      frames,
      frameCount: frames ? indices.length : 0,
      startSec: 0,
      endSec: useSec,
      flags: [...new Set(flags)].sort(),
      quarantine: null,
    };
  } finally {
    await media.release();
  }
}

/**
 * The maximum utterance length: a CSV duration beyond it is flagged `overlong_annotation` (nothing is
 * read on its word: the clip decides), a clip span beyond it is cut to it (`overlong_utterance_cut`);
 * under `overlong: quarantine` either is the quarantine reason returned instead.
 */
function overlongUtterance(
  env: CutterEnv,
  csvSec: number,
  useSec: number,
  clipSec: number,
): { useSec: number; flags: string[] } | string {
  const maxSec = maxUtteranceSec(env.params);
  const limit = `more than segment.maxUtteranceSec (${maxSec} s)`;
  const refuse = env.params.overlong === 'quarantine';
  const flags: string[] = [];
  if (csvSec > maxSec) {
    if (refuse) return `overlong_utterance: the CSV gives the utterance ${csvSec} s, ${limit}`;
    flags.push('overlong_annotation');
  }
  if (useSec > maxSec) {
    if (refuse) return `overlong_utterance: the clip runs ${clipSec.toFixed(2)} s, ${limit}`;
    flags.push('overlong_utterance_cut');
    return { useSec: maxSec, flags };
  }
  return { useSec, flags };
}
