import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ffmpegVersion } from '../../activities/common/ffmpeg.ts';
import { mediaDemuxer, refusedDemuxer } from '../../activities/common/ffprobe.ts';
import { encodeSegmentWav } from '../../activities/common/wav.ts';
import { segmentClip } from '../../activities/predict/segment.ts';
import { SegmentTools } from '../../activities/segment/tools.ts';
import { ffmpeg, filesContaining, iemocapRow, meldRow, params, segmentRows } from './stage-run.ts';

/**
 * Media that is not media (issue 14, class 1): a file under a clip's name whose content is a playlist,
 * a list or any other indirection must not make ffmpeg read another file. A secret outside the store
 * holds audio with a unique sample pattern, stored losslessly (FLAC, PCM in MOV, WAV): had ffmpeg read
 * it through any of these files, its samples would be in a stored WAV byte for byte. Each such file is
 * quarantined as `not_media` instead, and no byte of the secret appears anywhere in the outputs.
 */

let dir: string;
let storeRoot: string;
let secretDir: string;
/** Windows of the secret's PCM; any of them in an output means the secret was read. */
let needles: Buffer[];

const CLIPS = 'datasets/meld/m/clips';
const DIALOG = 'datasets/iemocap/i/Session1/dialog';

/** 1 s of 16 kHz mono noise no encoder or test signal would produce by chance. */
function secretPcm(): Buffer {
  const pcm = Buffer.alloc(16000 * 2);
  let x = 0x9e3779b9;
  for (let i = 0; i < 16000; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    pcm.writeInt16LE((x >>> 16) - 32768, i * 2);
  }
  return pcm;
}

const hls = (segment: string) =>
  `#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXTINF:1.0,\n${segment}\n#EXT-X-ENDLIST\n`;

const put = async (key: string, content: string | Uint8Array) => {
  const path = join(storeRoot, key);
  await mkdir(join(path, '..'), { recursive: true });
  await writeFile(path, content);
  return key;
};

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mer-seg-hostile-'));
  storeRoot = join(dir, 'store');
  secretDir = join(dir, 'secret');
  await mkdir(secretDir, { recursive: true });
  const pcm = secretPcm();
  needles = [4000, 12000, 24000].map((o) => pcm.subarray(o, o + 64));
  const secretWav = join(secretDir, 'secret.wav');
  await writeFile(secretWav, encodeSegmentWav(pcm));
  await ffmpeg(['-i', secretWav, '-c:a', 'flac', join(secretDir, 'secret.flac')]);
  await ffmpeg(['-i', secretWav, '-c:a', 'pcm_s16le', '-f', 'mov', join(secretDir, 'secret.mov')]);
  // A good clip next to the hostile ones: it must still come out.
  await mkdir(join(storeRoot, CLIPS), { recursive: true });
  await ffmpeg([
    ...['-f', 'lavfi', '-i', 'testsrc=d=1:s=160x120:r=25', '-f', 'lavfi', '-i', 'sine=f=300:d=1'],
    ...['-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-shortest', join(storeRoot, CLIPS, 'good.mp4')],
  ]);
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** What an attacker puts under a clip's name: the file's content, or a link. */
type Hostile = { content: string | Uint8Array } | { link: string };

