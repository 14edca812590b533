import { runTool } from '../../../activities/common/run-tool.ts';
import { addNoise, mixInto, voice } from '../audio.ts';
import { BITEXACT_OUTPUT_ARGS, drawbox, lavfiInput } from '../lavfi.ts';
import { Rng } from '../random.ts';
import { IEMOCAP_FPS, IEMOCAP_PANELS, IEMOCAP_SAMPLE_RATE, IEMOCAP_SIZE, toSample } from './corpus.ts';
import type { Gender, Side } from './corpus.ts';
import { sideOf } from './plan.ts';
import type { DialogPlan } from './plan.ts';

/** A dialog's media: the two-channel dialog audio and the DivX video of the two actors' panels. */

export function dialogAudio(plan: DialogPlan, seed: number): Int16Array {
  const ch = 2;
  const buf = new Int16Array(plan.totalSamples * ch);
  const r = new Rng(seed).fork('iemocap-audio', plan.spec.id);
  const speak = (speaker: Gender, start: number, end: number, pitchHz: number) => {
    const from = toSample(start);
    const sig = voice(toSample(end) - from, IEMOCAP_SAMPLE_RATE, pitchHz, r);
    const own = sideOf(plan.spec, speaker) === 'left' ? 0 : 1;
    mixInto(buf, ch, own, from, sig, 1);
    mixInto(buf, ch, 1 - own, from, sig, 0.12);
  };
  for (const t of plan.turns) speak(t.speaker, t.start, t.end, t.render.pitchHz);
  for (const o of plan.others) {
    if (o.start !== null && o.end !== null) speak(o.speaker, o.start, o.end, plan.actors[o.speaker].pitchHz * 1.3);
  }
  addNoise(buf, 3, r.fork('noise').int(1, 2 ** 31));
  return buf;
}

/**
 * lavfi source graph: the static picture is drawn once and repeated by `loop` (drawing full panels on
 * every frame would dominate the encode time); only the per-turn overlays are evaluated per frame.
 */
function videoSource(plan: DialogPlan): string {
  const { width, height } = IEMOCAP_SIZE;
  const filters: string[] = [`color=c=black:s=${width}x${height}:r=${IEMOCAP_FPS}:d=0.04`];
  const bySide = (side: Side) => plan.actors[side === 'left' ? plan.spec.marker : plan.spec.marker === 'F' ? 'M' : 'F'];
  for (const side of ['left', 'right'] as const) {
    const p = IEMOCAP_PANELS[side];
    const actor = bySide(side);
    filters.push(drawbox(p.x, p.y, p.w, p.h, actor.rgb));
    filters.push(drawbox(p.x + 120, p.y + 40, 110, 140, actor.face));
  }
  filters.push('loop=loop=-1:size=1:start=0');
  for (const t of plan.turns) {
    const p = IEMOCAP_PANELS[sideOf(plan.spec, t.speaker)];
    const span = [t.start / 10000, t.end / 10000] as const;
    // A "mouth" that is only visible while the actor talks: a visual speaking trace, as on real video.
    filters.push(drawbox(p.x + 150, p.y + 140, 50, 14, [120, 30, 40], span));
    // A band across the panel's foot (a fifth of the speaker's picture): small patches vanish into the
    // token means of tiny random-weight encoders, and the cue corpus must be learnable with those.
    if (t.render.patchRgb) filters.push(drawbox(p.x, p.y + 185, p.w, p.h - 185, t.render.patchRgb, span));
  }
  return filters.join(',');
}

export async function encodeAvi(
  ffmpeg: string,
  plan: DialogPlan,
  wavPath: string,
  outPath: string,
  signal?: AbortSignal,
): Promise<void> {
  const dur = (plan.totalSamples / IEMOCAP_SAMPLE_RATE).toFixed(6);
  await runTool(
    ffmpeg,
    [
      '-nostdin',
      ...lavfiInput(videoSource(plan)),
      '-i',
      wavPath,
      '-map',
      '0:v',
      '-map',
      '1:a',
      // DivX 5 fourcc on an MPEG-4 Part 2 stream, like the corpus's dialog/avi/DivX files.
      '-c:v',
      'mpeg4',
      '-vtag',
      'DX50',
      '-q:v',
      '20',
      '-motion_est',
      'zero',
      '-g',
      '300',
      '-bf',
      '0',
      '-threads',
      '1',
      // -t alone bounds both streams (-frames:v would stop the file before the lagging audio is muxed).
      '-c:a',
      'pcm_s16le',
      '-t',
      dur,
      ...BITEXACT_OUTPUT_ARGS,
      outPath,
    ],
    { timeoutMs: 120_000, signal },
  );
}
