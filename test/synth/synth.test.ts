import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createReadStream, existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createGunzip, gunzipSync } from 'node:zlib';
import tar from 'tar-stream';
import {
  clearToolCache,
  ffmpegPath,
  ffmpegVersion,
  ffprobePath,
  parseVersionLine,
  resolveTool,
} from '../../activities/common/ffmpeg.ts';
import { ffprobeJson, parseRate } from '../../activities/common/ffprobe.ts';
import { ToolError, runTool } from '../../activities/common/run-tool.ts';
import {
  IEMOCAP_LABELS,
  IEMOCAP_PANELS,
  MELD_EMOTIONS,
  MELD_HEADER,
  MELD_SPLIT_FILES,
  MELD_SPLITS,
  TRUTH_FILE,
  readTruthFile,
  synthesize,
} from '../../cli/synth/index.ts';
import type { MeldSplit, SynthResult } from '../../cli/synth/index.ts';

// ---------------------------------------------------------------------------------------------------
// helpers

interface TarEntry {
  name: string;
  type: string;
  size: number;
  mtime: number;
  uid: number;
  data?: Buffer;
}

/** Entries of a .tar.gz; with keepData, file bodies too (archives here are small). */
async function readTarGz(path: string, keepData = false): Promise<TarEntry[]> {
  const extract = tar.extract();
  const entries: TarEntry[] = [];
  const done = (async () => {
    for await (const entry of extract) {
      const chunks: Buffer[] = [];
      for await (const c of entry) if (keepData) chunks.push(c as Buffer);
      const h = entry.header;
      entries.push({
        name: h.name,
        type: h.type,
        size: h.size ?? 0,
        mtime: h.mtime?.getTime() ?? 0,
        uid: h.uid ?? 0,
        ...(keepData ? { data: Buffer.concat(chunks) } : {}),
      });
    }
  })();
  createReadStream(path).pipe(createGunzip()).pipe(extract);
  await done;
  return entries;
}

async function extractTarGz(path: string, into: string): Promise<void> {
  for (const e of await readTarGz(path, true)) {
    if (e.type !== 'file') continue;
    const dest = join(into, e.name);
    await mkdir(dirname(dest), { recursive: true });
    await writeFile(dest, e.data!);
  }
}

async function listFiles(root: string, rel = ''): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(join(root, rel), { withFileTypes: true })) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...(await listFiles(root, r)));
    else out.push(r);
  }
  return out.sort();
}

interface Wav {
  sampleRate: number;
  channels: number;
  bits: number;
  samples: Int16Array;
}

function parseWav(buf: Buffer): Wav {
  assert.equal(buf.toString('ascii', 0, 4), 'RIFF');
  assert.equal(buf.toString('ascii', 8, 12), 'WAVE');
  let off = 12;
  let fmt: { sampleRate: number; channels: number; bits: number } | null = null;
  while (off + 8 <= buf.length) {
    const id = buf.toString('ascii', off, off + 4);
    const size = buf.readUInt32LE(off + 4);
    if (id === 'fmt ')
      fmt = {
        channels: buf.readUInt16LE(off + 10),
        sampleRate: buf.readUInt32LE(off + 12),
        bits: buf.readUInt16LE(off + 22),
      };
    if (id === 'data') {
      assert.ok(fmt, 'fmt chunk before data');
      const data = buf.subarray(off + 8, off + 8 + size);
      const samples = new Int16Array(data.length / 2);
      for (let i = 0; i < samples.length; i++) samples[i] = data.readInt16LE(2 * i);
      return { ...fmt, samples };
    }
    off += 8 + size + (size % 2);
  }
  throw new Error('no data chunk');
}

/** One decoded RGB24 frame at time t (seconds). */
async function frameAt(file: string, t: number, width: number, height: number): Promise<Buffer> {
  const { stdout } = await runTool(
    await ffmpegPath(),
    ['-v', 'error', '-ss', String(t), '-i', file, '-frames:v', '1', '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-'],
    { timeoutMs: 30_000 },
  );
  assert.equal(stdout.length, width * height * 3);
  return stdout;
}

function meanRgb(frame: Buffer, width: number, x0: number, y0: number, w: number, h: number): [number, number, number] {
  const sum = [0, 0, 0];
  for (let y = y0; y < y0 + h; y++) {
    for (let x = x0; x < x0 + w; x++) {
      const i = (y * width + x) * 3;
      sum[0] += frame[i];
      sum[1] += frame[i + 1];
      sum[2] += frame[i + 2];
    }
  }
  return sum.map((s) => s / (w * h)) as [number, number, number];
}

