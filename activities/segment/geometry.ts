import { SEGMENT_FRAME_SIZE } from '../../schemas/segment.ts';

/**
 * Where the speaker is in an IEMOCAP frame, and how a crop becomes a 224x224 RGB frame.
 *
 * Aspect policy (config `segment.aspect`): `pad` (default) scales the crop to fit inside 224x224 and
 * centres it on black, so nothing is lost or distorted (an IEMOCAP half becomes 168x224 inside the
 * square, a 16:9 MELD frame 224x126); `crop` scales the shorter side to 224 and keeps the centre
 * square; `stretch` ignores the aspect ratio. Pixels are taken as square: both corpora's containers
 * declare a 1:1 sample aspect ratio.
 */

export type Side = 'left' | 'right';
export type IemocapCropMode = 'half' | 'tight';
export type AspectPolicy = 'pad' | 'crop' | 'stretch';

export interface Rect {
  x: number;
  y: number;
  w: number;
  h: number;
}

/**
 * Speaker rectangles in the 720x480 dialog videos (docs/datasets.md): the marker wearer named in the
 * dialog id is on the left. Other frame sizes get the same rectangles scaled proportionally.
 */
const REFERENCE = { width: 720, height: 480 };
const CROPS: Record<IemocapCropMode, Record<Side, Rect>> = {
  half: { left: { x: 0, y: 0, w: 360, h: 480 }, right: { x: 360, y: 0, w: 360, h: 480 } },
  tight: { left: { x: 6, y: 122, w: 348, h: 238 }, right: { x: 362, y: 122, w: 348, h: 238 } },
};

export function iemocapCropRect(mode: IemocapCropMode, side: Side, width: number, height: number): Rect {
  const r = CROPS[mode][side];
  const sx = width / REFERENCE.width;
  const sy = height / REFERENCE.height;
  const x = Math.min(width - 1, Math.round(r.x * sx));
  const y = Math.min(height - 1, Math.round(r.y * sy));
  return {
    x,
    y,
    w: Math.max(1, Math.min(width - x, Math.round(r.w * sx))),
    h: Math.max(1, Math.min(height - y, Math.round(r.h * sy))),
  };
}

export function cropFilter(r: Rect): string {
  return `crop=${r.w}:${r.h}:${r.x}:${r.y}`;
}

// full_chroma_int/accurate_rnd: the 4:2:0 -> RGB conversion happens inside this scale, at full quality.
const SCALE_FLAGS = 'flags=bicubic+full_chroma_int+accurate_rnd';

/** Filters that turn any picture into SEGMENT_FRAME_SIZE^2 rgb24 under the aspect policy. */
export function fitFilters(aspect: AspectPolicy): string {
  const s = SEGMENT_FRAME_SIZE;
  switch (aspect) {
    case 'pad':
      return `scale=${s}:${s}:force_original_aspect_ratio=decrease:${SCALE_FLAGS},format=rgb24,pad=${s}:${s}:(ow-iw)/2:(oh-ih)/2:black`;
    case 'crop':
      return `scale=${s}:${s}:force_original_aspect_ratio=increase:${SCALE_FLAGS},format=rgb24,crop=${s}:${s}`;
    case 'stretch':
      return `scale=${s}:${s}:${SCALE_FLAGS},format=rgb24`;
  }
}

export const FRAME_BYTES = SEGMENT_FRAME_SIZE * SEGMENT_FRAME_SIZE * 3;
