import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { inflateRawSync } from 'node:zlib';
import { localStepContext } from '../../activities/common/context.ts';
import { ffmpegVersion } from '../../activities/common/ffmpeg.ts';
import { parseWav, wavSamples } from '../../activities/common/wav.ts';
import { iemocapCropRect } from '../../activities/segment/geometry.ts';
import { cutIemocap } from '../../activities/segment/iemocap.ts';
import { MediaFiles } from '../../activities/segment/media-files.ts';
import { cutMeld } from '../../activities/segment/meld.ts';
import { planSegmentStep, readManifestRows } from '../../activities/segment/plan.ts';
import { segmentShardStep } from '../../activities/segment/shard.ts';
import { SegmentTools } from '../../activities/segment/tools.ts';
import type { UtteranceMedia } from '../../activities/segment/utterance.ts';
import { createStore } from '../../activities/store/index.ts';
import { LocalStore } from '../../activities/store/local.ts';
import { acquireDirect } from '../../cli/direct.ts';
import { synthesize, type IemocapTruth, type MeldTruth, type Rgb } from '../../cli/synth/index.ts';
import { AcquireParamsSchema, SegmentParamsSchema, type SegmentParams } from '../../schemas/config.ts';
import type { ManifestRow } from '../../schemas/manifest.ts';
import type { SegmentRow } from '../../schemas/segment.ts';
import { ffmpegLog, type FfmpegLog } from '../helpers/ffmpeg-log.ts';
import { startS3Server, type S3TestServer } from '../helpers/s3-server.ts';

/** The cutters on real ffmpeg and synthetic corpora whose truth files say what every cut must contain. */

const FRAME = 224 * 224 * 3;
/** One AAC frame (1024 samples at MELD's 48 kHz) in 16 kHz samples: encoders pad clips by up to this. */
const AAC_FRAME_16K = Math.ceil((1024 * 16000) / 48000);

let dir: string;
let storeRoot: string;
const store = () => createStore({ kind: 'local', root: storeRoot });
let iemocapTruth: IemocapTruth;
let meldTruth: MeldTruth;
let iemocapRows: ManifestRow[];
let meldRows: ManifestRow[];
let iemocapManifest: string;
let meldManifest: string;
let log: FfmpegLog;
let restore: () => void;
let version: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mer-seg-cut-'));
  storeRoot = join(dir, 'store');
  const [i, m] = await Promise.all([
    synthesize({ dataset: 'iemocap', out: join(dir, 'iemocap'), archive: true, seed: 4, scale: 'tiny' }),
    synthesize({ dataset: 'meld', out: join(dir, 'meld'), archive: true, seed: 4, scale: 'tiny' }),
  ]);
  iemocapTruth = i.truth;
  meldTruth = m.truth;
  const acquire = AcquireParamsSchema.parse({});
  const spec = { kind: 'local' as const, root: storeRoot };
  const [ai, am] = await Promise.all([
    acquireDirect({
      store: spec,
      plan: { dataset: 'iemocap', source: { kind: 'archive', path: i.archive! }, labels: '6class' },
      acquire,
    }),
    acquireDirect({
      store: spec,
      plan: { dataset: 'meld', source: { kind: 'archive', path: m.archive! }, labels: 'meld7' },
      acquire,
    }),
  ]);
  iemocapManifest = ai.result.manifestKey;
  meldManifest = am.result.manifestKey;
  iemocapRows = await readManifestRows(store(), iemocapManifest);
  meldRows = await readManifestRows(store(), meldManifest);
  log = await ffmpegLog(dir);
  restore = log.install();
  version = await ffmpegVersion();
});

after(async () => {
  restore?.();
  await rm(dir, { recursive: true, force: true });
});

const params = (p: Partial<SegmentParams> = {}): SegmentParams => ({ ...SegmentParamsSchema.parse({}), ...p });

