import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import { describe, test } from 'node:test';
import { ffmpegPath } from '../../activities/common/ffmpeg.ts';
import { ToolError } from '../../activities/common/run-tool.ts';
import { runPiped } from '../../activities/segment/ffmpeg-pipes.ts';

/** The streaming ffmpeg runner: records in order, a second output on fd 3, and no child left behind. */

const W = 32;
const H = 24;
const FRAME = W * H * 3;

/** An endless test pattern (video to stdout, a tone to fd 3), tagged so its process can be found in /proc. */
function endless(tag: string): string[] {
  return [
    '-nostdin',
    '-hide_banner',
    '-loglevel',
    'error',
    '-f',
    'lavfi',
    '-i',
    `testsrc=size=${W}x${H}:rate=25`,
    '-f',
    'lavfi',
    '-i',
    'sine=frequency=440:sample_rate=16000',
    '-map',
    '0:v',
    '-metadata',
    `comment=${tag}`,
    '-f',
    'rawvideo',
    '-pix_fmt',
    'rgb24',
    'pipe:1',
    '-map',
    '1:a',
    '-f',
    's16le',
    '-ac',
    '1',
    'pipe:3',
  ];
}

async function running(tag: string): Promise<number[]> {
  const pids: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const cmd = await readFile(`/proc/${name}/cmdline`, 'utf8').catch(() => '');
    if (cmd.includes(tag)) pids.push(Number(name));
  }
  return pids;
}

describe('runPiped', () => {
  test('stdout arrives as whole records in order, fd 3 whole, and the child exits cleanly', async () => {
    const seen: number[] = [];
    const r = await runPiped(
      await ffmpegPath(),
      [
        '-nostdin',
        '-hide_banner',
        '-loglevel',
        'error',
        '-f',
        'lavfi',
        '-i',
        `testsrc=size=${W}x${H}:rate=25:duration=0.4`,
        '-f',
        'lavfi',
        '-i',
        'sine=frequency=440:sample_rate=16000:duration=0.5',
        '-map',
        '0:v',
        '-f',
        'rawvideo',
        '-pix_fmt',
        'rgb24',
        'pipe:1',
        '-map',
        '1:a',
        '-f',
        's16le',
        '-ac',
        '1',
        'pipe:3',
      ],
      {
        timeoutMs: 30_000,
        recordBytes: FRAME,
        fd3: true,
        onRecord: (rec, i) => {
          assert.equal(rec.length, FRAME);
          seen.push(i);
        },
      },
    );
    assert.equal(r.records, 10);
    assert.deepEqual(seen, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert.equal(r.trailingBytes, 0);
    assert.equal(r.fd3.length, 0.5 * 16000 * 2);
  });

  test('an abort SIGKILLs the child at once and rejects as aborted', async () => {
    const ac = new AbortController();
    const tag = `mer-abort-${process.pid}`;
    const p = runPiped(await ffmpegPath(), endless(tag), {
      timeoutMs: 60_000,
      signal: ac.signal,
      recordBytes: FRAME,
      fd3: true,
      onRecord: (_r, i) => {
        if (i === 5) ac.abort(new Error('stop'));
      },
    });
    await assert.rejects(p, (e: unknown) => e instanceof ToolError && e.reason === 'aborted');
    assert.deepEqual(await running(tag), [], 'no ffmpeg left running');
  });

  test('a timeout SIGKILLs the child and names the command', async () => {
    const tag = `mer-timeout-${process.pid}`;
    await assert.rejects(
      runPiped(await ffmpegPath(), endless(tag), { timeoutMs: 400, recordBytes: FRAME, fd3: true }),
      (e: unknown) =>
        e instanceof ToolError && e.reason === 'timeout' && /timed out after 400 ms: .*ffmpeg/.test(e.message),
    );
    assert.deepEqual(await running(tag), []);
  });

  test('a consumer that throws stops the child and its error is the one reported', async () => {
    const tag = `mer-consumer-${process.pid}`;
    await assert.rejects(
      runPiped(await ffmpegPath(), endless(tag), {
        timeoutMs: 60_000,
        recordBytes: FRAME,
        fd3: true,
        // eslint-disable-next-line @typescript-eslint/require-await -- the pipe reader awaits its callback
        onRecord: async (_r, i) => {
          if (i === 3) throw new Error('store write failed');
        },
      }),
      /store write failed/,
    );
    assert.deepEqual(await running(tag), []);
  });

  test('a failing ffmpeg rejects with its exit code and message', async () => {
    await assert.rejects(
      runPiped(
        await ffmpegPath(),
        ['-nostdin', '-hide_banner', '-loglevel', 'error', '-i', 'file:/nonexistent/clip.mp4', '-f', 'null', '-'],
        { timeoutMs: 30_000 },
      ),
      (e: unknown) =>
        e instanceof ToolError && e.reason === 'exit' && e.exitCode !== 0 && /No such file/.test(e.stderrTail),
    );
  });
});