function colourDistance(a: readonly number[], b: readonly number[]): number {
  return Math.max(...a.map((v, i) => Math.abs(v - b[i])));
}

/** Minimal RFC 4180 record splitter for one CSV line (no embedded newlines in MELD rows). */
function splitCsvLine(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cur += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out;
}

const C1_MAP: Record<string, string> = {
  '\u0085': '\u2026',
  '\u0091': '\u2018',
  '\u0092': '\u2019',
  '\u0093': '\u201c',
  '\u0094': '\u201d',
  '\u0096': '\u2013',
  '\u0097': '\u2014',
  '\u00a0': ' ',
};
const fixC1 = (s: string) => s.replace(/[\u0085\u0091-\u0094\u0096\u0097\u00a0]/g, (c) => C1_MAP[c]);

function isValidUtf8(buf: Buffer): boolean {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(buf);
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------------

let tmp: string;
let iem: SynthResult<'iemocap'>;
let meld: SynthResult<'meld'>;
let clipsDir: string;

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'mer-synth-'));
  iem = await synthesize({ dataset: 'iemocap', out: join(tmp, 'iemocap'), archive: true, seed: 7 });
  meld = await synthesize({ dataset: 'meld', out: join(tmp, 'meld'), archive: true, seed: 7 });
  console.log(`# generation: iemocap ${iem.elapsedMs} ms, meld ${meld.elapsedMs} ms`);
  clipsDir = join(tmp, 'clips');
  for (const split of MELD_SPLITS) await extractTarGz(join(meld.root, MELD_SPLIT_FILES[split].archive), clipsDir);
});