/** Runs the stage's steps for one dataset (plan, every shard) and returns the rows by utterance id. */
async function segmentAll(dataset: 'iemocap' | 'meld', p: SegmentParams) {
  const manifestKey = dataset === 'iemocap' ? iemocapManifest : meldManifest;
  const plan = await planSegmentStep({ store: { kind: 'local', root: storeRoot }, dataset, manifestKey, params: p });
  const stats = [];
  for (const shard of plan.shards) {
    stats.push(
      await segmentShardStep(
        {
          store: { kind: 'local', root: storeRoot },
          dataset,
          manifestKey,
          prefix: plan.prefix,
          ffmpegVersion: plan.ffmpegVersion,
          params: p,
          shard,
        },
        localStepContext(),
      ),
    );
  }
  const rows = new Map<string, SegmentRow>();
  for (const r of dataset === 'iemocap' ? iemocapRows : meldRows) {
    rows.set(
      r.utteranceId,
      JSON.parse((await store().get(`${plan.prefix}/rows/${r.utteranceId}.json`)).toString('utf8')) as SegmentRow,
    );
  }
  return { plan, stats, rows };
}

/** The cutter alone, over some manifest rows, with an emit that keeps what it is handed. */
async function cut(
  dataset: 'iemocap' | 'meld',
  rows: readonly ManifestRow[],
  p: SegmentParams,
  storeOverride?: ReturnType<typeof createStore>,
) {
  const out = new Map<string, UtteranceMedia>();
  const files = new MediaFiles(storeOverride ?? store());
  const tools = await SegmentTools.create(version);
  try {
    await (dataset === 'iemocap' ? cutIemocap : cutMeld)(rows, { tools, files, params: p }, (row, media) => {
      out.set(row.utteranceId, media);
      return Promise.resolve();
    });
  } finally {
    await files.close();
  }
  return { out, runs: tools.runs };
}

async function frames(row: SegmentRow): Promise<Buffer> {
  const raw = inflateRawSync(await store().get(row.framesKey!));
  assert.equal(raw.length, row.frameCount! * FRAME, `${row.utteranceId}: ${row.frameCount} frames of 224x224x3`);
  return raw;
}

/** Mean colour of the most common 32-level colour cell among non-black pixels of one frame. */
function dominant(buf: Buffer, frame: number): Rgb {
  const cells = new Map<number, { n: number; sum: [number, number, number] }>();
  for (let p = frame * FRAME; p < (frame + 1) * FRAME; p += 3) {
    const [r, g, b] = [buf[p], buf[p + 1], buf[p + 2]];
    if (r + g + b < 60) continue;
    const k = ((r >> 5) << 6) | ((g >> 5) << 3) | (b >> 5);
    const c = cells.get(k) ?? { n: 0, sum: [0, 0, 0] };
    c.n++;
    c.sum[0] += r;
    c.sum[1] += g;
    c.sum[2] += b;
    cells.set(k, c);
  }
  const best = [...cells.values()].sort((a, b) => b.n - a.n)[0];
  return best.sum.map((s) => Math.round(s / best.n)) as unknown as Rgb;
}

/** Pids of processes whose command line names a path under `dir` (Linux /proc). */
async function processesReading(dir: string): Promise<number[]> {
  const pids: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    const cmd = await readFile(`/proc/${name}/cmdline`, 'utf8').catch(() => '');
    if (cmd.includes(dir)) pids.push(Number(name));
  }
  return pids;
}

const distance = (a: Rgb, b: Rgb) => Math.max(...a.map((v, i) => Math.abs(v - b[i])));
const blackFraction = (buf: Buffer, frame: number) => {
  let black = 0;
  for (let p = frame * FRAME; p < (frame + 1) * FRAME; p += 3) if (buf[p] + buf[p + 1] + buf[p + 2] < 30) black++;
  return black / (FRAME / 3);
};

