import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { contentKey } from '../../activities/common/hash.ts';
import { parquetToTable, tableToParquet } from '../../activities/common/parquet.ts';
import { encodeSegmentWav, isSegmentFormat, parseWav, readPcm16, wavSamples } from '../../activities/common/wav.ts';
import { iemocapCropRect, fitFilters } from '../../activities/segment/geometry.ts';
import { mediaDigest, planShards } from '../../activities/segment/plan.ts';
import {
  distinctSorted,
  frameIndexes,
  framesFor,
  sampleTimes,
  selectExpression,
} from '../../activities/segment/sampling.ts';
import { toolMessage, versionAtLeast } from '../../activities/segment/tools.ts';
import { ConfigError, buildRunConfig, loadConfigFile, toPipelineInput } from '../../cli/config.ts';
import type { ManifestRow } from '../../schemas/manifest.ts';
import type { SegmentRow } from '../../schemas/segment.ts';
import { segmentRowsToTable, tableToSegmentRows } from '../../schemas/segment-table.ts';

let dir: string;
let corpus: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mer-seg-units-'));
  corpus = join(dir, 'IEMOCAP_full_release');
  await mkdir(corpus);
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A WAV file with the given fmt fields and chunks, built byte by byte (as other writers lay them out). */
function wav(opts: {
  format?: number;
  channels?: number;
  rate?: number;
  bits?: number;
  extensible?: boolean;
  /** Bytes 2..15 of the extensible sub-format GUID; default the KSDATAFORMAT_SUBTYPE family's. */
  subFormatTail?: Buffer;
  extra?: Buffer;
  data: Buffer;
  dataSize?: number;
}): Buffer {
  const fmtLen = opts.extensible ? 40 : 16;
  const fmt = Buffer.alloc(8 + fmtLen);
  fmt.write('fmt ', 0, 'latin1');
  fmt.writeUInt32LE(fmtLen, 4);
  fmt.writeUInt16LE(opts.extensible ? 0xfffe : (opts.format ?? 1), 8);
  fmt.writeUInt16LE(opts.channels ?? 1, 10);
  fmt.writeUInt32LE(opts.rate ?? 16000, 12);
  fmt.writeUInt16LE(opts.bits ?? 16, 22);
  if (opts.extensible) {
    fmt.writeUInt16LE(opts.format ?? 1, 32);
    (opts.subFormatTail ?? Buffer.from('000000001000800000aa00389b71', 'hex')).copy(fmt, 34);
  }
  const head = Buffer.alloc(8);
  head.write('data', 0, 'latin1');
  head.writeUInt32LE(opts.dataSize ?? opts.data.length, 4);
  const body = Buffer.concat([Buffer.from('WAVE', 'latin1'), fmt, opts.extra ?? Buffer.alloc(0), head, opts.data]);
  const riff = Buffer.alloc(8);
  riff.write('RIFF', 0, 'latin1');
  riff.writeUInt32LE(body.length, 4);
  return Buffer.concat([riff, body]);
}

describe('WAV', () => {
  const samples = Buffer.from(Int16Array.from([0, 1, -1, 32767, -32768, 1234]).buffer);

  test('the segment format is written with the canonical 44-byte header and reads back sample for sample', () => {
    const out = encodeSegmentWav(samples);
    assert.equal(out.length, 44 + samples.length);
    assert.equal(out.toString('latin1', 36, 40), 'data');
    const info = parseWav(out)!;
    assert.deepEqual(info, {
      format: 1,
      channels: 1,
      sampleRate: 16000,
      bitsPerSample: 16,
      dataOffset: 44,
      dataBytes: samples.length,
    });
    assert.ok(isSegmentFormat(info));
    assert.deepEqual(wavSamples(out, info), samples);
  });

  test('chunks before data (odd-sized, padded) are skipped; WAVE_FORMAT_EXTENSIBLE PCM counts as PCM', () => {
    const list = Buffer.concat([
      Buffer.from('LIST', 'latin1'),
      Buffer.from([3, 0, 0, 0]),
      Buffer.from('abc'),
      Buffer.from([0]),
    ]);
    const info = parseWav(wav({ extensible: true, extra: list, data: samples }))!;
    assert.ok(isSegmentFormat(info));
    assert.equal(info.dataBytes, samples.length);
    const vendor = parseWav(wav({ extensible: true, subFormatTail: Buffer.alloc(14, 7), data: samples }))!;
    assert.equal(vendor.format, 0xfffe, 'a sub-format GUID outside the KSDATAFORMAT family is not PCM');
    assert.equal(isSegmentFormat(vendor), false);
  });

  test('streamed (size 0xFFFFFFFF) and truncated data chunks are read as far as the bytes go', () => {
    assert.equal(parseWav(wav({ data: samples, dataSize: 0xffffffff }))!.dataBytes, samples.length);
    assert.equal(parseWav(wav({ data: samples, dataSize: 1000 }))!.dataBytes, samples.length);
    assert.equal(
      wavSamples(wav({ data: samples.subarray(0, 5) }), parseWav(wav({ data: samples.subarray(0, 5) }))!).length,
      4,
      'whole samples only',
    );
  });

  test('anything but 16-bit mono 16 kHz PCM is not the segment format; non-WAV bytes are not WAV', () => {
    for (const o of [{ channels: 2 }, { rate: 44100 }, { bits: 24 }, { format: 3, bits: 32 }]) {
      assert.equal(isSegmentFormat(parseWav(wav({ ...o, data: samples }))!), false, JSON.stringify(o));
    }
    assert.equal(parseWav(Buffer.from('ID3\x04 not a wav')), null);
    assert.equal(parseWav(Buffer.alloc(0)), null);
  });

  test('readPcm16 decodes 16-bit PCM and throws the reason for anything else', () => {
    const pcm = readPcm16(wav({ channels: 2, rate: 8000, data: samples, dataSize: 0xffffffff }));
    assert.deepEqual(pcm, { sampleRate: 8000, channels: 2, samples: Int16Array.from([0, 1, -1, 32767, -32768, 1234]) });
    assert.equal(readPcm16(wav({ data: samples.subarray(0, 5) })).samples.length, 2, 'whole samples only');
    assert.throws(() => readPcm16(Buffer.from('ID3\x04 not a wav')), /^Error: not a RIFF\/WAVE file$/);
    assert.throws(
      () => readPcm16(wav({ format: 3, bits: 32, data: samples })),
      /unsupported encoding \(format 3, 32-bit\)/,
    );
    assert.throws(
      () => readPcm16(wav({ data: samples, dataSize: 1000 })),
      /data chunk declares 1000 bytes but only 12 follow/,
    );
  });
});

