import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { encodeSegmentWav } from '../../activities/common/wav.ts';
import { outputParams } from '../../activities/segment/plan.ts';
import { DEFAULT_MAX_UTTERANCE_SEC } from '../../schemas/segment.ts';
import { ffmpeg, iemocapRow, meldRow, params, segmentRows } from './stage-run.ts';

/**
 * Utterances longer than `segment.maxUtteranceSec` (issue 14, class 5): by their media or by what
 * their annotation claims, they are cut to the maximum and flagged, or quarantined under
 * `overlong: quarantine`; nothing is decoded or stored beyond the maximum.
 */

let dir: string;
let storeRoot: string;
const CLIP = 'datasets/meld/m/clips/six.mp4';
const VIDEO = 'datasets/iemocap/i/Session1/dialog/avi/DivX/Ses01F_impro01.avi';
const DIALOG_WAV = 'datasets/iemocap/i/Session1/dialog/wav/Ses01F_impro01.wav';
const SENTENCE_WAV = 'datasets/iemocap/i/Session1/sentences/wav/Ses01F_impro01/Ses01F_impro01_F000.wav';
const SR = 16000;
let manifests = 0;
const manifestKey = (dataset: string) => `datasets/${dataset}/m${++manifests}/manifest.parquet`;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mer-seg-overlong-'));
  storeRoot = join(dir, 'store');
  const at = async (key: string) => {
    await mkdir(join(storeRoot, key, '..'), { recursive: true });
    return join(storeRoot, key);
  };
  await ffmpeg([
    ...['-f', 'lavfi', '-i', 'testsrc=d=6:s=160x120:r=25', '-f', 'lavfi', '-i', 'sine=f=300:d=6'],
    ...['-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-shortest', await at(CLIP)],
  ]);
  await ffmpeg(['-f', 'lavfi', '-i', 'testsrc=d=6:s=320x240:r=30', '-c:v', 'mpeg4', await at(VIDEO)]);
  await ffmpeg(['-f', 'lavfi', '-i', 'sine=f=200:d=6:r=16000', '-ac', '2', '-c:a', 'pcm_s16le', await at(DIALOG_WAV)]);
  // A sentence wav already in the segment format (read without ffmpeg), 3 s long.
  await writeFile(await at(SENTENCE_WAV), encodeSegmentWav(Buffer.alloc(3 * SR * 2, 1)));
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('MELD', () => {
  test('a CSV claiming 0..1e9 s is flagged and the clip decides (cut), or quarantined', async () => {
    const row = meldRow('claim', CLIP, 0, 1e9);
    const cut = (await segmentRows(storeRoot, 'meld', manifestKey('meld'), [row], params())).rows.get('claim')!;
    assert.equal(cut.status, 'ok', cut.reason ?? '');
    assert.ok(cut.flags.includes('overlong_annotation'), cut.flags.join());
    assert.ok(cut.endSec! > 5.9 && cut.endSec! < 6.1, `the whole 6 s clip, not 1e9 s: ${cut.endSec}`);
    assert.ok(cut.samples! <= 6.1 * SR, `${cut.samples} samples`);

    const q = (
      await segmentRows(storeRoot, 'meld', manifestKey('meld'), [row], params({ overlong: 'quarantine' }))
    ).rows.get('claim')!;
    assert.equal(q.status, 'quarantined');
    assert.equal(
      q.reason,
      `overlong_utterance: the CSV gives the utterance 1000000000 s, more than segment.maxUtteranceSec (${DEFAULT_MAX_UTTERANCE_SEC} s)`,
    );
    assert.deepEqual(q.flags, ['overlong_utterance']);
  });

  test('a clip longer than the maximum is cut to it and flagged, or quarantined', async () => {
    // No CSV duration: nothing but the maximum bounds the clip (as for a `mer predict` clip).
    const row = meldRow('long', CLIP, 0, 0);
    const p = params({ maxUtteranceSec: 2 });
    const cut = (await segmentRows(storeRoot, 'meld', manifestKey('meld'), [row], p)).rows.get('long')!;
    assert.equal(cut.status, 'ok', cut.reason ?? '');
    assert.deepEqual(cut.flags, ['overlong_utterance_cut', 'zero_csv_duration']);
    assert.equal(cut.endSec, 2);
    // AAC priming may shift a few hundred samples; nothing near the clip's 6 s.
    assert.ok(Math.abs(cut.samples! - 2 * SR) < 1100, `${cut.samples} samples`);
    assert.equal(cut.frameCount, 15);

    const q = (
      await segmentRows(storeRoot, 'meld', manifestKey('meld'), [row], { ...p, overlong: 'quarantine' })
    ).rows.get('long')!;
    assert.equal(q.status, 'quarantined');
    assert.match(
      q.reason!,
      /^overlong_utterance: the clip runs 6\.\d\d s, more than segment\.maxUtteranceSec \(2 s\)$/,
    );
  });
});

