/**
 * transformers' PIL-based image processing (ViTImageProcessorPil, CLIPImageProcessorPil,
 * BitImageProcessorPil) from a model folder's preprocessor_config.json: resize (Pillow, image-resize.ts),
 * centre crop, rescale, normalize, NCHW float32. The segment stage's frames are 224x224 RGB; a family
 * that resizes (DINOv2: shortest edge 256, bicubic, then the centre 224x224) gets Pillow's exact uint8
 * pixels, so the processed values equal Python's bit for bit. Processor classes whose steps differ
 * (ConvNeXt's crop_pct, padding, ...) are refused rather than approximated.
 */
import { SEGMENT_FRAME_SIZE } from '../../schemas/segment.ts';
import { ErrorTypes, MerError } from '../common/errors.ts';
import { RESAMPLE, RESAMPLE_NAMES, resizeRgb } from './image-resize.ts';
import type { JsonObject, ModelFolder } from './model-folder.ts';

type Triple = [number, number, number];

export interface ImageProcessing {
  /** Pillow resize of the frame, or null (no resize, or to the frame's own size: Pillow copies). */
  resize: { height: number; width: number; resample: number } | null;
  /** Centre crop after the resize, or null. */
  crop: { height: number; width: number } | null;
  /** The model's input size after resize and crop. */
  height: number;
  width: number;
  rescale: number;
  mean: Triple;
  std: Triple;
}

/** Processor classes whose steps are exactly resize, centre crop, rescale, normalize. */
const KNOWN = ['ViTImageProcessor', 'CLIPImageProcessor', 'BitImageProcessor'];
/** Their default filter when the file names none (ViT: bilinear; CLIP and BiT: bicubic). */
const DEFAULT_RESAMPLE: Record<string, number> = {
  ViTImageProcessor: RESAMPLE.bilinear,
  CLIPImageProcessor: RESAMPLE.bicubic,
  BitImageProcessor: RESAMPLE.bicubic,
};

function processorClass(pre: JsonObject): string | undefined {
  const raw = pre.image_processor_type ?? pre.feature_extractor_type;
  if (typeof raw !== 'string') return undefined;
  // ViTFeatureExtractor (older exports), CLIPImageProcessorFast, ...Pil: the same steps
  return raw.replace(/(Fast|Pil)$/, '').replace(/FeatureExtractor$/, 'ImageProcessor');
}

