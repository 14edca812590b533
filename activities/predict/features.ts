/**
 * One clip's model inputs, computed the way the pipeline computes a training utterance's:
 *  - t, a: the encoders' pooled vectors (the extract stage stores them as float32);
 *  - v: the Swin tokens rounded to float16 (the extract stage stores sequences as float16, and the
 *    compress stage reads those), then VSC with the recipe's settings and, for `fixed` guidance,
 *    G([t; a]) from the same pooled vectors (a missing one contributes zeros, as in the pipeline).
 * Audio goes through the segment stage's WAV encoding and the extract stage's WAV parser, the same
 * bytes a stored segment holds.
 */
import type { Modality } from '../../schemas/extract.ts';
import { decodeFloat16, encodeFloat16 } from '../common/float16.ts';
import { encodeSegmentWav, readPcm16 } from '../common/wav.ts';
import { createGuidance, type Guidance } from '../compress/guidance.ts';
import { createVsc, type Vsc } from '../compress/vsc.ts';
import { isQuarantine } from '../extract/encoder.ts';
import type { ModelConfig } from '../model/config.ts';
import type { UnlabelledFeatureSet } from '../model/data.ts';
import type { UtteranceMedia } from '../segment/utterance.ts';
import type { PredictEncoders } from './encoders.ts';
import type { PredictRecipe } from './model.ts';

export interface ClipFeatures {
  /** Pooled text vector, or null when the model does not read text (and guidance had none). */
  t: Float32Array | null;
  a: Float32Array | null;
  /** [frames x visual], left-aligned, zeros after vLength; null when the model reads no video. */
  v: Float32Array | null;
  vLength: number;
  /** Segment and extract flags (audio_truncated, text_truncated, frames_repeated, ...). */
  flags: string[];
}

export type PreparedClip = { ok: true; features: ClipFeatures } | { ok: false; reason: string };

const guided = (recipe: PredictRecipe) => recipe.vsc.enabled && recipe.vsc.guidance === 'fixed';

/** The encoders a model needs: its modalities, plus text and audio when VSC guidance reads them. */
export function encodersNeeded(config: ModelConfig, recipe: PredictRecipe): Modality[] {
  const g = config.modalities.includes('v') && guided(recipe);
  const need: Modality[] = [];
  if (config.modalities.includes('t') || g) need.push('text');
  if (config.modalities.includes('a') || g) need.push('audio');
  if (config.modalities.includes('v')) need.push('visual');
  return need;
}

/** Turns clips' media into model inputs; holds the VSC and guidance state shared by all clips. */
export class ClipFeaturizer {
  private vsc: Vsc | null = null;
  private guidance: Guidance | null = null;

  constructor(
    private readonly encoders: PredictEncoders,
    private readonly recipe: PredictRecipe,
    private readonly config: ModelConfig,
  ) {}

  private uses(m: 't' | 'a' | 'v'): boolean {
    return this.config.modalities.includes(m);
  }

  /** `context`: the clip's previous utterances, oldest first (activities/predict/context.ts). */
  async prepare(media: UtteranceMedia, text: string | null, context: readonly string[] = []): Promise<PreparedClip> {
    if (media.quarantine !== null) return { ok: false, reason: media.quarantine };
    const flags = [...media.flags];
    const fail = (reason: string): PreparedClip => ({ ok: false, reason });

    let t: Float32Array | null = null;
    if (this.encoders.text && text !== null) {
      const p = this.encoders.text.prepare(text, context, this.recipe.extract.text.maxTokens);
      if (isQuarantine(p)) {
        if (this.uses('t')) return fail(p.quarantine);
      } else {
        flags.push(...p.flags);
        t = (await this.encoders.text.encode([p], this.recipe.extract.text.pooling))[0].pooled;
      }
    }
    if (this.uses('t') && !t) return fail('no_text: the model reads text and the clip has no transcript');

    let a: Float32Array | null = null;
    if (this.encoders.audio) {
      if (media.audio) {
        const pcm = readPcm16(encodeSegmentWav(media.audio));
        const p = this.encoders.audio.prepare(pcm.samples, pcm.sampleRate, this.recipe.extract.audio.maxSeconds);
        if (isQuarantine(p)) {
          if (this.uses('a')) return fail(p.quarantine);
        } else {
          flags.push(...p.flags);
          a = (await this.encoders.audio.encode([p]))[0].pooled;
        }
      } else if (this.uses('a'))
        return fail(`no_audio: the clip has no usable audio (${media.flags.join(', ') || 'no audio stream'})`);
    }

    let v: Float32Array | null = null;
    let vLength = 0;
    if (this.uses('v')) {
      const enc = this.encoders.visual!;
      if (!media.frames || media.frameCount === 0)
        return fail(`no_frames: the clip has no usable video frames (${media.flags.join(', ') || 'no video stream'})`);
      const p = enc.prepare(
        new Uint8Array(media.frames.buffer, media.frames.byteOffset, media.frames.length),
        media.frameCount,
      );
      if (isQuarantine(p)) return fail(p.quarantine);
      const e = (await enc.encode([p], this.recipe.extract.visual.batchFrames))[0];
      // what the compress stage reads: the stored float16 sequence
      const tokens = decodeFloat16(encodeFloat16(e.sequence));
      this.vsc ??= createVsc(this.recipe.vsc, { tokens: e.tokens, dim: e.dim });
      let guide: Float32Array | null = null;
      if (guided(this.recipe)) {
        this.guidance ??= createGuidance(this.recipe.vsc.guidanceSeed, {
          text: this.encoders.text!.dim,
          audio: this.encoders.audio!.dim,
          visual: e.dim,
        });
        if (!t || !a) flags.push('guidance_missing');
        guide = this.guidance.apply(t, a);
      }
      const out = this.vsc.compress(tokens, e.steps, guide);
      v = out.sequence;
      vLength = out.length;
    }
    return {
      ok: true,
      features: {
        t: this.uses('t') ? t : null,
        a: this.uses('a') ? a : null,
        v,
        vLength,
        flags: [...new Set(flags)].sort(),
      },
    };
  }
}

/** The clips' features as the model's input set, in the given order. */
export function featureSet(clips: readonly ClipFeatures[], config: ModelConfig): UnlabelledFeatureSet {
  const n = clips.length;
  const { text, audio, visual, frames } = config.inputs;
  const rows = (width: number, get: (c: ClipFeatures) => Float32Array | null, what: string) => {
    const out = new Float32Array(n * width);
    clips.forEach((c, i) => {
      const x = get(c);
      if (!x || x.length !== width)
        throw new Error(`predict: clip ${i} has ${x ? x.length : 'no'} ${what} values, the model reads ${width}`);
      out.set(x, i * width);
    });
    return out;
  };
  return {
    n,
    ...(config.modalities.includes('t') ? { t: rows(text, (c) => c.t, 'text') } : {}),
    ...(config.modalities.includes('a') ? { a: rows(audio, (c) => c.a, 'audio') } : {}),
    ...(config.modalities.includes('v')
      ? { v: rows(frames * visual, (c) => c.v, 'visual'), vLengths: Int32Array.from(clips, (c) => c.vLength) }
      : {}),
  };
}