describe('frame sampling', () => {
  test('uniform: F frames at the centres of F equal parts; fps: round(d x fps) frames, at least 1, at most `frames`', () => {
    assert.equal(framesFor(0.2, { frames: 15 }), 15);
    assert.equal(framesFor(3.2, { frames: 64, fps: 2 }), 6);
    assert.equal(framesFor(0.1, { frames: 64, fps: 2 }), 1);
    assert.equal(framesFor(100, { frames: 64, fps: 2 }), 64);
    assert.deepEqual(sampleTimes(10, 12, 4), [10.25, 10.75, 11.25, 11.75]);
  });

  test('a time maps to the frame on screen then, clamped to the stream; exact frame times land on their frame', () => {
    const fps = 30000 / 1001;
    assert.deepEqual(frameIndexes([0, 1 / fps, 2.5 / fps, 1000], fps, 100), [0, 1, 2, 99]);
    // 15 samples of a 2-frame clip repeat the two frames in order.
    const idx = frameIndexes(sampleTimes(0, 2 / 23.976, 15), 23.976, 2);
    assert.deepEqual(distinctSorted(idx), [0, 1]);
    assert.deepEqual(
      idx,
      [...idx].sort((a, b) => a - b),
    );
  });

  test('the select expression covers exactly the wanted frames, runs compressed', () => {
    assert.equal(selectExpression([3, 4, 5, 9, 11, 12]), 'between(n,3,5)+eq(n,9)+between(n,11,12)');
    assert.equal(selectExpression([]), '0');
  });
});

describe('IEMOCAP speaker crops', () => {
  test('the documented rectangles on 720x480, scaled proportionally on other sizes', () => {
    assert.deepEqual(iemocapCropRect('half', 'left', 720, 480), { x: 0, y: 0, w: 360, h: 480 });
    assert.deepEqual(iemocapCropRect('half', 'right', 720, 480), { x: 360, y: 0, w: 360, h: 480 });
    assert.deepEqual(iemocapCropRect('tight', 'left', 720, 480), { x: 6, y: 122, w: 348, h: 238 });
    assert.deepEqual(iemocapCropRect('tight', 'right', 720, 480), { x: 362, y: 122, w: 348, h: 238 });
    assert.deepEqual(iemocapCropRect('tight', 'right', 1440, 960), { x: 724, y: 244, w: 696, h: 476 });
    assert.match(fitFilters('pad'), /force_original_aspect_ratio=decrease.*pad=224:224/);
    assert.match(fitFilters('crop'), /force_original_aspect_ratio=increase.*crop=224:224/);
  });
});

