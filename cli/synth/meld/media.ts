import { runTool } from '../../../activities/common/run-tool.ts';
import { addNoise, mixInto, pcmBytes, voice } from '../audio.ts';
import { BITEXACT_OUTPUT_ARGS, drawbox, hex, lavfiInput } from '../lavfi.ts';
import { Rng } from '../random.ts';
import { MELD_AUDIO_RATE, MELD_FPS, MELD_SIZE, SPEAKERS } from './corpus.ts';
import type { ClipJob } from './plan.ts';

/** One clip's media: the speaker's colour with a face and, when cued, a colour band; a tone for the voice. */

export async function encodeClip(
  ffmpeg: string,
  job: ClipJob,
  outPath: string,
  seed: number,
  signal?: AbortSignal,
): Promise<void> {
  const sr = MELD_AUDIO_RATE;
  const n = Math.round(job.durationSec * sr);
  const pcm = new Int16Array(n * 2);
  const r = new Rng(seed).fork('meld-audio', job.seedKey);
  const sig = voice(n, sr, job.render.pitchHz, r);
  mixInto(pcm, 2, 0, 0, sig, 1);
  mixInto(pcm, 2, 1, 0, sig, 0.85);
  addNoise(pcm, 3, r.int(1, 2 ** 31));
  const spk = SPEAKERS[job.speaker];
  const { width, height } = MELD_SIZE;
  // One frame is drawn, then repeated by `loop`: per-frame drawing would cost more than the encode.
  const filters = [
    `color=c=${hex(spk.rgb)}:s=${width}x${height}:r=${MELD_FPS}:d=0.05`,
    drawbox(540, 200, 200, 260, [225, 190, 160]),
  ];
  // A band across the bottom fifth of the picture, large enough to survive tiny encoders' token means.
  if (job.render.patchRgb) filters.push(drawbox(0, 560, 1280, 160, job.render.patchRgb));
  filters.push('loop=loop=-1:size=1:start=0');
  const dur = job.durationSec.toFixed(6);
  await runTool(
    ffmpeg,
    [
      ...lavfiInput(filters.join(',')),
      '-f',
      's16le',
      '-ar',
      String(sr),
      '-ac',
      '2',
      '-i',
      'pipe:0',
      '-map',
      '0:v',
      '-map',
      '1:a',
      '-c:v',
      'libx264',
      '-preset',
      'ultrafast',
      '-crf',
      '35',
      '-pix_fmt',
      'yuv420p',
      '-threads',
      '1',
      // -t alone bounds both streams (-frames:v would stop the file before the lagging audio is muxed).
      // 192 kb/s: cheap to encode and keeps the tiny archive above 1 MB, so download tests span several parts.
      '-c:a',
      'aac',
      '-b:a',
      '192k',
      '-af',
      'apad',
      '-t',
      dur,
      ...BITEXACT_OUTPUT_ARGS,
      outPath,
    ],
    { timeoutMs: 120_000, signal, input: pcmBytes(pcm) },
  );
}