describe('IEMOCAP', () => {
  test('audio: sentence wavs byte for byte, missing ones cut from the dialog wav to the annotated length', async () => {
    const { rows } = await segmentAll('iemocap', params());
    for (const u of iemocapTruth.utterances) {
      const r = rows.get(u.id)!;
      assert.equal(r.status, 'ok', `${u.id}: ${r.reason}`);
      const wav = await store().get(r.audioKey!);
      const pcm = wavSamples(wav, parseWav(wav)!);
      if (!u.flags.missingWav) {
        assert.equal(r.samples, u.samples, `${u.id}: sample count of its sentence wav`);
        const source = await readFile(join(dir, 'iemocap', iemocapTruth.corpusDir, u.sentenceWav));
        assert.ok(pcm.equals(wavSamples(source, parseWav(source)!)), `${u.id}: the sentence wav's samples unchanged`);
        assert.ok(!r.flags.includes('audio_from_dialog'));
      } else {
        assert.ok(r.flags.includes('audio_from_dialog'), `${u.id} flagged`);
        assert.ok(
          Math.abs(r.samples! - (u.end - u.start) * 16000) <= 1,
          `${u.id}: ${r.samples} samples for ${u.end - u.start} s`,
        );
      }
      assert.equal(r.sampleRate, 16000);
      assert.deepEqual([r.startSec, r.endSec], [u.start, u.end]);
    }
  });

  test("frames: 15 per turn, 224x224, each showing the speaker's half of the split screen", async () => {
    const { rows } = await segmentAll('iemocap', params());
    const dialogs = new Map(iemocapTruth.dialogs.map((d) => [d.id, d]));
    for (const u of iemocapTruth.utterances) {
      const r = rows.get(u.id)!;
      assert.equal(r.frameCount, 15);
      assert.deepEqual([r.frameHeight, r.frameWidth], [224, 224]);
      const d = dialogs.get(u.dialog)!;
      const own = d[u.side].rgb;
      const other = d[u.side === 'left' ? 'right' : 'left'].rgb;
      const buf = await frames(r);
      for (let f = 0; f < 15; f++) {
        const c = dominant(buf, f);
        assert.ok(
          distance(c, own) <= 24,
          `${u.id} frame ${f}: ${c.join(',')} is the ${u.side} actor's ${own.join(',')}`,
        );
        assert.ok(distance(c, other) > 60, `${u.id} frame ${f}: not the other actor's ${other.join(',')}`);
      }
    }
  });

  test('one decode per dialog and one seek per turn give the same frames; the tight crop drops the letterbox', async () => {
    const two = iemocapRows.filter(
      (r) => r.dialogueId === iemocapRows[0].dialogueId || r.dialogueId === iemocapRows.at(-1)!.dialogueId,
    );
    const perDialog = await cut('iemocap', two, params({ iemocapCrop: 'tight' }));
    const perTurn = await cut('iemocap', two, params({ iemocapCrop: 'tight', iemocapDecode: 'utterance' }));
    const half = await cut('iemocap', two, params());
    const dialogVideos = new Set(two.map((r) => r.dialogueId)).size;
    assert.equal(perDialog.runs, dialogVideos * 2, 'per dialog: one probe and one decode');
    assert.equal(perTurn.runs, dialogVideos + two.length, 'per turn: one probe per dialog, one decode per turn');
    for (const r of two) {
      const a = perDialog.out.get(r.utteranceId)!;
      const b = perTurn.out.get(r.utteranceId)!;
      assert.ok(a.frames && b.frames && a.frames.equals(b.frames), `${r.utteranceId}: identical frames either way`);
      const h = half.out.get(r.utteranceId)!.frames!;
      assert.ok(blackFraction(h, 0) > 0.5, 'half crop + pad: letterbox and side bars are black');
      assert.ok(blackFraction(a.frames, 0) < 0.35, 'tight crop: the picture panel fills the frame width');
      assert.deepEqual(iemocapCropRect('tight', r.videoHalf!, 720, 480).w, 348);
    }
  });
});

