/** Seeded randomness for the synthetic corpora: every byte they hold derives from the seed through here. */
import { mulberry32 } from '../../activities/common/mulberry32.ts';
import { fmix32 } from '../../activities/model/rng.ts';

/** FNV-1a followed by a murmur3 finaliser: cheap and well spread, enough to derive stream seeds. */
export function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return fmix32(h);
}

/**
 * mulberry32 (activities/common/mulberry32.ts). Sub-streams are derived with fork(name) from the seed
 * and a name, never from the current state, so adding draws in one part of the generator (e.g. a cue
 * option) leaves every other part's bytes unchanged.
 */
export class Rng {
  private readonly draw: () => number;
  constructor(readonly seed: number) {
    this.draw = mulberry32(seed);
  }
  fork(...path: (string | number)[]): Rng {
    return new Rng(hash32(`${this.seed}/${path.join('/')}`));
  }
  next(): number {
    return this.draw();
  }
  /** Integer in [lo, hi], both inclusive. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('pick from an empty list');
    return items[Math.floor(this.next() * items.length)];
  }
  weighted<T>(pairs: readonly (readonly [T, number])[]): T {
    const total = pairs.reduce((s, [, w]) => s + w, 0);
    let r = this.next() * total;
    for (const [v, w] of pairs) {
      r -= w;
      if (r < 0) return v;
    }
    return pairs[pairs.length - 1][0];
  }
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      [items[i], items[j]] = [items[j], items[i]];
    }
    return items;
  }
  /** k distinct indices of [0, n), in increasing order. */
  sample(n: number, k: number): number[] {
    const all = Array.from({ length: n }, (_, i) => i);
    return this.shuffle(all)
      .slice(0, Math.min(k, n))
      .sort((a, b) => a - b);
  }
}