describe('shards and cache keys', () => {
  test('shards cover every manifest row once', () => {
    assert.deepEqual(planShards(300, 128), [
      { index: 0, first: 0, count: 128 },
      { index: 1, first: 128, count: 128 },
      { index: 2, first: 256, count: 44 },
    ]);
    assert.deepEqual(planShards(0, 128), []);
  });

  test('the media digest ignores labels (a 4class manifest reuses 6class cuts) but not times or media keys', () => {
    const row = {
      utteranceId: 'Ses01F_impro01_F000',
      startSec: 1,
      endSec: 2,
      audioKey: 'a.wav',
      videoKey: 'v.avi',
      dialogAudioKey: 'd.wav',
      videoHalf: 'left',
      flags: [],
      labelSet: '6class',
      labelIndex: 2,
      labelName: 'neu',
    } as unknown as ManifestRow;
    const d = mediaDigest([row]);
    assert.equal(mediaDigest([{ ...row, labelSet: '4class', labelIndex: -1, labelName: null }]), d);
    assert.notEqual(mediaDigest([{ ...row, endSec: 2.5 }]), d);
    assert.notEqual(mediaDigest([{ ...row, videoHalf: 'right' }]), d);
  });

  test('ffmpeg versions and messages', () => {
    assert.ok(versionAtLeast('5.1.9-0+deb12u1', 5, 1));
    assert.ok(!versionAtLeast('5.0.3', 5, 1));
    assert.ok(versionAtLeast('n7.0.2', 7, 0));
    assert.ok(versionAtLeast('N-112345-gdeadbeef', 7, 0), 'git builds are newer than any release');
    assert.equal(
      toolMessage(
        '[mov,mp4,m4a,3gp,3g2,mj2 @ 0x55ebd67bc1c0] moov atom not found\nfile:/x/a.mp4: Invalid data found when processing input\n',
        '/x/a.mp4',
      ),
      'moov atom not found; Invalid data found when processing input',
    );
  });
});

describe('segment config', () => {
  test('defaults: 15 frames, pad, half crop, overlong cut at 3x, shards of 128', () => {
    const { config } = buildRunConfig(undefined, { iemocap: corpus });
    assert.deepEqual(config.segment, {
      frames: 15,
      aspect: 'pad',
      iemocapCrop: 'half',
      overlong: 'cut',
      overlongFactor: 3,
      shardSize: 128,
      parallelism: 4,
      iemocapDecode: 'dialog',
    });
  });

  test('a shard size outside 64-512 is refused with the file, line and field', async () => {
    const file = join(dir, 'bad.yaml');
    await writeFile(file, `datasets:\n  iemocap: { source: ${corpus} }\nsegment:\n  shardSize: 32\n`);
    assert.throws(
      () => loadConfigFile(file),
      (e: unknown) =>
        e instanceof ConfigError &&
        /bad\.yaml:4: field segment\.shardSize: shards hold 64 to 512 utterances/.test(e.message),
    );
  });

  test('segment parameters join the config hash only when the run includes the segment stage', () => {
    const hash = (until: string, segment?: Record<string, unknown>) => {
      const { config, baseDir } = buildRunConfig(undefined, { iemocap: corpus, until, store: join(dir, 'store') });
      return toPipelineInput({ ...config, segment: { ...config.segment, ...segment } }, baseDir, false);
    };
    const acquireOnly = hash('acquire');
    assert.equal(acquireOnly.segment, undefined);
    // Exactly the hash this config had before the segment stage existed.
    const { store, stages, datasets, acquire } = acquireOnly;
    assert.equal(acquireOnly.configHash, contentKey({ store, stages, datasets, acquire }));
    assert.equal(hash('acquire', { frames: 8, shardSize: 256 }).configHash, acquireOnly.configHash);
    const seg = hash('segment');
    assert.deepEqual(seg.stages, ['acquire', 'segment']);
    assert.equal(seg.segment?.frames, 15);
    assert.notEqual(seg.configHash, acquireOnly.configHash);
    assert.notEqual(hash('segment', { frames: 8 }).configHash, seg.configHash);
  });
});

describe('shard index table', () => {
  test('rows survive Parquet exactly, quarantined ones with their reason', () => {
    const rows: SegmentRow[] = [
      {
        utteranceId: 'meld_train_dia0_utt0',
        dataset: 'meld',
        status: 'ok',
        reason: null,
        audioKey: 'segments/k/audio/a.wav',
        sampleRate: 16000,
        samples: 16725,
        framesKey: 'segments/k/frames/a.rgb.deflate',
        frameCount: 15,
        frameHeight: 224,
        frameWidth: 224,
        startSec: 0,
        endSec: 1.043,
        flags: ['overlong_clip_cut'],
      },
      {
        utteranceId: 'meld_train_dia5_utt1',
        dataset: 'meld',
        status: 'quarantined',
        reason: 'corrupt: moov atom not found',
        audioKey: null,
        sampleRate: null,
        samples: null,
        framesKey: null,
        frameCount: null,
        frameHeight: null,
        frameWidth: null,
        startSec: null,
        endSec: null,
        flags: [],
      },
    ];
    const back = tableToSegmentRows(parquetToTable(tableToParquet(segmentRowsToTable(rows))));
    assert.deepEqual(back, rows);
  });
});
