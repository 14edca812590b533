import {
  VSC_CODE_VERSION,
  VscParamsSchema,
  mergeWeight,
  type VscParams,
  type VscParamsInput,
} from '../../schemas/compress.ts';
import { contentKey } from '../common/hash.ts';

/** Content addresses of the extract outputs VSC reads (the extract stage's keys or prefixes). */
export interface VscInputs {
  readonly visual: string;
  /** Needed only by `fixed` guidance. */
  readonly text?: string;
  readonly audio?: string;
}

/**
 * The parameters that can change the output, and nothing else: settings that a configuration makes
 * irrelevant (the guidance seed without guidance, the selection settings with VSC off) are dropped so
 * that configurations computing identical sequences share one cache entry.
 */
export function effectiveVscParams(params: VscParams): Record<string, unknown> {
  if (!params.enabled) return { enabled: false, maxFrames: params.maxFrames, cap: params.cap };
  // The key names the merged tokens' weight `alpha`, as before keepWeight existed: the same keys.
  const { guidanceSeed, keepWeight, ...rest } = storedVscParams(params);
  const named = { ...rest, alpha: mergeWeight(keepWeight) };
  return params.guidance === 'fixed' ? { ...named, guidanceSeed } : named;
}

/**
 * The parameters as stored documents and hashes carry them: without `chunkUtterances`, which decides
 * how a shard's work is checkpointed, never what it computes. Reports, model recipes, the run's config
 * hash and the stage key then stay the same whatever chunk size a run used.
 */
export function storedVscParams<P extends { chunkUtterances?: number }>(params: P): Omit<P, 'chunkUtterances'> {
  const { chunkUtterances: _chunk, ...rest } = params;
  return rest;
}

export function vscKey(params: VscParams | VscParamsInput, inputs: VscInputs): string {
  const p = VscParamsSchema.parse(params);
  const guided = p.enabled && p.guidance === 'fixed';
  if (guided && (!inputs.text || !inputs.audio)) {
    throw new Error('vsc: fixed guidance needs the text and audio feature keys');
  }
  return contentKey({
    stage: 'compress/vsc',
    code: VSC_CODE_VERSION,
    params: effectiveVscParams(p),
    visual: inputs.visual,
    ...(guided ? { text: inputs.text, audio: inputs.audio } : {}),
  });
}