after(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe('synthetic IEMOCAP', () => {
  test('real layout: sessions, dialog files, EmoEvaluation subfolders, sentence wavs (some missing)', async () => {
    const t = iem.truth;
    assert.equal(iem.root, join(tmp, 'iemocap', 'IEMOCAP_full_release'));
    assert.equal(t.dialogs.length, 10);
    assert.equal(t.utterances.length, 50);
    for (let s = 1; s <= 5; s++) {
      assert.equal(t.dialogs.filter((d) => d.session === s).length, 2, `Session${s} has 2 dialogs`);
      for (const sub of ['Categorical', 'Attribute', 'Self-evaluation']) {
        const files = await readdir(join(iem.root, `Session${s}`, 'dialog', 'EmoEvaluation', sub));
        assert.ok(
          files.some((f) => f.endsWith('.txt')),
          `Session${s} EmoEvaluation/${sub} has files`,
        );
      }
    }
    for (const d of t.dialogs) {
      for (const p of [d.avi, d.wav, d.transcription, d.evaluation]) assert.ok(existsSync(join(iem.root, p)), p);
      assert.match(d.avi, new RegExp(`^Session${d.session}/dialog/avi/DivX/${d.id}\\.avi$`));
    }
    for (const u of t.utterances) {
      assert.equal(existsSync(join(iem.root, u.sentenceWav)), !u.flags.missingWav, u.sentenceWav);
      assert.equal(u.sentenceWav, `Session${u.session}/sentences/wav/${u.dialog}/${u.id}.wav`);
    }
    assert.ok(t.utterances.filter((u) => u.flags.missingWav).length >= 2);
    assert.ok(t.dialogs.some((d) => d.scripted) && t.dialogs.some((d) => !d.scripted));
    assert.ok(
      t.utterances.some((u) => /^Ses\d\d[FM]_script\d\d_\d[a-z]?_[FM]\d{3}$/.test(u.id)),
      'scripted ids with extra underscore',
    );
    assert.ok(
      t.dialogs.some((d) => /^Ses\d\d[FM]_impro\d\d[a-z]$/.test(d.id)),
      'irregular dialog name',
    );
    for (const label of IEMOCAP_LABELS)
      assert.ok(
        t.utterances.some((u) => u.label === label),
        `label ${label} present`,
      );
  });

  test('macOS ._ residue files are present and are AppleDouble', async () => {
    assert.ok(iem.truth.residue.length >= 5);
    for (const r of iem.truth.residue) {
      assert.ok(r.split('/').pop()!.startsWith('._'));
      const b = await readFile(join(iem.root, r));
      assert.equal(b.readUInt32BE(0), 0x00051607, r);
    }
    assert.ok(iem.truth.residue.some((r) => r.endsWith('.wav')) && iem.truth.residue.some((r) => r.endsWith('.txt')));
  });

  test('EmoEvaluation bytes: % header, tab summary lines equal to truth, votes, dom double space, latin-1', async () => {
    let latin1Files = 0;
    for (const d of iem.truth.dialogs) {
      const bytes = await readFile(join(iem.root, d.evaluation));
      if (!isValidUtf8(bytes)) latin1Files++;
      const text = bytes.toString('latin1');
      assert.ok(text.startsWith('% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\n\n'), d.evaluation);
      const blocks = text
        .split('\n\n')
        .slice(1)
        .filter((b) => b.trim());
      assert.equal(blocks.length, d.turns.length);
      for (const block of blocks) {
        const lines = block.split('\n');
        const m =
          /^\[(\d+\.\d{4}) - (\d+\.\d{4})\]\t(\S+)\t([a-z]{3})\t\[(\d\.\d{4}), (\d\.\d{4}), (\d\.\d{4})\]$/.exec(
            lines[0],
          );
        assert.ok(m, `summary line: ${lines[0]}`);
        const u = iem.truth.utterances.find((x) => x.id === m[3])!;
        assert.ok(u, m[3]);
        assert.deepEqual([m[1], m[2], m[4]], [u.startText, u.endText, u.label]);
        assert.deepEqual([Number(m[5]), Number(m[6]), Number(m[7])], u.vad);
        assert.ok(
          lines.some((l) => /^C-E\d:\t/.test(l)),
          'categorical votes',
        );
        const a = lines.filter((l) => l.startsWith('A-'));
        assert.ok(
          a.length > 0 && a.every((l) => /^A-E\d:\tval \d; act \d; dom {2}\d;\t\(.*\)$/.test(l)),
          'A- lines with "dom  N"',
        );
      }
    }
    assert.ok(latin1Files >= 1, 'some EmoEvaluation file carries latin-1 bytes');
  });

  test('transcriptions: zero-padded times for every turn, XX and other non-turn lines, no overlaps', async () => {
    let xx = 0;
    let bare = 0;
    for (const d of iem.truth.dialogs) {
      const lines = (await readFile(join(iem.root, d.transcription), 'utf8')).split('\n').filter(Boolean);
      const turns = iem.truth.utterances.filter((u) => u.dialog === d.id).sort((a, b) => a.start - b.start);
      for (const u of turns) {
        const pad = (s: string) => s.padStart(8, '0');
        assert.ok(lines.includes(`${u.id} [${pad(u.startText)}-${pad(u.endText)}]: ${u.text}`), `${u.id} line`);
      }
      for (let i = 1; i < turns.length; i++)
        assert.ok(turns[i].start >= turns[i - 1].end, `${d.id}: turns do not overlap`);
      xx += lines.filter((l) => /^Ses\S+_[FM]XX\d \[\d{3}\.\d{4}-\d{3}\.\d{4}\]: /.test(l)).length;
      bare += lines.filter((l) => /^[FM]: /.test(l)).length;
      assert.deepEqual(
        d.unevaluatedLines.filter((l) => !lines.includes(l)),
        [],
      );
    }
    assert.ok(xx >= 10, 'XX lines');
    assert.ok(bare >= 1, 'lines of other shapes');
  });

  test('audio: dialog wav 16 kHz stereo; sentence wavs 16 kHz mono 16-bit, cut from the dialog at the annotated times', async () => {
    const byDialog = new Map(iem.truth.dialogs.map((d) => [d.id, d]));
    const dialogWavs = new Map<string, Wav>();
    let checked = 0;
    for (const u of iem.truth.utterances) {
      if (u.flags.missingWav) continue;
      const w = parseWav(await readFile(join(iem.root, u.sentenceWav)));
      assert.deepEqual([w.sampleRate, w.channels, w.bits], [16000, 1, 16], u.sentenceWav);
      const expected = (u.end - u.start) * 16000;
      assert.ok(Math.abs(w.samples.length - expected) <= 320, `${u.id}: ${w.samples.length} samples vs ${expected}`);
      // The cut must be the speaker's channel of the dialog wav at the annotated offset.
      const d = byDialog.get(u.dialog)!;
      let dw = dialogWavs.get(d.id);
      if (!dw) {
        dw = parseWav(await readFile(join(iem.root, d.wav)));
        assert.deepEqual([dw.sampleRate, dw.channels, dw.bits], [16000, 2, 16]);
        dialogWavs.set(d.id, dw);
      }
      const ch = u.side === 'left' ? 0 : 1;
      const off = u.dialogOffsetSamples;
      assert.equal(off, Math.round(u.start * 16000));
      for (const i of [0, 1000, w.samples.length - 1])
        assert.equal(w.samples[i], dw.samples[(off + i) * 2 + ch], `${u.id} sample ${i}`);
      checked++;
    }
    assert.ok(checked >= 45);
  });

  test("dialog avi: 720x480 ~29.97 fps mpeg4, letterboxed, left and right panels in the actors' colours", async () => {
    const d = iem.truth.dialogs[0];
    const file = join(iem.root, d.avi);
    const probe = await ffprobeJson(file);
    assert.equal(probe.format.formatName, 'avi');
    assert.equal(probe.video?.codec, 'mpeg4');
    assert.equal(probe.video?.width, 720);
    assert.equal(probe.video?.height, 480);
    assert.ok(Math.abs(probe.video.fps! - 29.97) < 0.01, `fps ${probe.video.fps}`);
    assert.equal(probe.audio?.sampleRate, 16000);
    assert.ok(Math.abs(probe.format.duration! - d.durationSec) < 0.1);

    const frame = await frameAt(file, 0.5, 720, 480);
    const L = IEMOCAP_PANELS.left;
    const R = IEMOCAP_PANELS.right;
    const left = meanRgb(frame, 720, L.x + 10, L.y + 10, 30, 30);
    const right = meanRgb(frame, 720, R.x + 10, R.y + 10, 30, 30);
    assert.ok(colourDistance(left, d.left.rgb) < 20, `left ${left.join(',')} vs ${d.left.rgb.join(',')}`);
    assert.ok(colourDistance(right, d.right.rgb) < 20, `right ${right.join(',')} vs ${d.right.rgb.join(',')}`);
    assert.ok(colourDistance(left, right) > 60, 'the two panels differ clearly');
    const leftHalf = meanRgb(frame, 720, 0, 0, 360, 480);
    const rightHalf = meanRgb(frame, 720, 360, 0, 360, 480);
    assert.ok(
      colourDistance(leftHalf, rightHalf) > 30,
      `half means differ: ${leftHalf.join(',')} / ${rightHalf.join(',')}`,
    );
    assert.ok(Math.max(...meanRgb(frame, 720, 0, 0, 720, 120)) < 12, 'top letterbox black');
    assert.ok(Math.max(...meanRgb(frame, 720, 0, 362, 720, 118)) < 12, 'bottom letterbox black');
    assert.equal(d.left.speaker, d.id.charAt(5), 'the actor named in the dialog id is on the left');
  });

  test('archive holds IEMOCAP_full_release/... with every file, fixed mtimes and owners', async () => {
    assert.equal(iem.archive, join(tmp, 'iemocap', 'IEMOCAP_full_release.tar.gz'));
    const entries = await readTarGz(iem.archive);
    assert.ok(entries.every((e) => e.name.startsWith('IEMOCAP_full_release/')));
    const files = new Set(entries.filter((e) => e.type === 'file').map((e) => e.name));
    const onDisk = await listFiles(iem.root);
    assert.deepEqual(
      [...files].sort(),
      onDisk.map((p) => `IEMOCAP_full_release/${p}`),
    );
    for (const r of iem.truth.residue) assert.ok(files.has(`IEMOCAP_full_release/${r}`));
    assert.equal(new Set(entries.map((e) => e.mtime)).size, 1);
    assert.ok(entries.every((e) => e.uid === 0));
    assert.equal(iem.truth.archive, 'IEMOCAP_full_release.tar.gz');
  });
});

describe('synthetic MELD', () => {
  const csvPath = (split: MeldSplit) => join(meld.root, MELD_SPLIT_FILES[split].csv);

  test('MELD.Raw holds the three split archives and the three CSVs; truth file sits outside it', async () => {
    assert.deepEqual((await readdir(meld.root)).sort(), [
      'dev.tar.gz',
      'dev_sent_emo.csv',
      'test.tar.gz',
      'test_sent_emo.csv',
      'train.tar.gz',
      'train_sent_emo.csv',
    ]);
    const fromDisk = await readTruthFile(join(tmp, 'meld'));
    assert.deepEqual(fromDisk, meld.truth);
    assert.equal(meld.truthPath, join(tmp, 'meld', TRUTH_FILE));
    for (const split of MELD_SPLITS) {
      const names = (await readTarGz(join(meld.root, MELD_SPLIT_FILES[split].archive))).map((e) => e.name);
      assert.ok(names.includes(`${MELD_SPLIT_FILES[split].folder}/`));
      assert.ok(names.every((n) => n.startsWith(`${MELD_SPLIT_FILES[split].folder}/`)));
    }
  });

  test('CSV bytes: exact header, CRLF and LF mixed, C1 characters as UTF-8, one raw cp1252 copy', async () => {
    for (const split of MELD_SPLITS) {
      const bytes = await readFile(csvPath(split));
      assert.ok(bytes.subarray(0, MELD_HEADER.length + 2).equals(Buffer.from(`${MELD_HEADER}\r\n`)), `${split} header`);
      const crlf = bytes.toString('latin1').split('\r\n').length - 1;
      const lf = bytes.toString('latin1').split('\n').length - 1 - crlf;
      assert.ok(crlf >= 2 && lf >= 1, `${split}: ${crlf} CRLF, ${lf} bare LF`);
      const info = meld.truth.csv.find((c) => c.split === split)!;
      assert.deepEqual([info.crlfLines, info.lfLines], [crlf, lf]);
      if (info.encoding === 'cp1252') {
        assert.equal(isValidUtf8(bytes), false, `${split} is raw cp1252`);
        assert.ok(bytes.includes(0x92));
      } else {
        assert.ok(isValidUtf8(bytes));
        assert.ok(bytes.includes(Buffer.from('\u0092', 'utf8')), `${split} has U+0092 as UTF-8`);
        assert.ok(bytes.includes(Buffer.from('\u0085', 'utf8')), `${split} has U+0085 as UTF-8`);
      }
    }
    assert.deepEqual(
      meld.truth.csv.map((c) => c.encoding),
      ['utf8-c1', 'cp1252', 'utf8-c1'],
    );
    assert.ok(
      (await readFile(csvPath('train'))).includes(Buffer.from('\u2019', 'utf8')),
      'one row already proper UTF-8',
    );
  });

  test('CSV rows parse back to the truth; quirks present: quotes, double spaces, 1-digit hours, 2-digit fractions, start == end, duplicate Sr No., id gaps', async () => {
    const seen = new Set<string>();
    for (const split of MELD_SPLITS) {
      const bytes = await readFile(csvPath(split));
      const info = meld.truth.csv.find((c) => c.split === split)!;
      const text = info.encoding === 'cp1252' ? new TextDecoder('windows-1252').decode(bytes) : bytes.toString('utf8');
      const lines = text.split(/\r?\n/).filter(Boolean);
      assert.equal(lines[0], MELD_HEADER);
      const truthRows = meld.truth.utterances.filter((u) => u.split === split);
      assert.equal(lines.length - 1, truthRows.length);
      for (const [i, line] of lines.slice(1).entries()) {
        const f = splitCsvLine(line);
        assert.equal(f.length, 11, `${split} line ${i + 2}: ${line}`);
        const u = truthRows[i];
        assert.deepEqual(
          [
            Number(f[0]),
            fixC1(f[1]),
            f[2],
            f[3],
            f[4],
            Number(f[5]),
            Number(f[6]),
            Number(f[7]),
            Number(f[8]),
            f[9],
            f[10],
          ],
          [
            u.srNo,
            u.text,
            u.speaker,
            u.emotion,
            u.sentiment,
            u.dialogueId,
            u.utteranceId,
            u.season,
            u.episode,
            u.startTime,
            u.endTime,
          ],
        );
        const secs = (s: string) => {
          const m = /^(\d{1,2}):(\d\d):(\d\d),(\d{2,3})$/.exec(s)!;
          return Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3]) + Number(`0.${m[4]}`);
        };
        assert.ok(Math.abs(secs(f[9]) - u.start) < 1e-9 && Math.abs(secs(f[10]) - u.end) < 1e-9, `${u.id} times`);
        for (const q of u.quirks) seen.add(q);
        if (f[1].includes('"')) assert.ok(line.includes('""'), 'doubled quotes');
        assert.ok(line.includes(`,"${u.startTime}","${u.endTime}"`), 'times quoted (they hold a comma)');
      }
    }
    for (const q of [
      'c1-chars',
      'utf8-curly',
      'quoted',
      'double-space',
      'nbsp',
      'one-digit-hour',
      'two-digit-fraction',
      'lf-ending',
      'dup-sr-no',
      'id-gap-before',
      'zero-duration',
    ]) {
      assert.ok(seen.has(q), `quirk ${q} present`);
    }
    const u = meld.truth.utterances;
    assert.ok(
      u.some((x) => /^\d:/.test(x.startTime)),
      '1-digit hour',
    );
    assert.ok(
      u.some((x) => /,\d\d$/.test(x.startTime)),
      '2-digit fraction',
    );
    assert.ok(u.some((x) => x.startTime === x.endTime && x.flags.zeroDuration));
    const train = u.filter((x) => x.split === 'train');
    assert.ok(
      train.some((x, i) => i > 0 && x.srNo === train[i - 1].srNo),
      'duplicate Sr No.',
    );
    assert.ok(
      train.some(
        (x, i) => i > 0 && x.dialogueId === train[i - 1].dialogueId && x.utteranceId > train[i - 1].utteranceId + 1,
      ),
      'Utterance_ID gap',
    );
    for (const e of MELD_EMOTIONS)
      assert.ok(
        train.some((x) => x.emotion === e),
        `train has ${e}`,
      );
    for (const x of u) {
      const expected =
        x.emotion === 'neutral'
          ? ['neutral']
          : x.emotion === 'joy'
            ? ['positive']
            : x.emotion === 'surprise'
              ? ['positive', 'negative']
              : ['negative'];
      assert.ok(expected.includes(x.sentiment), `${x.id}: ${x.emotion}/${x.sentiment}`);
      assert.equal(x.label, x.emotion);
    }
  });

  test('clips: 1280x720 ~23.976 fps h264 with audio; 2-frame, over-long, corrupt and missing clips; orphans; final_videos_test copies', async () => {
    const u = meld.truth.utterances;
    const normal = u.find((x) => x.split === 'train' && !Object.values(x.flags).some(Boolean))!;
    const p = await ffprobeJson(join(clipsDir, normal.clip));
    assert.equal(p.video?.codec, 'h264');
    assert.deepEqual([p.video?.width, p.video?.height], [1280, 720]);
    assert.ok(Math.abs(p.video.fps! - 23.976) < 0.01);
    assert.equal(p.audio?.codec, 'aac');
    assert.ok(Math.abs(p.format.duration! - (normal.end - normal.start)) < 0.1, 'clip duration follows the CSV times');

    const two = u.find((x) => x.flags.twoFrame)!;
    assert.equal((await ffprobeJson(join(clipsDir, two.clip))).video?.frames, 2);

    const long = u.filter((x) => x.flags.overlong);
    assert.ok(long.some((x) => x.split === 'test'));
    for (const x of long) {
      const d = (await ffprobeJson(join(clipsDir, x.clip))).format.duration!;
      assert.ok(d > 3 * (x.end - x.start), `${x.id}: ${d} s vs CSV ${x.end - x.start} s`);
    }

    const corrupt = u.find((x) => x.flags.corrupt)!;
    assert.ok(existsSync(join(clipsDir, corrupt.clip)));
    await assert.rejects(
      ffprobeJson(join(clipsDir, corrupt.clip)),
      (err: unknown) =>
        err instanceof ToolError && err.reason === 'exit' && err.message.includes(corrupt.clip.split('/')[1]),
    );

    const missing = u.filter((x) => x.flags.missing);
    assert.equal(missing.length, 1);
    assert.equal(missing[0].split, 'dev');
    assert.equal(existsSync(join(clipsDir, missing[0].clip)), false);

    for (const x of u) if (!x.flags.missing) assert.ok(existsSync(join(clipsDir, x.clip)), x.clip);
    const rowClips = new Set(u.map((x) => x.clip));
    const orphans = meld.truth.extraClips.filter((e) => e.kind === 'orphan');
    assert.ok(orphans.length >= 1);
    for (const o of orphans) {
      assert.ok(existsSync(join(clipsDir, o.entry)) && !rowClips.has(o.entry), o.entry);
    }
    const testFiles = await readdir(join(clipsDir, MELD_SPLIT_FILES.test.folder));
    const prefixed = testFiles.filter((f) => f.startsWith('final_videos_test'));
    assert.ok(prefixed.length >= 1);
    for (const e of meld.truth.extraClips.filter((x) => x.kind === 'prefixed-duplicate')) {
      assert.ok((await readFile(join(clipsDir, e.entry))).equals(await readFile(join(clipsDir, e.duplicateOf!))));
    }
  });

  test('archive holds MELD.Raw/ with the split archives and CSVs', async () => {
    assert.equal(meld.archive, join(tmp, 'meld', 'MELD.Raw.tar.gz'));
    const entries = await readTarGz(meld.archive);
    assert.deepEqual(entries.map((e) => e.name).sort(), [
      'MELD.Raw/',
      'MELD.Raw/dev.tar.gz',
      'MELD.Raw/dev_sent_emo.csv',
      'MELD.Raw/test.tar.gz',
      'MELD.Raw/test_sent_emo.csv',
      'MELD.Raw/train.tar.gz',
      'MELD.Raw/train_sent_emo.csv',
    ]);
  });
});

