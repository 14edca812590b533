import type { Rgb } from './common.ts';

/** The ffmpeg side of the corpora's media: pictures are lavfi filter graphs, outputs are bit-exact. */

/**
 * Output-side flags that make ffmpeg omit its version strings and other run-dependent bytes, so the same
 * build produces the same file for the same input.
 */
export const BITEXACT_OUTPUT_ARGS: readonly string[] = [
  '-fflags',
  '+bitexact',
  '-flags:v',
  '+bitexact',
  '-flags:a',
  '+bitexact',
  '-map_metadata',
  '-1',
];

/** ffmpeg's leading arguments for a video drawn by the lavfi `graph`: errors only, output overwritten. */
export function lavfiInput(graph: string): string[] {
  return ['-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', graph];
}

export function hex(rgb: Rgb): string {
  return `0x${rgb.map((c) => c.toString(16).padStart(2, '0')).join('')}`;
}

/** drawbox filter; `between` limits it to a time range (seconds). */
export function drawbox(
  x: number,
  y: number,
  w: number,
  h: number,
  rgb: Rgb,
  between?: readonly [number, number],
): string {
  const enable = between ? `:enable='between(t,${between[0].toFixed(4)},${between[1].toFixed(4)})'` : '';
  return `drawbox=x=${x}:y=${y}:w=${w}:h=${h}:color=${hex(rgb)}:t=fill${enable}`;
}
