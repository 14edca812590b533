/** What every encoder returns per utterance, and the pooling they share. */

export interface Encoded {
  /** Last hidden states, row-major [steps, tokens, dim]. */
  sequence: Float32Array;
  steps: number;
  tokens: number;
  dim: number;
  pooled: Float32Array;
  /** Text only: first position of the utterance itself; null for audio and visual. */
  utteranceTokenStart: number | null;
}

/**
 * A per-utterance reason not to encode it; such utterances are stored as quarantined, never
 * zero-filled. The reason starts with a code ('audio_too_short: ...') that reports count by.
 */
export interface Quarantine {
  quarantine: string;
}

export function reasonCode(reason: string): string {
  const i = reason.indexOf(':');
  return i < 0 ? reason : reason.slice(0, i);
}

export function isQuarantine(x: object): x is Quarantine {
  return 'quarantine' in x;
}

/**
 * Mean of `count` consecutive rows of width `dim` starting at row `first` (accumulated in float64:
 * thousands of audio frames summed in float32 would drift from PyTorch's pairwise sum).
 */
export function meanRows(data: Float32Array, first: number, count: number, dim: number): Float32Array {
  const acc = new Float64Array(dim);
  for (let r = first; r < first + count; r++) {
    const base = r * dim;
    for (let j = 0; j < dim; j++) acc[j] += data[base + j];
  }
  const out = new Float32Array(dim);
  for (let j = 0; j < dim; j++) out[j] = acc[j] / count;
  return out;
}