async function hostileClips(): Promise<Record<string, Hostile>> {
  const flac = join(secretDir, 'secret.flac');
  // In the store, beside the clips: a list may only name a file next to it (concat's safe mode).
  await put(`${CLIPS}/sibling.wav`, encodeSegmentWav(secretPcm()));
  await put(`${CLIPS}/inner.m3u8`, hls(flac));
  await mkdir(join(storeRoot, 'datasets/meld/m/linked'), { recursive: true });
  await symlink(secretDir, join(storeRoot, 'datasets/meld/m/linked/dir'));
  return {
    hls_absolute: { content: hls(flac) },
    hls_file_url: { content: hls(`file://${flac}`) },
    hls_relative: { content: hls(`../../../../../secret/secret.flac`) },
    hls_mov: { content: hls(join(secretDir, 'secret.mov')) },
    hls_nested: { content: `#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1000\ninner.m3u8\n` },
    hls_data_uri: { content: hls(`data:audio/wav;base64,${encodeSegmentWav(secretPcm()).toString('base64')}`) },
    // `duration` gives the list a duration in the probe, so the cutter would go on to decode it.
    ffconcat_sibling: { content: 'ffconcat version 1.0\nfile sibling.wav\nduration 1.0\n' },
    ffconcat_absolute: { content: `ffconcat version 1.0\nfile ${flac}\n` },
    ffconcat_subfile: { content: `ffconcat version 1.0\nfile 'subfile:,start,0,end,0,:${flac}'\n` },
    sdp: {
      content: 'v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=x\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 5004 RTP/AVP 0\r\n',
    },
    srt_text: { content: '1\n00:00:00,000 --> 00:00:01,000\nhello\n\n2\n00:00:01,000 --> 00:00:02,000\nworld\n' },
    ffmetadata: { content: ';FFMETADATA1\ntitle=x\n' },
    link_to_secret: { link: join(secretDir, 'secret.mov') },
  };
}

