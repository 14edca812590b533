import { z } from 'zod';
import { ffprobePath } from './ffmpeg.ts';
import { runTool } from './run-tool.ts';

/** Probing media with ffprobe: its JSON, validated and reduced to the fields the stages use. */

export type StreamKind = 'video' | 'audio' | 'subtitle' | 'data' | 'attachment' | 'unknown';

export interface ProbeStream {
  index: number;
  kind: StreamKind;
  codec: string;
  /** Seconds, when the container states it per stream. */
  duration?: number;
  /** Timestamp of the stream's first frame/sample, seconds (non-zero e.g. for MP4 edit lists). */
  startTime?: number;
  /** Frames (video) or packets (audio) when the container states them. */
  frames?: number;
  width?: number;
  height?: number;
  /** Average frame rate, else the nominal rate; absent when neither is meaningful. */
  fps?: number;
  pixFmt?: string;
  sampleRate?: number;
  channels?: number;
}

export interface ProbeFormat {
  /** ffprobe's comma-separated demuxer names, e.g. `mov,mp4,m4a,3gp,3g2,mj2`. */
  formatName: string;
  duration?: number;
  size?: number;
  bitRate?: number;
}

export interface ProbeResult {
  format: ProbeFormat;
  streams: ProbeStream[];
  /** First video/audio stream, the ones every caller wants. */
  video?: ProbeStream;
  audio?: ProbeStream;
}

const numLike = z.union([z.string(), z.number()]).optional();
const rawProbeSchema = z.object({
  streams: z
    .array(
      z
        .object({
          index: z.number(),
          codec_type: z.string().optional(),
          codec_name: z.string().optional(),
          width: z.number().optional(),
          height: z.number().optional(),
          avg_frame_rate: z.string().optional(),
          r_frame_rate: z.string().optional(),
          pix_fmt: z.string().optional(),
          sample_rate: numLike,
          channels: z.number().optional(),
          duration: numLike,
          start_time: numLike,
          nb_frames: numLike,
        })
        .loose(),
    )
    .default([]),
  format: z
    .object({
      format_name: z.string().optional(),
      duration: numLike,
      size: numLike,
      bit_rate: numLike,
    })
    .loose()
    .optional(),
});

function num(v: string | number | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = typeof v === 'number' ? v : Number(v);
  return Number.isFinite(n) ? n : undefined;
}

/** `24000/1001` → 23.976…; `0/0` and garbage → undefined. */
export function parseRate(rate: string | undefined): number | undefined {
  if (!rate) return undefined;
  const [a, b] = rate.split('/');
  const n = Number(a);
  const d = b === undefined ? 1 : Number(b);
  if (!Number.isFinite(n) || !Number.isFinite(d) || n <= 0 || d <= 0) return undefined;
  return n / d;
}

const KINDS: readonly StreamKind[] = ['video', 'audio', 'subtitle', 'data', 'attachment'];

export function parseProbeJson(json: unknown): ProbeResult {
  const raw = rawProbeSchema.parse(json);
  const streams: ProbeStream[] = raw.streams.map((s) => {
    const kind = (KINDS as readonly string[]).includes(s.codec_type ?? '') ? (s.codec_type as StreamKind) : 'unknown';
    const out: ProbeStream = { index: s.index, kind, codec: s.codec_name ?? 'unknown' };
    const duration = num(s.duration);
    if (duration !== undefined) out.duration = duration;
    const startTime = num(s.start_time);
    if (startTime !== undefined) out.startTime = startTime;
    const frames = num(s.nb_frames);
    if (frames !== undefined) out.frames = frames;
    if (kind === 'video') {
      if (s.width !== undefined) out.width = s.width;
      if (s.height !== undefined) out.height = s.height;
      const fps = parseRate(s.avg_frame_rate) ?? parseRate(s.r_frame_rate);
      if (fps !== undefined) out.fps = fps;
      if (s.pix_fmt) out.pixFmt = s.pix_fmt;
    }
    if (kind === 'audio') {
      const sr = num(s.sample_rate);
      if (sr !== undefined) out.sampleRate = sr;
      if (s.channels !== undefined) out.channels = s.channels;
    }
    return out;
  });
  const format: ProbeFormat = { formatName: raw.format?.format_name ?? 'unknown' };
  const fd = num(raw.format?.duration);
  if (fd !== undefined) format.duration = fd;
  const size = num(raw.format?.size);
  if (size !== undefined) format.size = size;
  const br = num(raw.format?.bit_rate);
  if (br !== undefined) format.bitRate = br;
  const result: ProbeResult = { format, streams };
  const video = streams.find((s) => s.kind === 'video');
  const audio = streams.find((s) => s.kind === 'audio');
  if (video) result.video = video;
  if (audio) result.audio = audio;
  return result;
}

