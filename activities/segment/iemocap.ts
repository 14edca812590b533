import type { ManifestRow } from '../../schemas/manifest.ts';
import { maxUtteranceSec } from '../../schemas/segment.ts';
import { wholeFileAudio, spanAudio, type AudioOut } from './audio.ts';
import { decodeAll, videoStreamOf, type FrameRequest, type FramesOut, type VideoStream } from './frames.ts';
import { iemocapCropRect } from './geometry.ts';
import type { LocalMedia } from './media-files.ts';
import { probeMedia, type Probed } from './probe.ts';
import { frameIndexes, framesFor, sampleTimes } from './sampling.ts';
import { combine, quarantined, type CutterEnv, type Emit } from './utterance.ts';
import { SEGMENT_SAMPLE_RATE } from '../common/wav.ts';

/**
 * IEMOCAP: turns are spans of a dialog recording. Frames come from the dialog video, cropped to the
 * speaker's side (manifest videoHalf; the marker wearer named in the dialog id sits on the left), all
 * of a shard's turns of one dialog decoded in one pass (or one seek per turn, `iemocapDecode`). Audio
 * is the turn's sentence wav, else its span of the dialog wav, downmixed. A turn annotated longer
 * than `maxUtteranceSec` is cut to that length from its start, or quarantined (`overlong: quarantine`).
 */
export async function cutIemocap(rows: readonly ManifestRow[], env: CutterEnv, emit: Emit): Promise<void> {
  const groups = new Map<string, ManifestRow[]>();
  for (const r of rows) {
    const k = `${r.dialogueId}\0${r.videoKey ?? ''}`;
    groups.set(k, [...(groups.get(k) ?? []), r]);
  }
  for (const group of groups.values()) await cutDialog(group, env, emit);
}

async function cutDialog(rows: readonly ManifestRow[], env: CutterEnv, emit: Emit): Promise<void> {
  const audio = new DialogAudio(env);
  const opened: LocalMedia[] = [];
  try {
    const live: ManifestRow[] = [];
    const extraFlags = new Map<ManifestRow, string[]>();
    const maxSec = maxUtteranceSec(env.params);
    for (const r of rows) {
      const spans = `the annotation spans ${r.startSec}-${r.endSec} s`;
      if (!(r.endSec > r.startSec)) await emit(r, quarantined(`zero_duration: ${spans}`));
      else if (!(r.endSec - r.startSec <= maxSec)) {
        if (env.params.overlong === 'quarantine') {
          const reason = `overlong_utterance: ${spans}, more than segment.maxUtteranceSec (${maxSec} s)`;
          await emit(r, quarantined(reason, ['overlong_utterance']));
        } else {
          // The cut row stands for the turn from here on: its span is what is read and stored.
          const cut = { ...r, endSec: r.startSec + maxSec };
          extraFlags.set(cut, ['overlong_utterance_cut']);
          live.push(cut);
        }
      } else live.push(r);
    }
    if (!live.length) return;
    const finish = async (r: ManifestRow, frames: FramesOut): Promise<void> => {
      const a = await audio.forTurn(r);
      const audioPart = a.pcm
        ? { pcm: a.pcm, flags: a.flags, reason: null }
        : { pcm: null, flags: ['audio_unavailable'], reason: a.reason };
      await emit(
        r,
        combine(
          audioPart,
          { ...frames, flags: [...frames.flags, ...(extraFlags.get(r) ?? [])] },
          { startSec: r.startSec, endSec: r.endSec },
        ),
      );
    };
    const noFrames = (flag: string, reason: string): FramesOut => ({ data: null, count: 0, flags: [flag], reason });

    const video = await openVideo(env, live[0].videoKey, opened);
    if ('reason' in video) {
      for (const r of live) await finish(r, noFrames(video.flag, video.reason));
      return;
    }
    const requests: FrameRequest<ManifestRow>[] = [];
    for (const r of live) {
      if (Math.floor(r.startSec * video.fps) >= video.frameCount) {
        await finish(
          r,
          noFrames(
            'video_too_short',
            `video_too_short: the turn starts at ${r.startSec} s, after the video's last frame`,
          ),
        );
        continue;
      }
      if (r.endSec * video.fps > video.frameCount + 1)
        extraFlags.set(r, [...(extraFlags.get(r) ?? []), 'beyond_video_end']);
      const indices = frameIndexes(
        sampleTimes(r.startSec, r.endSec, framesFor(r.endSec - r.startSec, env.params)),
        video.fps,
        video.frameCount,
      );
      const crop = iemocapCropRect(env.params.iemocapCrop, r.videoHalf ?? 'left', video.width, video.height);
      requests.push({ tag: r, indices, crop });
    }
    await decodeAll(env.params.iemocapDecode, env.tools, video, requests, env.params.aspect, (req, out) =>
      finish(req.tag, out),
    );
  } finally {
    await audio.close();
    for (const m of opened) await m.release();
  }
}

