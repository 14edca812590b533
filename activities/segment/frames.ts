import { mediaDemuxer, mediaInputArgs, type MediaDemuxer, type ProbeResult } from '../common/ffprobe.ts';
import { ToolError } from '../common/run-tool.ts';
import { SEGMENT_FRAME_SIZE } from '../../schemas/segment.ts';
import { FRAME_BYTES, cropFilter, fitFilters, type AspectPolicy, type Rect } from './geometry.ts';
import { ShowinfoFrames } from './frame-identity.ts';
import { distinctSorted, timestampSelectExpression } from './sampling.ts';
import { toolMessage, type SegmentTools } from './tools.ts';

/**
 * Frame extraction. One ffmpeg pass decodes a span of a video once and hands out the frames of any
 * number of requests (utterances), each with its own frame numbers and crop: the selected frames are
 * cropped once per distinct crop, scaled under the aspect policy and laid side by side (hstack), so a
 * frame needed by both speakers of an IEMOCAP dialog is decoded once. Frames stream out in order and a
 * request is complete, and handed on, as soon as its last frame has passed.
 */

export interface VideoStream {
  path: string;
  /** The container's demuxer, as probed: every decode is forced to it. */
  demuxer: MediaDemuxer;
  fps: number;
  /** Timestamp of frame 0, seconds. */
  startSec: number;
  frameCount: number;
  width: number;
  height: number;
}

export interface FrameRequest<T> {
  tag: T;
  /** Absolute frame numbers, one per output frame; repeats allowed. */
  indices: number[];
  /** Region of the source frame, or null for the whole frame. */
  crop: Rect | null;
}

export interface FramesOut {
  data: Buffer | null;
  count: number;
  flags: string[];
  reason: string | null;
}

export type FramesDone<T> = (request: FrameRequest<T>, out: FramesOut) => Promise<void>;

/** The video stream's geometry and frame count, or why frames cannot be cut from it. */
export function videoStreamOf(probe: ProbeResult, path: string): VideoStream | { reason: string } {
  const v = probe.video;
  if (!v) return { reason: 'no_video_stream' };
  const demuxer = mediaDemuxer(probe.format.formatName);
  if (!demuxer) return { reason: `not_media: ${probe.format.formatName} is not a media container read here` };
  if (!v.fps || !v.width || !v.height) return { reason: 'video_unreadable: no frame rate or size in the stream' };
  const duration = v.duration ?? probe.format.duration ?? 0;
  const frameCount = v.frames ?? Math.floor(duration * v.fps + 1e-6);
  if (!(frameCount > 0)) return { reason: 'video_unreadable: the stream has no frames' };
  return { path, demuxer, fps: v.fps, startSec: v.startTime ?? 0, frameCount, width: v.width, height: v.height };
}

/**
 * Filtergraph: select frames by `selectExpr`, log each selected frame (ShowinfoFrames), then one
 * crop+fit branch per crop, side by side.
 */
export function frameGraph(selectExpr: string, crops: readonly (Rect | null)[], aspect: AspectPolicy): string {
  const select = `select='${selectExpr}',${ShowinfoFrames.FILTER}`;
  const branch = (c: Rect | null) => (c ? `${cropFilter(c)},` : '') + fitFilters(aspect);
  if (crops.length === 1) return `[0:v]${select},${branch(crops[0])}[out]`;
  const labels = crops.map((_, i) => `[s${i}]`).join('');
  return [
    `[0:v]${select},split=${crops.length}${labels}`,
    ...crops.map((c, i) => `[s${i}]${branch(c)}[o${i}]`),
    `${crops.map((_, i) => `[o${i}]`).join('')}hstack=inputs=${crops.length}[out]`,
  ].join(';\n');
}

const cropId = (c: Rect | null): string => (c ? cropFilter(c) : 'full');