/**
 * The containers media are read in, as ffmpeg demuxer names: IEMOCAP's wav and avi, MELD's mp4 (the mov
 * demuxer) and what `mer predict` takes (mkv/webm: matroska). Every other demuxer is refused: playlists
 * and lists (hls, concat, sdp, image2, ...) make ffmpeg read other files or open sockets.
 */
export const MEDIA_DEMUXERS = ['mov', 'avi', 'wav', 'matroska'] as const;
export type MediaDemuxer = (typeof MEDIA_DEMUXERS)[number];

/** For messages: the file types behind each demuxer. */
export const MEDIA_CONTAINERS = 'mp4/mov, avi, wav, mkv/webm';

/** ffprobe's `format_name` (`mov,mp4,m4a,3gp,3g2,mj2`) -> the allowed demuxer it names, or null. */
export function mediaDemuxer(formatName: string): MediaDemuxer | null {
  const names = formatName.split(',');
  return MEDIA_DEMUXERS.find((d) => names.includes(d)) ?? null;
}

/**
 * Input options under which ffmpeg/ffprobe can read nothing but the local file itself: the `file`
 * protocol only (no http, concat:, subfile:, data:, pipe, sockets) and only `demuxers` (a list format
 * found by probing is refused before it opens anything).
 */
export function restrictedInput(demuxers: readonly MediaDemuxer[] = MEDIA_DEMUXERS): string[] {
  return ['-protocol_whitelist', 'file', '-format_whitelist', demuxers.join(',')];
}

/**
 * ffmpeg input arguments that read `path` with the demuxer a probe decided (forced: nothing is guessed
 * again), restricted as above and named by an explicit `file:` URL so that no name reads as a protocol.
 * mov's external data references stay off (its default; stated so that no build's default matters).
 */
export function mediaInputArgs(path: string, demuxer: MediaDemuxer): string[] {
  return [
    '-f',
    demuxer,
    ...restrictedInput([demuxer]),
    ...(demuxer === 'mov' ? ['-enable_drefs', '0'] : []),
    '-i',
    `file:${path}`,
  ];
}

/** The demuxer ffmpeg refused under `-format_whitelist` (`[hls @ 0x…] Format not on whitelist …`), or null. */
export function refusedDemuxer(stderr: string): string | null {
  const m = /\[([^\]@\s]+) @ 0x[0-9a-f]+\] (?:\[\w+\] )?Format not on whitelist/i.exec(stderr);
  return m ? m[1] : null;
}

/**
 * ffprobe a file, with only the file protocol and the media demuxers allowed (restrictedInput); a
 * corrupt, unreadable or refused file rejects with ToolError carrying ffprobe's message
 * (refusedDemuxer tells a refused container).
 */
export async function ffprobeJson(
  path: string,
  opts: { timeoutMs?: number; signal?: AbortSignal } = {},
): Promise<ProbeResult> {
  const bin = await ffprobePath();
  const args = ['-v', 'error', ...restrictedInput(), '-show_format', '-show_streams', '-of', 'json', path];
  const { stdout } = await runTool(bin, args, {
    timeoutMs: opts.timeoutMs ?? 60_000,
    signal: opts.signal,
  });
  let json: unknown;
  try {
    json = JSON.parse(stdout.toString('utf8'));
  } catch (err) {
    throw new Error(`ffprobe printed invalid JSON for ${path}`, { cause: err });
  }
  return parseProbeJson(json);
}
