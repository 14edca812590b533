/**
 * IEMOCAP frame extraction: one decode pass per dialog video for all of a shard's turns in it
 * (`iemocapDecode: dialog`) against one seek and decode per turn (`utterance`), on the same requests.
 *
 * The video is dialog-like: 720x480 MPEG-4 Part 2 (DivX, as the corpus's dialog/avi/DivX files) at
 * 29.97 fps with moving content, keyframes every 300 frames (DivX's default maximum) and, as a second
 * case, every 30. 28 turns of 3-5 s alternate between the two speakers with 0.5-1.5 s gaps, as in the
 * corpus (turns cover most of a dialog). 15 frames per turn, half crop, pad: the stage's defaults.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ffmpegPath, ffmpegVersion } from '../../activities/common/ffmpeg.ts';
import { runTool } from '../../activities/common/run-tool.ts';
import { decodeAll, videoStreamOf } from '../../activities/segment/frames.ts';
import type { DecodeStrategy, FrameRequest, VideoStream } from '../../activities/segment/frames.ts';
import { iemocapCropRect } from '../../activities/segment/geometry.ts';
import { frameIndexes, sampleTimes } from '../../activities/segment/sampling.ts';
import { SegmentTools } from '../../activities/segment/tools.ts';
import { lavfiInput } from '../../cli/synth/lavfi.ts';
import type { BenchRow } from '../types.ts';
import { median } from '../acquire/unpack.bench.ts';

const BENCH = 'segment/iemocap-decode';
const REPS = 3;
const TURNS = 28;

function turns(): Array<{ start: number; end: number; side: 'left' | 'right' }> {
  let s = 17;
  const rand = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296;
  const out: Array<{ start: number; end: number; side: 'left' | 'right' }> = [];
  let t = 1;
  for (let i = 0; i < TURNS; i++) {
    const start = t + 0.5 + rand();
    const end = start + 3 + 2 * rand();
    out.push({ start, end, side: i % 2 ? 'right' : 'left' });
    t = end;
  }
  return out;
}

async function makeDialog(path: string, seconds: number, gop: number): Promise<void> {
  await runTool(
    await ffmpegPath(),
    [
      '-nostdin',
      ...lavfiInput(`testsrc2=s=720x480:r=30000/1001:d=${seconds.toFixed(3)}`),
      '-c:v',
      'mpeg4',
      '-vtag',
      'DX50',
      '-q:v',
      '4',
      '-g',
      String(gop),
      '-bf',
      '0',
      path,
    ],
    { timeoutMs: 300_000 },
  );
}

async function timeStrategy(
  tools: SegmentTools,
  video: VideoStream,
  requests: FrameRequest<number>[],
  strategy: DecodeStrategy,
): Promise<number> {
  const t0 = performance.now();
  let got = 0;
  await decodeAll(strategy, tools, video, requests, 'pad', (_r, out) => {
    if (!out.data) return Promise.reject(new Error(`no frames: ${out.reason}`));
    got++;
    return Promise.resolve();
  });
  if (got !== requests.length) throw new Error(`${strategy}: ${got} of ${requests.length} turns decoded`);
  return performance.now() - t0;
}

export default async function run(): Promise<BenchRow[]> {
  const work = mkdtempSync(join(tmpdir(), 'mer-bench-segdec-'));
  try {
    const tools = await SegmentTools.create(await ffmpegVersion());
    const spans = turns();
    const seconds = spans[spans.length - 1].end + 1;
    const rows: BenchRow[] = [];
    for (const gop of [300, 30]) {
      const path = join(work, `dialog-g${gop}.avi`);
      await makeDialog(path, seconds, gop);
      const v = videoStreamOf(await tools.probe(path), path);
      if ('reason' in v) throw new Error(v.reason);
      const requests: FrameRequest<number>[] = spans.map((s, i) => ({
        tag: i,
        indices: frameIndexes(sampleTimes(s.start, s.end, 15), v.fps, v.frameCount),
        crop: iemocapCropRect('half', s.side, v.width, v.height),
      }));
      const ms: Record<DecodeStrategy, number[]> = { dialog: [], utterance: [] };
      for (let rep = 0; rep < REPS; rep++) {
        // Alternated, so drift in machine load hits both alike.
        for (const strategy of ['dialog', 'utterance'] as const)
          ms[strategy].push(await timeStrategy(tools, v, requests, strategy));
      }
      const perSec = (s: DecodeStrategy) => (TURNS / median(ms[s])) * 1000;
      const seek = perSec('utterance');
      const single = perSec('dialog');
      rows.push({
        bench: BENCH,
        metric: `turns/s, one decode per dialog (keyframe every ${gop})`,
        value: single,
        unit: 'turns/s',
        reference: { name: 'one seek per turn', value: seek },
        ratio: single / seek,
        notes: `${seconds.toFixed(0)} s dialog, ${TURNS} turns, 15 frames each; median of ${REPS}`,
      });
    }
    return rows;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
