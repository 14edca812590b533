/**
 * Which source frames an utterance gets. Frames are sampled at the centres of `count` equal parts of
 * the utterance, so a sample never sits on a cut point (where IEMOCAP turns often show the previous
 * speaker) and short utterances still get distinct frames where the source has them.
 */

export interface SamplingParams {
  /** Frames per utterance, or with `fps` the most frames per utterance. */
  frames: number;
  fps?: number;
}

export function framesFor(durationSec: number, p: SamplingParams): number {
  if (p.fps === undefined) return p.frames;
  return Math.min(p.frames, Math.max(1, Math.round(Math.max(0, durationSec) * p.fps)));
}

export function sampleTimes(startSec: number, endSec: number, count: number): number[] {
  const span = Math.max(0, endSec - startSec);
  return Array.from({ length: count }, (_, k) => startSec + ((k + 0.5) * span) / count);
}

/**
 * The frame on screen at each time (frame k covers [k/fps, (k+1)/fps) of the stream), clamped to the
 * frames the stream has. The epsilon keeps t = k/fps computed in floating point on frame k.
 */
export function frameIndexes(times: readonly number[], fps: number, frameCount: number): number[] {
  const last = Math.max(0, frameCount - 1);
  return times.map((t) => Math.min(last, Math.max(0, Math.floor(t * fps + 1e-6))));
}

/** Sorted distinct values. */
export function distinctSorted(values: Iterable<number>): number[] {
  return [...new Set(values)].sort((a, b) => a - b);
}

/** ffmpeg's expression parser refuses a flat sum of more than 100 terms; sums are nested below this. */
const MAX_TERMS = 32;

/**
 * An ffmpeg `select` expression true exactly on the given (sorted, distinct) frame numbers. Runs of
 * consecutive numbers become one between(); more than MAX_TERMS terms become a tree of
 * `if(between(frame,lo,hi),subtree,0)` nodes, which also keeps the per-frame cost logarithmic (if()
 * evaluates only the branch it takes). `frame` is the expression that numbers the frames: `n`
 * (frames since decoding started) by default.
 */
export function selectExpression(sorted: readonly number[], frame = 'n'): string {
  const runs: Array<[number, number]> = [];
  for (let i = 0; i < sorted.length;) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j] + 1) j++;
    runs.push([sorted[i], sorted[j]]);
    i = j + 1;
  }
  if (!runs.length) return '0';
  const term = ([a, b]: [number, number]) => (a === b ? `eq(${frame},${a})` : `between(${frame},${a},${b})`);
  const tree = (rs: Array<[number, number]>): string => {
    if (rs.length <= MAX_TERMS) return rs.map(term).join('+');
    const size = Math.ceil(rs.length / MAX_TERMS);
    const parts: string[] = [];
    for (let i = 0; i < rs.length; i += size) {
      const chunk = rs.slice(i, i + size);
      parts.push(`if(between(${frame},${chunk[0][0]},${chunk[chunk.length - 1][1]}),${tree(chunk)},0)`);
    }
    return parts.join('+');
  };
  return tree(runs);
}

/**
 * A select expression on source frame numbers derived from each frame's own timestamp, for decodes
 * that start at a seek point (run with -copyts so timestamps stay those of the file). Counting frames
 * from the seek point instead is off by one whenever ffmpeg rounds the seek time to the neighbouring
 * frame, which it does for a seek time half-way between two frames.
 */
export function timestampSelectExpression(sorted: readonly number[], fps: number, startSec: number): string {
  return `st(0,round((t-${startSec})*${fps}));${selectExpression(sorted, 'ld(0)')}`;
}