describe('IEMOCAP', () => {
  const keys = { video: VIDEO, dialogWav: DIALOG_WAV };

  test('a turn annotated 1..1e9 s is cut to the maximum from its start: bounded audio, no timer overflow', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.name);
    process.on('warning', onWarning);
    try {
      const run = await segmentRows(
        storeRoot,
        'iemocap',
        manifestKey('iemocap'),
        [iemocapRow('Ses01F_impro01_F000', keys, 1, 1e9)],
        params(),
      );
      const r = run.rows.get('Ses01F_impro01_F000')!;
      assert.equal(r.status, 'ok', r.reason ?? '');
      for (const f of ['overlong_utterance_cut', 'beyond_video_end', 'audio_from_dialog'])
        assert.ok(r.flags.includes(f), `${f} in ${r.flags.join()}`);
      assert.equal(r.startSec, 1);
      assert.equal(r.endSec, 1 + DEFAULT_MAX_UTTERANCE_SEC);
      assert.equal(r.samples, 5 * SR, 'what the 6 s dialog wav holds after 1 s');
      assert.equal(r.frameCount, 15);
    } finally {
      process.off('warning', onWarning);
    }
    assert.deepEqual(warnings, [], 'no timeout beyond what setTimeout can hold');
  });

  test('under overlong: quarantine the turn is quarantined without running ffmpeg', async () => {
    const run = await segmentRows(
      storeRoot,
      'iemocap',
      manifestKey('iemocap'),
      [iemocapRow('Ses01F_impro01_F000', keys, 1, 1e9)],
      params({ overlong: 'quarantine' }),
    );
    const r = run.rows.get('Ses01F_impro01_F000')!;
    assert.equal(r.status, 'quarantined');
    assert.equal(
      r.reason,
      `overlong_utterance: the annotation spans 1-1000000000 s, more than segment.maxUtteranceSec (${DEFAULT_MAX_UTTERANCE_SEC} s)`,
    );
    assert.equal(run.ffmpegRuns, 0);
  });

  test('a sentence wav longer than the maximum is not used: the turn is cut from the dialog wav', async () => {
    const run = await segmentRows(
      storeRoot,
      'iemocap',
      manifestKey('iemocap'),
      [iemocapRow('Ses01F_impro01_F000', { ...keys, sentenceWav: SENTENCE_WAV }, 0, 1.5)],
      params({ maxUtteranceSec: 2 }),
    );
    const r = run.rows.get('Ses01F_impro01_F000')!;
    assert.equal(r.status, 'ok', r.reason ?? '');
    assert.ok(r.flags.includes('sentence_wav_unreadable') && r.flags.includes('audio_from_dialog'), r.flags.join());
    assert.equal(r.samples, 1.5 * SR);
  });
});

describe('cache keys', () => {
  test('the default maximum leaves the output parameters (and so every key) as they were', () => {
    assert.deepEqual(Object.keys(outputParams('iemocap', params())).sort(), [
      'aspect',
      'fps',
      'frameSize',
      'frames',
      'iemocapCrop',
      'sampleRate',
    ]);
    assert.deepEqual(
      outputParams('meld', params({ maxUtteranceSec: DEFAULT_MAX_UTTERANCE_SEC })),
      outputParams('meld', params()),
    );
    assert.equal(outputParams('iemocap', params({ maxUtteranceSec: 60 })).maxUtteranceSec, 60);
  });

  test('IEMOCAP keys depend on the overlong policy only when a turn exceeds the maximum', async () => {
    const segKey = async (endSec: number, overlong: 'cut' | 'quarantine') =>
      (
        await segmentRows(
          storeRoot,
          'iemocap',
          manifestKey('iemocap'),
          [iemocapRow('Ses01F_impro01_F000', { video: VIDEO, dialogWav: null }, 0, endSec)],
          params({ overlong }),
        )
      ).plan.segKey;
    assert.equal(await segKey(1, 'cut'), await segKey(1, 'quarantine'));
    assert.notEqual(await segKey(1e6, 'cut'), await segKey(1e6, 'quarantine'));
  });
});
