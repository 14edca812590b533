import assert from 'node:assert/strict';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ffmpegPath, ffmpegVersion } from '../../activities/common/ffmpeg.ts';
import { runTool } from '../../activities/common/run-tool.ts';
import {
  decodeAll,
  videoStreamOf,
  type DecodeStrategy,
  type FrameRequest,
  type VideoStream,
} from '../../activities/segment/frames.ts';
import { iemocapCropRect } from '../../activities/segment/geometry.ts';
import { SegmentTools } from '../../activities/segment/tools.ts';

/**
 * Frame selection must be exact to the frame, wherever a decode starts. The test video carries its
 * own frame number (below 256): the left half's grey level is n mod 16, the right half's
 * floor(n / 16) mod 16, and keyframes are 90 frames apart, so seeks land mid-GOP and half-way
 * between frames.
 */

const FRAME = 224 * 224 * 3;
let dir: string;
let video: VideoStream;
let gapVideo: VideoStream;
let tools: SegmentTools;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mer-seg-index-'));
  const path = join(dir, 'numbered.avi');
  const level = (e: string) => `16+mod(${e},16)*13`;
  await runTool(
    await ffmpegPath(),
    [
      '-nostdin',
      '-hide_banner',
      '-loglevel',
      'error',
      '-f',
      'lavfi',
      '-i',
      `color=c=black:s=144x96:r=30000/1001:d=9,geq=lum='if(lt(X,72),${level('N')},${level('floor(N/16)')})':cb=128:cr=128`,
      '-c:v',
      'mpeg4',
      '-vtag',
      'DX50',
      '-q:v',
      '1',
      '-g',
      '90',
      '-bf',
      '0',
      path,
    ],
    { timeoutMs: 60_000 },
  );
  assert.ok((await stat(path)).size > 0);
  tools = await SegmentTools.create(await ffmpegVersion());
  const probe = await tools.probe(path);
  const v = videoStreamOf(probe, path);
  assert.ok(!('reason' in v), 'probe gives a video stream');
  video = v;
  // The same numbered video with frames 100-104 missing, their timestamps left as a gap (Matroska
  // keeps per-frame timestamps), as a damaged recording would have them.
  const gapPath = join(dir, 'gap.mkv');
  await runTool(
    await ffmpegPath(),
    [
      '-nostdin',
      '-hide_banner',
      '-loglevel',
      'error',
      '-i',
      path,
      '-vf',
      "select='not(between(n,100,104))'",
      '-fps_mode',
      'passthrough',
      '-c:v',
      'mpeg4',
      '-q:v',
      '1',
      '-g',
      '90',
      gapPath,
    ],
    { timeoutMs: 60_000 },
  );
  const g = videoStreamOf(await tools.probe(gapPath), gapPath);
  assert.ok(!('reason' in g));
  gapVideo = { ...g, fps: video.fps };
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The frame number shown in slot `slot` of a left-half and a right-half decode of the same indices. */
function frameNumber(left: Buffer, right: Buffer, slot: number): number {
  const grey = (b: Buffer) => b[slot * FRAME + (112 * 224 + 112) * 3];
  const digit = (g: number) => Math.round((g * 219) / 255 / 13);
  return digit(grey(right)) * 16 + digit(grey(left));
}

async function decode(
  strategy: DecodeStrategy,
  sets: number[][],
  from: VideoStream = video,
  flags: string[][] = [],
): Promise<number[][]> {
  const requests: FrameRequest<string>[] = sets.flatMap((indices, i) => [
    { tag: `${i}L`, indices, crop: iemocapCropRect('half', 'left', from.width, from.height) },
    { tag: `${i}R`, indices, crop: iemocapCropRect('half', 'right', from.width, from.height) },
  ]);
  const out = new Map<string, Buffer>();
  // eslint-disable-next-line @typescript-eslint/require-await -- decodeAll awaits its callback
  await decodeAll(strategy, tools, from, requests, 'stretch', async (r, f) => {
    assert.equal(f.reason, null, f.reason ?? '');
    assert.ok(!f.flags.includes('dialog_pass_failed'), 'the single pass worked');
    out.set(r.tag, f.data!);
    if (r.tag.endsWith('L')) flags[Number(r.tag.slice(0, -1))] = f.flags;
  });
  return sets.map((indices, i) => indices.map((_, slot) => frameNumber(out.get(`${i}L`)!, out.get(`${i}R`)!, slot)));
}

describe('frame selection', () => {
  const sets = [
    [0, 1, 2, 3],
    [44, 45, 45, 89, 90, 91],
    [160, 161, 170, 200],
    [161, 179, 180, 181, 255],
    [200, 253, 254],
  ];

  test('one pass over the video returns exactly the requested frames, repeats included', async () => {
    assert.ok(video.frameCount >= 255);
    assert.deepEqual(await decode('dialog', sets), sets);
  });

  test('one seek per request returns exactly the requested frames, seeking mid-GOP', async () => {
    assert.deepEqual(await decode('utterance', sets), sets);
  });

  test('frames missing from the file are repeated from their neighbour and flagged; later frames stay exact', async () => {
    const sets = [
      [90, 95, 99],
      [98, 99, 100, 102, 104, 105, 106],
      [110, 120],
    ];
    for (const strategy of ['dialog', 'utterance'] as const) {
      const flags: string[][] = [];
      assert.deepEqual(
        await decode(strategy, sets, gapVideo, flags),
        [
          [90, 95, 99],
          [98, 99, 99, 99, 99, 105, 106],
          [110, 120],
        ],
        strategy,
      );
      assert.deepEqual(
        flags.map((f) => f.includes('frames_short')),
        [false, true, false],
        strategy,
      );
    }
  });

  test('a pass over hundreds of scattered frames (past the 100-term limit of a flat ffmpeg sum) stays exact', async () => {
    const many = Array.from({ length: 12 }, (_, i) =>
      Array.from({ length: 15 }, (_, k) => 3 + i * 20 + k + (k % 2) * (i % 3)),
    );
    assert.ok(new Set(many.flat()).size > 100);
    const got = await decode('dialog', many);
    assert.deepEqual(got, many);
  });
});