describe('label cues', () => {
  /** Goertzel power at f, normalised so a pure tone at f scores about 1. */
  function toneShare(x: Int16Array, f: number, sr: number): number {
    const c = 2 * Math.cos((2 * Math.PI * f) / sr);
    let s1 = 0;
    let s2 = 0;
    let energy = 0;
    for (const v of x) {
      const s0 = v + c * s1 - s2;
      s2 = s1;
      s1 = s0;
      energy += v * v;
    }
    return (s1 * s1 + s2 * s2 - c * s1 * s2) / ((x.length * energy) / 2);
  }

  test('cue option: same labels and times; word, pitch and colour traces exactly where the truth says', async () => {
    const cued = await synthesize({ dataset: 'iemocap', out: join(tmp, 'cue'), seed: 7, cue: { presence: 0.6 } });
    assert.deepEqual(cued.truth.cue, { presence: 0.6 });
    const plain = iem.truth.utterances;
    assert.deepEqual(
      cued.truth.utterances.map((u) => [u.id, u.label, u.startText, u.endText]),
      plain.map((u) => [u.id, u.label, u.startText, u.endText]),
      'cues do not disturb any other random draw',
    );
    const counts = { text: 0, audio: 0, video: 0 };
    for (const u of cued.truth.utterances) {
      const cue = u.cue!;
      assert.ok(cue, u.id);
      for (const k of ['text', 'audio', 'video'] as const) if (cue[k]) counts[k]++;
      assert.equal(
        new RegExp(`\\b${cue.word}\\b`, 'i').test(u.text),
        cue.text,
        `${u.id}: "${u.text}" vs cue word ${cue.word}`,
      );
      if (u.flags.missingWav) continue;
      const w = parseWav(await readFile(join(cued.root, u.sentenceWav)));
      const share = toneShare(w.samples, cue.pitchHz, 16000);
      assert.ok(
        cue.audio ? share > 0.3 : share < 0.15,
        `${u.id}: tone share at ${cue.pitchHz} Hz = ${share.toFixed(3)}, audio cue ${cue.audio}`,
      );
    }
    for (const k of ['text', 'audio', 'video'] as const) {
      assert.ok(counts[k] > 10 && counts[k] < 45, `${k} cue in part of the samples only (${counts[k]}/50)`);
    }
    const d = cued.truth.dialogs[0];
    for (const u of cued.truth.utterances.filter((x) => x.dialog === d.id)) {
      const frame = await frameAt(join(cued.root, d.avi), (u.start + u.end) / 2, 720, 480);
      const p = IEMOCAP_PANELS[u.side];
      const patch = meanRgb(frame, 720, p.x + 25, p.y + 195, 60, 25);
      const panel = u.side === 'left' ? d.left.rgb : d.right.rgb;
      if (u.cue!.video)
        assert.ok(
          colourDistance(patch, u.cue!.rgb) < 40,
          `${u.id}: patch ${patch.join(',')} vs cue ${u.cue!.rgb.join(',')}`,
        );
      else
        assert.ok(
          colourDistance(patch, panel) < 20,
          `${u.id}: no patch, panel colour ${patch.join(',')} vs ${panel.join(',')}`,
        );
    }
  });
});