describe('MELD', () => {
  test('corrupt and missing clips are quarantined, over-long ones cut and flagged, every other one produced', async () => {
    const { rows, stats } = await segmentAll('meld', params());
    const idOf = (u: MeldTruth['utterances'][number]) => `meld_${u.split}_dia${u.dialogueId}_utt${u.utteranceId}`;
    for (const u of meldTruth.utterances) {
      const r = rows.get(idOf(u))!;
      if (u.flags.corrupt) {
        assert.equal(r.status, 'quarantined');
        assert.match(r.reason!, /^corrupt: ffprobe cannot read the clip: .*moov atom not found/);
        continue;
      }
      if (u.flags.missing) {
        assert.equal(r.status, 'quarantined');
        assert.match(r.reason!, /^media_missing: /);
        continue;
      }
      assert.equal(r.status, 'ok', `${u.id}: ${r.reason}`);
      const csvSec = Math.round((u.end - u.start) * 1e6) / 1e6;
      const expectSec = u.flags.overlong ? csvSec : u.clipDurationSec!;
      assert.ok(
        Math.abs(r.samples! - expectSec * 16000) <= AAC_FRAME_16K,
        `${u.id}: ${r.samples} samples for ${expectSec} s, within one audio frame`,
      );
      assert.equal(r.flags.includes('overlong_clip_cut'), u.flags.overlong, `${u.id} overlong flag`);
      if (u.flags.overlong) assert.equal(r.endSec, csvSec, 'cut to the CSV duration');
      assert.equal(r.flags.includes('two_frame_clip'), u.flags.twoFrame, `${u.id} two-frame flag`);
      assert.equal(r.flags.includes('zero_csv_duration'), u.flags.zeroDuration);
      assert.equal(r.frameCount, 15);
      const buf = await frames(r);
      const rgb = meldTruth.speakers[u.speaker].rgb;
      for (const f of [0, 7, 14])
        assert.ok(distance(dominant(buf, f), rgb) <= 24, `${u.id} frame ${f} shows the scene colour ${rgb.join(',')}`);
    }
    assert.equal(
      stats.reduce((a, s) => a + s.quarantined, 0),
      2,
    );
  });

  test('over-long policy keep and quarantine; fixed-fps sampling', async () => {
    const overlong = meldRows.filter((r) =>
      meldTruth.utterances.some(
        (u) => u.flags.overlong && `meld_${u.split}_dia${u.dialogueId}_utt${u.utteranceId}` === r.utteranceId,
      ),
    );
    assert.ok(overlong.length >= 2);
    const kept = await cut('meld', overlong, params({ overlong: 'keep' }));
    const refused = await cut('meld', overlong, params({ overlong: 'quarantine' }));
    for (const r of overlong) {
      const u = meldTruth.utterances.find(
        (x) => `meld_${x.split}_dia${x.dialogueId}_utt${x.utteranceId}` === r.utteranceId,
      )!;
      const k = kept.out.get(r.utteranceId)!;
      assert.deepEqual(k.flags.includes('overlong_clip_kept'), true);
      assert.ok(Math.abs(k.audio!.length / 2 - u.clipDurationSec! * 16000) <= AAC_FRAME_16K, 'the whole clip');
      const q = refused.out.get(r.utteranceId)!;
      assert.match(q.quarantine!, /^overlong_clip: the clip runs [\d.]+ s, [\d.]+x its CSV duration/);
    }
    assert.equal(refused.runs, overlong.length, 'a quarantined over-long clip is probed, never decoded');
    const fps = await cut('meld', overlong.slice(0, 1), params({ fps: 10, frames: 64 }));
    const m = fps.out.get(overlong[0].utteranceId)!;
    const csvSec = overlong[0].endSec - overlong[0].startSec;
    assert.equal(m.frameCount, Math.round(csvSec * 10));
    assert.equal(m.frames!.length, m.frameCount * FRAME);
  });

  test('the same cuts through an S3 store (objects downloaded to a worker-local temp folder)', async () => {
    let s3: S3TestServer | undefined;
    try {
      s3 = await startS3Server({ prefix: 'seg' });
      const remote = createStore(s3.spec);
      const some = meldRows.filter((r) => r.videoKey).slice(0, 3);
      for (const r of some) await remote.put(r.videoKey!, await store().get(r.videoKey!));
      const viaS3 = await cut(
        'meld',
        [...some, { ...some[0], utteranceId: 'meld_train_dia999_utt0', videoKey: 'raw/meld/none/dia999_utt0.mp4' }],
        params(),
        remote,
      );
      const local = await cut('meld', some, params());
      for (const r of some) {
        assert.ok(
          viaS3.out.get(r.utteranceId)!.frames!.equals(local.out.get(r.utteranceId)!.frames!),
          `${r.utteranceId}: same frames`,
        );
        assert.ok(
          viaS3.out.get(r.utteranceId)!.audio!.equals(local.out.get(r.utteranceId)!.audio!),
          `${r.utteranceId}: same audio`,
        );
      }
      assert.match(viaS3.out.get('meld_train_dia999_utt0')!.quarantine!, /^media_missing: .* is not in the store/);
    } finally {
      await s3?.dispose();
    }
  });
});

