/**
 * mulberry32 (Tommy Ettinger's 32-bit generator): the one copy of the small seeded generator used where a
 * stream of uniform floats must be reproducible from a seed and cheap to re-implement elsewhere (the
 * evaluate stage's resampling statistics, which scripts/evaluate/make_stats_fixtures.py re-implements
 * bit for bit; the synthetic corpora; test and bench data). Not for cryptography, and not the training
 * generator (activities/model/rng.ts, counter-based sfc32).
 *
 * Every operation is on unsigned 32-bit integers, so another language reproduces it exactly:
 *   a = (a + 0x6d2b79f5) mod 2^32; t = (a ^ a >>> 15) * (a | 1) mod 2^32;
 *   t ^= t + ((t ^ t >>> 7) * (t | 61) mod 2^32) mod 2^32; return (t ^ t >>> 14) / 2^32, in [0, 1).
 */

/** A generator of uniform floats in [0, 1), seeded with an integer (taken mod 2^32). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