describe('determinism', () => {
  test('same seed → identical annotation bytes, wavs, archives and truth', async () => {
    const [iem2, meld2] = [
      await synthesize({ dataset: 'iemocap', out: join(tmp, 'again', 'iemocap'), archive: true, seed: 7 }),
      await synthesize({ dataset: 'meld', out: join(tmp, 'again', 'meld'), archive: true, seed: 7 }),
    ];
    const files = await listFiles(iem.root);
    assert.deepEqual(await listFiles(iem2.root), files);
    for (const f of files.filter((x) => x.endsWith('.txt') || x.endsWith('.wav'))) {
      assert.ok((await readFile(join(iem.root, f))).equals(await readFile(join(iem2.root, f))), f);
    }
    for (const split of MELD_SPLITS) {
      const f = MELD_SPLIT_FILES[split];
      assert.ok((await readFile(join(meld.root, f.csv))).equals(await readFile(join(meld2.root, f.csv))), f.csv);
    }
    assert.deepEqual(iem2.truth, iem.truth);
    assert.deepEqual(meld2.truth, meld.truth);
    // Media come from the same ffmpeg build with bitexact flags, so whole archives match too.
    assert.ok((await readFile(iem.archive!)).equals(await readFile(iem2.archive!)), 'IEMOCAP archive bytes');
    assert.ok((await readFile(meld.archive!)).equals(await readFile(meld2.archive!)), 'MELD archive bytes');
    assert.ok(gunzipSync(await readFile(meld.archive!)).length > 0);
  });
});