/** Copies crop variant `v` of a side-by-side record into slot `slot` of an utterance's frame buffer. */
function copyVariant(record: Buffer, variants: number, v: number, target: Buffer, slot: number): void {
  const base = slot * FRAME_BYTES;
  if (variants === 1) {
    record.copy(target, base, 0, FRAME_BYTES);
    return;
  }
  const row = SEGMENT_FRAME_SIZE * 3;
  const stride = row * variants;
  for (let y = 0; y < SEGMENT_FRAME_SIZE; y++)
    record.copy(target, base + y * row, y * stride + v * row, y * stride + (v + 1) * row);
}

/** ffmpeg arguments shared by every frame pass: timestamps kept as in the file, showinfo at info level. */
export function framePassArgs(tools: SegmentTools): { global: string[]; output: string[] } {
  return {
    // info level is for showinfo's per-frame lines; `level+` tags every line so that only warnings and
    // errors make it into a failure message (frameStderr). -nostats drops the progress line.
    global: ['-nostdin', '-hide_banner', '-nostats', '-loglevel', 'level+info', '-copyts'],
    output: [
      ...tools.filterGraphFromStdin(),
      '-map',
      '[out]',
      ...tools.passthroughFrames(),
      '-f',
      'rawvideo',
      '-pix_fmt',
      'rgb24',
      'pipe:1',
    ],
  };
}

/** stderr handling for a frame pass: showinfo lines feed `identity`, other info lines are dropped. */
export function frameStderr(identity: ShowinfoFrames): (line: string) => boolean {
  return (line) => identity.line(line) || line.includes('[info]');
}

/**
 * One ffmpeg run over frames [min, max] of all requests. Each output frame is matched to requests by
 * its own timestamp (ShowinfoFrames); a request is handed to `done` once the pass has gone past its
 * last frame. Frames the decoder never produced are repeated from the nearest produced one and
 * flagged `frames_short`. When ffmpeg fails part way, the requests it had not finished are returned
 * with its message instead (the caller retries them one by one).
 */