describe('media that is not media', () => {
  test('playlists, lists and links under a MELD clip name are quarantined as not_media; nothing of the secret is stored', async () => {
    const clips = await hostileClips();
    const rows = [meldRow('good', `${CLIPS}/good.mp4`, 0, 1)];
    for (const [name, h] of Object.entries(clips)) {
      const key = `${CLIPS}/${name}.mp4`;
      if ('link' in h) await symlink(h.link, join(storeRoot, key));
      else await put(key, h.content);
      rows.push(meldRow(name, key, 0, 1));
    }
    // A clip inside a linked folder: the file itself is regular, the path leaves the store.
    rows.push(meldRow('under_linked_dir', 'datasets/meld/m/linked/dir/secret.mov', 0, 1));
    // An image2 pattern name (a demuxer that would read img1.png, img2.png, ...).
    await ffmpeg(['-f', 'lavfi', '-i', 'color=c=red:s=32x32', '-frames:v', '1', join(storeRoot, CLIPS, 'img1.png')]);
    await copyFile(join(storeRoot, CLIPS, 'img1.png'), join(storeRoot, CLIPS, 'img%d.png'));
    rows.push(meldRow('image2_pattern', `${CLIPS}/img%d.png`, 0, 1));

    const started = Date.now();
    const run = await segmentRows(storeRoot, 'meld', 'datasets/meld/m/manifest.parquet', rows, params());
    for (const r of rows) {
      const out = run.rows.get(r.utteranceId)!;
      if (r.utteranceId === 'good') {
        assert.equal(out.status, 'ok', `good clip: ${out.reason}`);
        continue;
      }
      assert.equal(out.status, 'quarantined', `${r.utteranceId} must be quarantined`);
      assert.equal(out.audioKey, null);
      assert.equal(out.framesKey, null);
      if (r.utteranceId === 'link_to_secret' || r.utteranceId === 'under_linked_dir')
        assert.match(out.reason!, /^not_media: \S+ is a symbolic link or lies under one/, r.utteranceId);
      else
        assert.match(
          out.reason!,
          /^not_media: the clip holds [\w,]+ content, not media in one of the containers read here \(mp4\/mov, avi, wav, mkv\/webm\)$/,
          `${r.utteranceId}: ${out.reason}`,
        );
    }
    // The SDP one would wait on a UDP socket until ffprobe's timeout, had it been opened.
    assert.ok(Date.now() - started < 50_000, 'no probe waited on a socket or a timeout');
    assert.deepEqual(await filesContaining(join(storeRoot, 'segments'), needles), []);
  });

  test('IEMOCAP: a dialog video, dialog wav and sentence wav that are playlists quarantine the turn', async () => {
    const flac = join(secretDir, 'secret.flac');
    const keys = {
      video: await put(`${DIALOG}/avi/DivX/Ses01F_impro01.avi`, hls(flac)),
      dialogWav: await put(`${DIALOG}/wav/Ses01F_impro01.wav`, `ffconcat version 1.0\nfile ${flac}\n`),
      sentenceWav: await put(`${DIALOG}/sentences/Ses01F_impro01_F000.wav`, hls(flac)),
    };
    const run = await segmentRows(
      storeRoot,
      'iemocap',
      'datasets/iemocap/i/manifest.parquet',
      [iemocapRow('Ses01F_impro01_F000', keys, 0, 1)],
      params(),
    );
    const out = run.rows.get('Ses01F_impro01_F000')!;
    assert.equal(out.status, 'quarantined');
    for (const part of out.reason!.split(' | '))
      assert.match(part, /^not_media: the (dialog video|dialog wav|sentence wav) holds (hls|concat) content/);
    assert.ok(out.reason!.includes('dialog video') && out.reason!.includes('dialog wav'), out.reason!);
    assert.ok(out.flags.includes('video_unreadable'), out.flags.join());
    assert.deepEqual(await filesContaining(join(storeRoot, 'segments'), needles), []);
  });

  test('every container the corpora and mer predict use still cuts, under the forced demuxer', async () => {
    const tools = await SegmentTools.create(await ffmpegVersion());
    const src = join(storeRoot, CLIPS, 'good.mp4');
    const made: Record<string, string[]> = {
      'clip.mov': ['-c', 'copy'],
      'clip.mkv': ['-c', 'copy'],
      'clip.webm': ['-c:v', 'libvpx', '-c:a', 'libopus', '-ar', '48000'],
      'clip.avi': ['-c:v', 'mpeg4', '-c:a', 'pcm_s16le'],
      'clip.wav': ['-vn', '-c:a', 'pcm_s16le'],
    };
    for (const [name, codec] of Object.entries(made)) {
      const path = join(dir, 'containers', name);
      await mkdir(join(dir, 'containers'), { recursive: true });
      await ffmpeg(['-i', src, ...codec, path]);
      const m = await segmentClip(path, params(), tools);
      assert.equal(m.quarantine, null, `${name}: ${m.quarantine}`);
      assert.ok(m.audio && m.audio.length > 0.9 * 16000 * 2, `${name}: audio`);
      if (name !== 'clip.wav') assert.equal(m.frameCount, 15, `${name}: frames`);
    }
  });

  test('demuxer names: the allow-list and the refusal message', () => {
    assert.equal(mediaDemuxer('mov,mp4,m4a,3gp,3g2,mj2'), 'mov');
    assert.equal(mediaDemuxer('matroska,webm'), 'matroska');
    for (const other of ['hls', 'concat', 'sdp', 'image2', 'srt', 'ffmetadata', 'flac', 'wavpack', ''])
      assert.equal(mediaDemuxer(other), null, other);
    assert.equal(refusedDemuxer("[hls @ 0x55d0c0ffee00] Format not on whitelist 'mov,avi,wav,matroska'\n"), 'hls');
    assert.equal(refusedDemuxer("[concat @ 0x1] [error] Format not on whitelist 'mov'"), 'concat');
    assert.equal(refusedDemuxer('[mov,mp4,m4a,3gp,3g2,mj2 @ 0x1] moov atom not found'), null);
  });

  test('mer predict: a playlist given as a clip is refused with not_media, a real clip is cut', async () => {
    const tools = await SegmentTools.create(await ffmpegVersion());
    const clip = join(dir, 'predict', 'clip.mp4');
    await mkdir(join(dir, 'predict'), { recursive: true });
    await writeFile(clip, hls(join(secretDir, 'secret.flac')));
    const media = await segmentClip(clip, params(), tools);
    assert.match(media.quarantine ?? '', /^not_media: the clip holds hls content/);
    assert.equal(media.audio, null);
    const good = await segmentClip(join(storeRoot, CLIPS, 'good.mp4'), params(), tools);
    assert.equal(good.quarantine, null);
    assert.ok(good.audio && good.audio.length > 0);
    for (const m of [media, good]) for (const n of needles) assert.ok(!(m.audio ?? Buffer.alloc(0)).includes(n));
  });
});