async function openVideo(
  env: CutterEnv,
  key: string | null,
  opened: LocalMedia[],
): Promise<VideoStream | { flag: string; reason: string }> {
  if (!key) return { flag: 'video_missing', reason: 'media_missing: the dialog has no video in the corpus' };
  const media = await env.files.open(key);
  if (!media) return { flag: 'video_missing', reason: `media_missing: ${key} is not in the store` };
  opened.push(media);
  const probed = await probeMedia(env.tools, media, 'dialog video');
  if (!probed.ok) return { flag: 'video_unreadable', reason: probed.reason };
  const v = videoStreamOf(probed.probe, media.path);
  return 'reason' in v ? { flag: v.reason.split(':')[0], reason: v.reason } : v;
}

/** A turn's audio; each dialog wav is fetched and probed at most once per dialog group. */
class DialogAudio {
  private readonly dialogs = new Map<string, Promise<{ media: LocalMedia; probed: Probed } | null>>();

  constructor(private readonly env: CutterEnv) {}

  async forTurn(r: ManifestRow): Promise<AudioOut> {
    const flags: string[] = [];
    let reason = 'media_missing: neither a sentence wav nor a dialog wav';
    if (r.audioKey) {
      const media = await this.env.files.open(r.audioKey);
      if (media) {
        try {
          const a = await wholeFileAudio(this.env.tools, media, 'sentence wav', maxUtteranceSec(this.env.params));
          if (a.pcm) return { pcm: a.pcm, flags: [...a.flags, ...durationFlags(a.pcm, r)] };
          reason = a.reason;
          flags.push('sentence_wav_unreadable');
        } finally {
          await media.release();
        }
      }
    }
    if (!r.dialogAudioKey) return { pcm: null, reason };
    const dialog = await this.dialog(r.dialogAudioKey);
    if (!dialog) return { pcm: null, reason: `media_missing: ${r.dialogAudioKey} is not in the store` };
    if (!dialog.probed.ok) return { pcm: null, reason: dialog.probed.reason };
    if (!dialog.probed.probe.audio) return { pcm: null, reason: 'no_audio_stream: the dialog wav has no audio stream' };
    const { demuxer } = dialog.probed;
    const a = await spanAudio(this.env.tools, dialog.media, demuxer, r.startSec, r.endSec - r.startSec, 'dialog wav');
    return a.pcm ? { pcm: a.pcm, flags: [...flags, 'audio_from_dialog'] } : a;
  }

  private dialog(key: string): Promise<{ media: LocalMedia; probed: Probed } | null> {
    let hit = this.dialogs.get(key);
    if (!hit) {
      hit = (async () => {
        const media = await this.env.files.open(key);
        return media ? { media, probed: await probeMedia(this.env.tools, media, 'dialog wav') } : null;
      })();
      this.dialogs.set(key, hit);
    }
    return hit;
  }

  async close(): Promise<void> {
    for (const d of this.dialogs.values()) await (await d.catch(() => null))?.media.release();
  }
}

/** A sentence wav much shorter or longer than its annotation points at a misaligned turn. */
function durationFlags(pcm: Buffer, r: ManifestRow): string[] {
  const seconds = pcm.length / 2 / SEGMENT_SAMPLE_RATE;
  const annotated = r.endSec - r.startSec;
  return Math.abs(seconds - annotated) > Math.max(0.1, 0.05 * annotated) ? ['audio_duration_mismatch'] : [];
}
