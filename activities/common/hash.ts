import { createHash } from 'node:crypto';

/** JSON with sorted object keys, so equal values always hash equally (cache keys depend on it). */
export function stableStringify(value: unknown): string {
  return JSON.stringify(sortDeep(value));
}

function sortDeep(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortDeep);
  if (value && typeof value === 'object' && !(value instanceof Uint8Array)) {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[k];
      if (v !== undefined) out[k] = sortDeep(v);
    }
    return out;
  }
  return value;
}

export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * Content address of a stage output: hash of everything that determines it (input keys, parameters,
 * model file hashes, stage code version). 20 hex chars keep keys readable; collisions at 80 bits are
 * not a practical concern for a cache.
 */
export function contentKey(parts: Record<string, unknown>): string {
  return sha256Hex(stableStringify(parts)).slice(0, 20);
}