export function imageProcessing(folder: ModelFolder, frame = SEGMENT_FRAME_SIZE): ImageProcessing {
  const pre: JsonObject = folder.preprocessor ?? {};
  const file = `${folder.dir}/preprocessor_config.json`;
  const bad = (msg: string): never => {
    throw new MerError(ErrorTypes.ModelMismatch, `${file}: ${msg}`, { folder: folder.dir });
  };
  const cls = processorClass(pre);
  if (cls !== undefined && !KNOWN.includes(cls))
    bad(`image_processor_type ${cls} is not one this stage reproduces (${KNOWN.join(', ')})`);
  const positive = (v: unknown, name: string): number =>
    typeof v === 'number' && Number.isInteger(v) && v > 0 ? v : bad(`${name} is ${JSON.stringify(v)}`);

  let resize: ImageProcessing['resize'] = null;
  let height = frame;
  let width = frame;
  if (pre.do_resize !== false && pre.size !== undefined) {
    const sz = pre.size as unknown;
    let h: number;
    let w: number;
    if (typeof sz === 'number') {
      // an int size is a square for ViT and the shortest edge for CLIP and BiT: the same on square frames
      h = w = positive(sz, 'size');
    } else if (sz && typeof sz === 'object' && !Array.isArray(sz)) {
      const s = sz as Record<string, unknown>;
      if (s.longest_edge !== undefined || s.max_height !== undefined)
        return bad(`size ${JSON.stringify(sz)}: only height/width or shortest_edge are reproduced`);
      if (s.shortest_edge !== undefined) {
        // get_resize_output_image_size(default_to_square=False): the short side becomes shortest_edge,
        // the long side int(shortest_edge * long / short); frames are square
        h = w = positive(s.shortest_edge, 'size.shortest_edge');
      } else {
        h = positive(s.height, 'size.height');
        w = positive(s.width, 'size.width');
        // frames are square: another aspect is a non-proportional resize (image-resize.ts refuses those)
        if (h !== w) bad(`size ${h}x${w} is not square; frames are square and only proportional resizes match Pillow`);
      }
    } else {
      return bad(`size is ${JSON.stringify(sz)}`);
    }
    const resample = pre.resample ?? DEFAULT_RESAMPLE[cls ?? 'ViTImageProcessor'];
    if (typeof resample !== 'number' || RESAMPLE_NAMES[resample] === undefined)
      bad(`resample ${JSON.stringify(pre.resample)} is not a PIL filter number (0-5)`);
    if (h !== frame || w !== frame) resize = { height: h, width: w, resample: resample as number };
    height = h;
    width = w;
  }
  let crop: ImageProcessing['crop'] = null;
  if (pre.do_center_crop === true) {
    const cs = pre.crop_size;
    const c =
      typeof cs === 'number'
        ? { height: positive(cs, 'crop_size'), width: cs }
        : cs && typeof cs === 'object'
          ? {
              height: positive((cs as JsonObject).height, 'crop_size.height'),
              width: positive((cs as JsonObject).width, 'crop_size.width'),
            }
          : bad(`do_center_crop without a crop_size (${JSON.stringify(cs)})`);
    // transformers pads a crop larger than the image with zeros: no real checkpoint does that
    if (c.height > height || c.width > width)
      bad(`crop_size ${c.height}x${c.width} is larger than the resized ${height}x${width} frame`);
    if (c.height !== height || c.width !== width) crop = c;
    height = c.height;
    width = c.width;
  }
  const triple = (v: unknown, name: string, dflt: Triple): Triple => {
    if (v === undefined) return dflt;
    if (typeof v === 'number') return [v, v, v];
    if (Array.isArray(v) && v.length === 3 && v.every((x) => typeof x === 'number')) return v as Triple;
    return bad(`${name} must be three numbers, got ${JSON.stringify(v)}`);
  };
  const normalize = pre.do_normalize !== false;
  return {
    resize,
    crop,
    height,
    width,
    rescale: pre.do_rescale === false ? 1 : typeof pre.rescale_factor === 'number' ? pre.rescale_factor : 1 / 255,
    mean: normalize ? triple(pre.image_mean, 'image_mean', [0.485, 0.456, 0.406]) : [0, 0, 0],
    std: normalize ? triple(pre.image_std, 'image_std', [0.229, 0.224, 0.225]) : [1, 1, 1],
  };
}

/** Words for reports: "shortest edge 256 bicubic, centre crop 224x224". */
export function describeProcessing(p: ImageProcessing): string {
  const parts = [
    p.resize ? `resize ${p.resize.height}x${p.resize.width} ${RESAMPLE_NAMES[p.resize.resample]}` : 'no resize',
  ];
  if (p.crop) parts.push(`centre crop ${p.crop.height}x${p.crop.width}`);
  return parts.join(', ');
}

/**
 * Frames [F, S, S, 3] uint8 (S = `frame`) -> normalised [F, 3, height, width] float32 with
 * transformers' rounding: rescale in float64 then cast to float32, normalise in float32 (a 256-entry
 * table per channel).
 */
export function processFrames(p: ImageProcessing, rgb: Uint8Array, frames: number, frame = SEGMENT_FRAME_SIZE) {
  const inPlane = frame * frame * 3;
  if (rgb.length !== frames * inPlane)
    throw new Error(`frames buffer holds ${rgb.length} bytes, expected ${frames * inPlane}`);
  const { height, width, rescale, mean, std } = p;
  const plane = height * width;
  const lut = [0, 1, 2].map((c) =>
    Float32Array.from({ length: 256 }, (_, v) =>
      Math.fround(Math.fround(Math.fround(v * rescale) - Math.fround(mean[c])) / Math.fround(std[c])),
    ),
  );
  const pixels = new Float32Array(frames * 3 * plane);
  for (let f = 0; f < frames; f++) {
    let img = rgb.subarray(f * inPlane, (f + 1) * inPlane);
    let iw = frame;
    if (p.resize) {
      img = resizeRgb(img, frame, frame, p.resize.width, p.resize.height, p.resize.resample);
      iw = p.resize.width;
    }
    const ih = img.length / (iw * 3);
    // transformers' center_crop: top = (h - ch) // 2, left = (w - cw) // 2
    const top = (ih - height) >> 1;
    const left = (iw - width) >> 1;
    const dst = f * 3 * plane;
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const s = ((top + y) * iw + left + x) * 3;
        const d = dst + y * width + x;
        pixels[d] = lut[0][img[s]];
        pixels[d + plane] = lut[1][img[s + 1]];
        pixels[d + 2 * plane] = lut[2][img[s + 2]];
      }
    }
  }
  return pixels;
}