describe('ffmpeg helpers', () => {
  test('resolves ffmpeg/ffprobe and parses the version line', async () => {
    const ff = await resolveTool('ffmpeg');
    assert.ok(['env', 'ffmpeg-static', 'path'].includes(ff.source));
    assert.ok(existsSync(await ffprobePath()));
    const v = await ffmpegVersion();
    assert.match(v, /^\S+$/);
    assert.equal(await ffmpegVersion(), v);
    assert.equal(
      parseVersionLine('ffmpeg version 5.1.9-0+deb12u1 Copyright (c) 2000-2026 the FFmpeg developers'),
      '5.1.9-0+deb12u1',
    );
    assert.equal(parseVersionLine('ffmpeg version n7.1 Copyright (c) 2000-2024'), 'n7.1');
    assert.equal(parseRate('24000/1001')?.toFixed(3), '23.976');
    assert.equal(parseRate('0/0'), undefined);
  });

  test('a broken FFMPEG_PATH and an empty PATH give clear errors', async () => {
    const saved = { ffmpeg: process.env.FFMPEG_PATH, path: process.env.PATH };
    const notExec = join(tmp, 'not-executable');
    await writeFile(notExec, 'x');
    await chmod(notExec, 0o644);
    try {
      process.env.FFMPEG_PATH = notExec;
      await assert.rejects(resolveTool('ffmpeg'), /FFMPEG_PATH=.*not an executable file/);
      delete process.env.FFMPEG_PATH;
      process.env.PATH = join(tmp, 'empty-bin');
      await assert.rejects(resolveTool('ffprobe'), /scripts\/setup-tools\.sh/);
    } finally {
      if (saved.ffmpeg === undefined) delete process.env.FFMPEG_PATH;
      else process.env.FFMPEG_PATH = saved.ffmpeg;
      process.env.PATH = saved.path;
      clearToolCache();
    }
    assert.ok(await ffmpegPath());
  });

  test('runTool passes stdin through and reports non-zero exits with the command and stderr tail', async () => {
    const ffmpeg = await ffmpegPath();
    const input = Buffer.alloc(3200);
    for (let i = 0; i < 1600; i++) input.writeInt16LE(((i * 37) % 2000) - 1000, 2 * i);
    const { stdout } = await runTool(
      ffmpeg,
      ['-v', 'error', '-f', 's16le', '-ar', '8000', '-ac', '1', '-i', 'pipe:0', '-f', 's16le', '-'],
      { timeoutMs: 20_000, input },
    );
    assert.ok(stdout.equals(input));
    const missing = join(tmp, 'no such file.mp4');
    await assert.rejects(ffprobeJson(missing), (err: unknown) => {
      assert.ok(err instanceof ToolError);
      assert.equal(err.reason, 'exit');
      assert.equal(err.exitCode, 1);
      assert.ok(err.message.includes(`'${missing}'`), err.message);
      assert.match(err.stderrTail, /No such file/);
      return true;
    });
  });

  test('runTool kills the child on timeout and on abort', async () => {
    const ffmpeg = await ffmpegPath();
    const endless = ['-v', 'error', '-re', '-f', 'lavfi', '-i', 'anullsrc=r=8000', '-f', 'null', '-'];
    let t0 = Date.now();
    await assert.rejects(runTool(ffmpeg, endless, { timeoutMs: 300 }), (err: unknown) => {
      assert.ok(err instanceof ToolError);
      assert.equal(err.reason, 'timeout');
      assert.equal(err.exitSignal, 'SIGKILL');
      assert.match(err.message, /timed out after 300 ms: .*ffmpeg .*anullsrc/);
      return true;
    });
    assert.ok(Date.now() - t0 < 5000);

    const ac = new AbortController();
    t0 = Date.now();
    setTimeout(() => ac.abort(new Error('user cancelled')), 200);
    await assert.rejects(runTool(ffmpeg, endless, { timeoutMs: 60_000, signal: ac.signal }), (err: unknown) => {
      assert.ok(err instanceof ToolError);
      assert.equal(err.reason, 'aborted');
      assert.equal((err.cause as Error).message, 'user cancelled');
      return true;
    });
    assert.ok(Date.now() - t0 < 5000);
    await assert.rejects(
      runTool(ffmpeg, ['-version'], { timeoutMs: 1000, signal: ac.signal }),
      (err: unknown) => err instanceof ToolError && err.reason === 'aborted',
    );
  });
});