export async function decodeRequests<T>(
  tools: SegmentTools,
  video: VideoStream,
  requests: readonly FrameRequest<T>[],
  aspect: AspectPolicy,
  done: FramesDone<T>,
): Promise<{ failed: FrameRequest<T>[]; error: string | null }> {
  if (!requests.length) return { failed: [], error: null };
  const all = distinctSorted(requests.flatMap((r) => r.indices));
  const first = all[0];
  const last = all[all.length - 1];
  const position = new Map(all.map((v, i) => [v, i]));
  const crops: (Rect | null)[] = [];
  const cropIndex = new Map<string, number>();
  const variantOf = requests.map((r) => {
    const id = cropId(r.crop);
    if (!cropIndex.has(id)) {
      cropIndex.set(id, crops.length);
      crops.push(r.crop);
    }
    return cropIndex.get(id)!;
  });
  const wants: Array<Array<[number, number]>> = all.map(() => []);
  const endsAt: number[][] = all.map(() => []);
  requests.forEach((r, ri) => {
    let lastPos = 0;
    r.indices.forEach((abs, slot) => {
      const p = position.get(abs)!;
      wants[p].push([ri, slot]);
      lastPos = Math.max(lastPos, p);
    });
    endsAt[lastPos].push(ri);
  });
  // Allocated on a request's first frame and dropped when it is handed on: memory follows the
  // utterances in flight, not the number of utterances in the pass.
  const buffers: Array<Buffer | null> = requests.map(() => null);
  const filled: Array<Uint8Array | null> = requests.map(() => null);
  const finished = new Set<number>();

  const complete = async (ri: number): Promise<void> => {
    if (finished.has(ri)) return;
    finished.add(ri);
    const r = requests[ri];
    const buf = buffers[ri];
    const got = filled[ri];
    buffers[ri] = null;
    const flags = new Set(r.indices).size < r.indices.length ? ['frames_repeated'] : [];
    if (!buf || !got) {
      await done(r, {
        data: null,
        count: 0,
        flags: ['video_unreadable'],
        reason: `video_unreadable: the decoder produced none of frames ${r.indices[0]}-${r.indices.at(-1)}`,
      });
      return;
    }
    if (got.includes(0)) {
      // Repeat the nearest earlier frame (or the first produced one) into the slots never produced.
      let source = got.indexOf(1);
      for (let s = 0; s < got.length; s++) {
        if (got[s]) source = s;
        else buf.copy(buf, s * FRAME_BYTES, source * FRAME_BYTES, (source + 1) * FRAME_BYTES);
      }
      flags.push('frames_short');
    }
    await done(r, { data: buf, count: r.indices.length, flags, reason: null });
  };
  /** Positions before `upTo` are settled (produced or skipped by the decoder): finish what ends there. */
  let settled = 0;
  const settle = async (upTo: number): Promise<void> => {
    for (; settled < upTo; settled++) for (const ri of endsAt[settled]) await complete(ri);
  };

  // Half a frame early: the frame itself is never trimmed away by the seek; an earlier frame that
  // slips in is not selected (selection goes by timestamp).
  const seekSec = Math.max(0, (first - 0.5) / video.fps);
  const pass = framePassArgs(tools);
  const args = [
    ...pass.global,
    ...(first > 0 ? ['-ss', (video.startSec + seekSec).toFixed(6)] : []),
    // Bounds the decode to the span: nothing after the last wanted frame is read.
    '-t',
    ((last + 1) / video.fps - seekSec).toFixed(6),
    ...mediaInputArgs(video.path, video.demuxer),
    ...pass.output,
  ];
  const identity = new ShowinfoFrames(video.fps, video.startSec);
  let error: string | null = null;
  try {
    await tools.piped(args, {
      stdin: frameGraph(timestampSelectExpression(all, video.fps, video.startSec), crops, aspect),
      // A slow machine still decodes 10 frames a second; beyond that something is wrong with the file.
      timeoutMs: 120_000 + (last - first + 1) * 100,
      recordBytes: FRAME_BYTES * crops.length,
      onStderrLine: frameStderr(identity),
      onStderrEnd: () => identity.end(),
      onRecord: async (record, i) => {
        const k = await identity.frame(i);
        const p = k === null ? undefined : position.get(k);
        if (p === undefined || p < settled) return;
        await settle(p);
        for (const [ri, slot] of wants[p]) {
          const r = requests[ri];
          buffers[ri] ??= Buffer.alloc(r.indices.length * FRAME_BYTES);
          filled[ri] ??= new Uint8Array(r.indices.length);
          copyVariant(record, crops.length, variantOf[ri], buffers[ri], slot);
          filled[ri][slot] = 1;
        }
        await settle(p + 1);
      },
    });
  } catch (err) {
    if (!(err instanceof ToolError) || (err.reason !== 'exit' && err.reason !== 'timeout')) throw err;
    error = err.reason === 'timeout' ? 'ffmpeg timed out' : toolMessage(err.stderrTail, video.path);
  }
  if (error !== null) return { failed: requests.filter((_, ri) => !finished.has(ri)), error };
  await settle(all.length);
  return { failed: [], error: null };
}

export type DecodeStrategy = 'dialog' | 'utterance';

/**
 * `dialog`: one pass for every request, then a pass per request for any that pass failed on (a
 * damaged region must not cost the other utterances their frames). `utterance`: a seek and a pass
 * per request.
 */
export async function decodeAll<T>(
  strategy: DecodeStrategy,
  tools: SegmentTools,
  video: VideoStream,
  requests: readonly FrameRequest<T>[],
  aspect: AspectPolicy,
  done: FramesDone<T>,
): Promise<void> {
  let pending: readonly FrameRequest<T>[] = requests;
  let after = done;
  if (strategy === 'dialog' && requests.length > 1) {
    pending = (await decodeRequests(tools, video, requests, aspect, done)).failed;
    // Flagged, so a pass that fails systematically shows up in the report instead of only costing time.
    after = (r, out) => done(r, { ...out, flags: [...out.flags, 'dialog_pass_failed'] });
  }
  for (const r of pending) {
    const { failed, error } = await decodeRequests(tools, video, [r], aspect, after);
    for (const f of failed)
      await after(f, { data: null, count: 0, flags: ['video_unreadable'], reason: `video_unreadable: ${error}` });
  }
}