describe('resuming a shard', () => {
  test('only utterances without a stored row are cut again; the others are not touched', async () => {
    const first = await segmentAll('meld', params());
    const redo = meldRows.filter((r) => r.videoKey).slice(3, 6);
    const local = new LocalStore(storeRoot);
    for (const r of redo) await local.delete(`${first.plan.prefix}/rows/${r.utteranceId}.json`);
    const keep = meldRows.find((r) => !redo.includes(r) && r.videoKey)!;
    const before = await stat(join(storeRoot, first.plan.prefix, 'rows', `${keep.utteranceId}.json`));
    const invocations = (await log.lines()).length;

    const again = await segmentAll('meld', params());
    const later = (await log.lines()).slice(invocations);
    assert.equal(later.length, redo.length * 2, 'one probe and one decode per redone clip, nothing else');
    for (const r of redo) assert.equal(later.filter((l) => l.includes(r.videoKey!)).length, 2);
    assert.equal(again.stats[0].produced, redo.length);
    assert.equal(again.stats[0].reused, meldRows.length - redo.length);
    const after = await stat(join(storeRoot, first.plan.prefix, 'rows', `${keep.utteranceId}.json`));
    assert.deepEqual([after.ino, after.mtimeMs], [before.ino, before.mtimeMs]);
    for (const r of redo) assert.deepEqual(again.rows.get(r.utteranceId), first.rows.get(r.utteranceId));
  });

  test('a worker whose ffmpeg differs from the plan refuses the shard (non-retryable MerToolMismatch)', async () => {
    const plan = await planSegmentStep({
      store: { kind: 'local', root: storeRoot },
      dataset: 'meld',
      manifestKey: meldManifest,
      params: params({ frames: 3 }),
    });
    await assert.rejects(
      segmentShardStep(
        {
          store: { kind: 'local', root: storeRoot },
          dataset: 'meld',
          manifestKey: meldManifest,
          prefix: plan.prefix,
          ffmpegVersion: '0.0-other',
          params: params({ frames: 3 }),
          shard: plan.shards[0],
        },
        localStepContext(),
      ),
      (e: unknown) =>
        (e as { type?: string }).type === 'MerToolMismatch' && /keyed to ffmpeg 0\.0-other/.test((e as Error).message),
    );
  });

  test('cancellation stops the running ffmpeg and fails the shard promptly', async () => {
    const plan = await planSegmentStep({
      store: { kind: 'local', root: storeRoot },
      dataset: 'meld',
      manifestKey: meldManifest,
      params: params({ frames: 5 }),
    });
    const ac = new AbortController();
    let written = 0;
    const ctx = {
      ...localStepContext({ signal: ac.signal }),
      heartbeat: (d: Record<string, unknown>) => {
        written = Number(d.done ?? 0);
        if (written >= 2) ac.abort(new Error('cancelled by test'));
      },
    };
    const started = Date.now();
    await assert.rejects(
      segmentShardStep(
        {
          store: { kind: 'local', root: storeRoot },
          dataset: 'meld',
          manifestKey: meldManifest,
          prefix: plan.prefix,
          ffmpegVersion: plan.ffmpegVersion,
          params: params({ frames: 5 }),
          shard: plan.shards[0],
        },
        ctx,
      ),
      /abort|cancel/i,
    );
    assert.ok(Date.now() - started < 10_000);
    assert.ok(written < meldRows.length, 'stopped before the end of the shard');
    assert.deepEqual(await processesReading(storeRoot), [], 'the running ffmpeg was killed, not left behind');
    const invocations = (await log.lines()).length;
    await new Promise((r) => setTimeout(r, 500));
    assert.equal((await log.lines()).length, invocations, 'no ffmpeg started after cancellation');
  });
});
