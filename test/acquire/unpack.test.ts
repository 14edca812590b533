import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createCipheriv, createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';
import yazl from 'yazl';
import { detectArchiveType } from '../../activities/acquire/archive/detect.ts';
import { checkEntryPath } from '../../activities/acquire/archive/entry-safety.ts';
import type {
  UnpackInput,
  UnpackOptions,
  UnpackProgress,
  UnpackResult,
} from '../../activities/acquire/archive/types.ts';
import { unpackToStore } from '../../activities/acquire/archive/unpacker.ts';
import { ErrorTypes, MerError } from '../../activities/common/errors.ts';
import { LocalStore } from '../../activities/store/local.ts';
import type { PutOptions, PutResult } from '../../activities/store/types.ts';

function bytes(size: number, seed: string): Buffer {
  const key = createHash('sha256').update(seed).digest();
  const c = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  return Buffer.concat([c.update(Buffer.alloc(size)), c.final()]);
}
const sha = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');

interface TarItem {
  name: string;
  type?: 'file' | 'link' | 'symlink' | 'directory' | 'block-device' | 'character-device' | 'fifo';
  linkname?: string;
  data?: Buffer | string;
}

async function makeTar(items: TarItem[], gzip: boolean): Promise<Buffer> {
  const pack = tar.pack();
  for (const it of items) {
    const { data, ...header } = it;
    if (data !== undefined) pack.entry(header, data);
    else pack.entry(header);
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack as AsyncIterable<Buffer>) chunks.push(Buffer.from(c));
  const raw = Buffer.concat(chunks);
  return gzip ? gzipSync(raw) : raw;
}

interface ZipItem {
  name: string;
  data: Buffer | string;
  mode?: number;
}

async function makeZip(items: ZipItem[]): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  for (const it of items) zip.addBuffer(Buffer.from(it.data), it.name, { mode: it.mode ?? 0o100644, compress: true });
  zip.end();
  const chunks: Buffer[] = [];
  for await (const c of zip.outputStream as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks);
}

/** yazl refuses unsafe names, so they go in as same-length placeholders and are patched in the bytes. */
function patchNames(zip: Buffer, swaps: Array<[string, string]>): Buffer {
  const out = Buffer.from(zip);
  for (const [from, to] of swaps) {
    assert.equal(from.length, to.length);
    const f = Buffer.from(from);
    let at = out.indexOf(f);
    assert.ok(at >= 0, `placeholder ${from} not found`);
    while (at >= 0) {
      Buffer.from(to).copy(out, at);
      at = out.indexOf(f, at + 1);
    }
  }
  return out;
}

class CountingStore extends LocalStore {
  puts: string[] = [];
  override async put(key: string, body: Uint8Array | string | Readable, opts?: PutOptions): Promise<PutResult> {
    this.puts.push(key);
    return super.put(key, body, opts);
  }
}

async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const full = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await walk(full)));
    else out.push(full);
  }
  return out;
}

function isMer(type: string) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof MerError, `expected MerError ${type}, got ${String(err)}`);
    assert.equal(err.type, type, err.message);
    return true;
  };
}

const fromFile = (path: string): UnpackInput => ({ kind: 'file', path });
const fromBytes = (...chunks: Buffer[]): UnpackInput => ({ kind: 'stream', stream: Readable.from(chunks) });

describe('unpackToStore', () => {
  let base: string;
  let inDir: string;
  let spoolDir: string;
  let store: CountingStore;

  before(async () => {
    base = await mkdtemp(join(tmpdir(), 'mer-unpack-test-'));
    inDir = join(base, 'in');
    spoolDir = join(base, 'spool');
    await mkdir(inDir);
    await mkdir(spoolDir);
    store = new CountingStore(join(base, 'store'));
  });
  after(async () => {
    await rm(base, { recursive: true, force: true });
  });

  /** Every byte written must lie under the store root (inputs aside), and under destPrefix inside it. */
  async function assertContained(destPrefix: string): Promise<void> {
    for (const f of await walk(base)) {
      const rel = relative(base, f).split(sep);
      assert.ok(rel[0] === 'store' || rel[0] === 'in', `written outside the store root: ${f}`);
    }
    // Each test writes under its own top-level folder: nothing there may lie outside destPrefix.
    const top = destPrefix.split('/')[0];
    for (const o of await store.list(`${top}/`)) {
      assert.ok(o.key.startsWith(`${destPrefix}/`), `object outside destPrefix: ${o.key}`);
    }
    assert.deepEqual(await readdir(spoolDir), [], 'spool dir left behind');
  }

  /** Unpacks into the shared store; `more` adds options or overrides these. */
  function unpack(
    input: UnpackInput,
    archiveName: string,
    destPrefix: string,
    more: Partial<UnpackOptions> = {},
  ): Promise<UnpackResult> {
    return unpackToStore({ store, input, archiveName, destPrefix, ...more });
  }

  /** The unpacking fails with MerError `type`, its message matching `message` when given. */
  async function rejectsAs(unpacking: Promise<unknown>, type: string, message?: RegExp): Promise<void> {
    await assert.rejects(unpacking, (err: unknown) => {
      isMer(type)(err);
      if (message) assert.match((err as Error).message, message);
      return true;
    });
  }

  async function writeInput(name: string, data: Buffer): Promise<string> {
    const p = join(inDir, name);
    await writeFile(p, data);
    return p;
  }

  test('checkEntryPath refuses what could escape and normalises the rest', () => {
    assert.deepEqual(checkEntryPath('./a//b/./c.wav'), { path: 'a/b/c.wav' });
    assert.deepEqual(checkEntryPath('IEMOCAP_full_release/Session1/'), { path: 'IEMOCAP_full_release/Session1' });
    for (const [name, reason] of [
      ['', /empty/],
      ['./', /empty/],
      ['/etc/passwd', /absolute/],
      ['../x', /escapes the root/],
      ['a/../../x', /escapes the root/],
      ['a/../x', /'\.\.' segment/],
      ['C:/Windows/x', /drive/],
      ['C:\\Windows\\x', /backslash/],
      ['..\\..\\x', /backslash/],
      ['a\u0001b', /control/],
      ['a\0b', /NUL/],
      [`${'x'.repeat(256)}/y`, /255/],
    ] as const) {
      const r = checkEntryPath(name);
      assert.ok('reason' in r, `${JSON.stringify(name)} accepted`);
      assert.match(r.reason, reason, JSON.stringify(name));
    }
  });

  test('malicious tar: nothing escapes, every refusal is listed with its reason, good entries are byte-exact', async () => {
    const big = bytes(300_000, 'big');
    const archive = await makeTar(
      [
        { name: 'good/', type: 'directory' },
        { name: 'good/a.txt', data: 'hello' },
        { name: 'good/big.bin', data: big },
        { name: './dot/./x.txt', data: 'dot' },
        { name: '/abs/evil.txt', data: 'evil' },
        { name: '../evil.txt', data: 'evil' },
        { name: 'a/../../evil2.txt', data: 'evil' },
        { name: 'a/../inside.txt', data: 'meh' },
        { name: 'C:\\evil.txt', data: 'evil' },
        { name: 'C:/evil.txt', data: 'evil' },
        { name: '', data: 'nameless' },
        { name: 'passwd', type: 'symlink', linkname: '/etc/passwd' },
        { name: 'x', type: 'symlink', linkname: '../../..' },
        { name: 'x/through-link.txt', data: 'via x' },
        { name: 'good/rel', type: 'symlink', linkname: 'a.txt' },
        { name: 'hard', type: 'link', linkname: 'good/a.txt' },
        { name: 'hard2', type: 'link', linkname: '../../etc/shadow' },
        { name: 'dev/null', type: 'character-device' },
        { name: 'dev/sda', type: 'block-device' },
        { name: 'pipe', type: 'fifo' },
        { name: '._foo', data: 'rsrc' },
        { name: 'good/._a.txt', data: 'rsrc' },
        { name: '__MACOSX/x', data: 'rsrc' },
        { name: 'good/a.txt', data: 'second copy' },
        { name: 'good/a.txt/under', data: 'under a file' },
        { name: 'good', data: 'a file where a directory is' },
        { name: 'good/z.txt', data: 'last' },
      ],
      true,
    );
    const path = await writeInput('evil.tar.gz', archive);
    store.puts = [];
    const r = await unpack(fromFile(path), 'evil.tar.gz', 'm/raw', { smallEntryBytes: 64 * 1024 });

    assert.equal(r.archiveType, 'tar.gz');
    assert.deepEqual(
      r.files.map((f) => f.path),
      ['good/a.txt', 'good/big.bin', 'dot/x.txt', 'x/through-link.txt', 'good/z.txt'],
    );
    // No link was made, so a later entry "through" the refused symlink is an ordinary object.
    assert.equal((await store.get('m/raw/x/through-link.txt')).toString(), 'via x');
    assert.equal((await store.get('m/raw/good/a.txt')).toString(), 'hello');
    assert.equal(sha(await store.get('m/raw/good/big.bin')), sha(big));
    assert.equal(r.files[1].sha256, sha(big));
    assert.equal(r.files[1].size, big.length);
    assert.equal((await store.get('m/raw/dot/x.txt')).toString(), 'dot');
    assert.equal(r.bytesOut, 5 + big.length + 3 + 5 + 4);
    assert.equal(r.entries, 27);
    assert.equal(r.sha256, sha(archive));
    assert.equal(r.bytesIn, archive.length);

    const reasons = new Map(r.skipped.map((s) => [s.entry, s.reason]));
    const expect: Array<[string, RegExp]> = [
      ['/abs/evil.txt', /absolute path/],
      ['../evil.txt', /escapes the root/],
      ['a/../../evil2.txt', /escapes the root/],
      ['a/../inside.txt', /'\.\.' segment/],
      ['C:\\evil.txt', /backslash/],
      ['C:/evil.txt', /Windows drive/],
      ['', /empty name/],
      ['passwd', /symlink to "\/etc\/passwd": escapes the root/],
      ['x', /symlink to "\.\.\/\.\.\/\.\.": escapes the root/],
      ['good/rel', /symlink to "a\.txt": object stores have no links/],
      ['hard', /hardlink to "good\/a\.txt": object stores have no links/],
      ['hard2', /hardlink .*escapes the root/],
      ['dev/null', /character device/],
      ['dev/sda', /block device/],
      ['pipe', /fifo/],
      ['._foo', /macOS resource fork/],
      ['good/._a.txt', /macOS resource fork/],
      ['__MACOSX/x', /macOS resource fork/],
      ['good/a.txt/under', /under the earlier file good\/a\.txt/],
      ['good', /directory of earlier entries/],
    ];
    for (const [entry, re] of expect) {
      assert.ok(reasons.has(entry), `${JSON.stringify(entry)} not reported as skipped`);
      assert.match(reasons.get(entry) as string, re, entry);
    }
    const dup = r.skipped.filter((s) => s.entry === 'good/a.txt');
    assert.equal(dup.length, 1);
    assert.match(dup[0].reason, /duplicate/);
    assert.equal(r.skipped.length, expect.length + 1);
    assert.deepEqual(store.puts.sort(), [
      'm/raw/dot/x.txt',
      'm/raw/good/a.txt',
      'm/raw/good/big.bin',
      'm/raw/good/z.txt',
      'm/raw/x/through-link.txt',
    ]);
    await assertContained('m/raw');
  });

  for (const kind of ['file', 'stream'] as const) {
    test(`zip slip (${kind} input): ../, backslash and absolute names and symlinks are refused`, async () => {
      const zip = patchNames(
        await makeZip([
          { name: 'ok/good.txt', data: 'good zip data' },
          { name: 'zz/evil.txt', data: 'evil' },
          { name: 'zzzevil2.txt', data: 'evil' },
          { name: 'Xabs.txt', data: 'evil' },
          { name: 'link', data: '../../etc/passwd', mode: 0o120777 },
          { name: '__MACOSX/ok/._good.txt', data: 'rsrc' },
          { name: 'ok/win\\style.txt', data: 'backslash separator' },
        ]),
        [
          ['zz/evil.txt', '../evil.txt'],
          ['zzzevil2.txt', '..\\evil2.txt'],
          ['Xabs.txt', '/abs.txt'],
        ],
      );
      const dest = `zip-${kind}/raw`;
      const input =
        kind === 'file'
          ? fromFile(await writeInput('slip.zip', zip))
          : fromBytes(zip.subarray(0, 100), zip.subarray(100));
      const r = await unpack(input, 'slip.zip', dest, { tmpDir: spoolDir });
      assert.equal(r.archiveType, 'zip');
      assert.deepEqual(
        r.files.map((f) => f.path),
        ['ok/good.txt', 'ok/win/style.txt'],
      );
      assert.equal((await store.get(`${dest}/ok/good.txt`)).toString(), 'good zip data');
      assert.equal(r.files[0].sha256, sha('good zip data'));
      const reasons = Object.fromEntries(r.skipped.map((s) => [s.entry, s.reason]));
      assert.match(reasons['../evil.txt'], /escapes the root/);
      assert.match(reasons['../evil2.txt'], /escapes the root/);
      assert.match(reasons['/abs.txt'], /absolute/);
      assert.match(reasons['link'], /symlink to "\.\.\/\.\.\/etc\/passwd": escapes the root/);
      assert.match(reasons['__MACOSX/ok/._good.txt'], /macOS resource fork/);
      assert.equal(r.sha256, sha(zip));
      assert.equal(r.bytesIn, zip.length);
      await assertContained(dest);
    });
  }

  test('nested archives expand into their own directory (MELD layout), the nested archive itself is not stored', async () => {
    const clip0 = bytes(40_000, 'clip0');
    const clip1 = bytes(50_000, 'clip1');
    const devClip = bytes(30_000, 'dev');
    const train = await makeTar(
      [
        { name: 'train_splits/', type: 'directory' },
        { name: 'train_splits/dia0_utt0.mp4', data: clip0 },
        { name: 'train_splits/dia0_utt1.mp4', data: clip1 },
        { name: 'train_splits/._dia0_utt1.mp4', data: 'rsrc' },
      ],
      true,
    );
    const dev = await makeZip([{ name: 'dev_splits_complete/dia0_utt0.mp4', data: devClip }]);
    const outer = await makeTar(
      [
        { name: 'MELD.Raw/', type: 'directory' },
        { name: 'MELD.Raw/train_sent_emo.csv', data: 'Sr No.,Utterance\r\n1,hi\r\n' },
        { name: 'MELD.Raw/train.tar.gz', data: train },
        { name: 'MELD.Raw/dev.zip', data: dev },
        { name: 'MELD.Raw/train.tar.gz', data: train },
      ],
      true,
    );
    const progress: UnpackProgress[] = [];
    const r = await unpack(fromBytes(outer), 'MELD.Raw.tar.gz', 'meld/raw', {
      nested: (p) => /(^|\/)(train\.tar\.gz|dev\.zip)$/.test(p),
      tmpDir: spoolDir,
      onProgress: (p) => progress.push(p),
    });
    assert.deepEqual(
      r.files.map((f) => f.path),
      [
        'MELD.Raw/train_sent_emo.csv',
        'MELD.Raw/train_splits/dia0_utt0.mp4',
        'MELD.Raw/train_splits/dia0_utt1.mp4',
        'MELD.Raw/dev_splits_complete/dia0_utt0.mp4',
      ],
    );
    assert.equal(sha(await store.get('meld/raw/MELD.Raw/train_splits/dia0_utt1.mp4')), sha(clip1));
    assert.equal(sha(await store.get('meld/raw/MELD.Raw/dev_splits_complete/dia0_utt0.mp4')), sha(devClip));
    assert.equal(await store.exists('meld/raw/MELD.Raw/train.tar.gz'), false);
    assert.deepEqual(
      r.nestedArchives.map((n) => [n.path, n.type, n.size, n.sha256, n.entries]),
      [
        ['MELD.Raw/train.tar.gz', 'tar.gz', train.length, sha(train), 4],
        ['MELD.Raw/dev.zip', 'zip', dev.length, sha(dev), 1],
      ],
    );
    assert.deepEqual(
      r.skipped.map((s) => [s.entry, s.archive ?? null, s.reason.includes('duplicate') ? 'dup' : s.reason]),
      [
        ['train_splits/._dia0_utt1.mp4', 'MELD.Raw/train.tar.gz', 'macOS resource fork'],
        ['MELD.Raw/train.tar.gz', null, 'dup'],
      ],
    );
    assert.equal(r.entries, 5 + 4 + 1);
    assert.equal(r.sha256, sha(outer));
    const done = progress.map((p) => p.entriesDone);
    assert.deepEqual(
      done,
      [...done].sort((a, b) => a - b),
      'entriesDone never goes back',
    );
    assert.equal(done.at(-1), r.entries);
    await assertContained('meld/raw');
  });

  test(`nesting deeper than 2 levels is stored as a file, not expanded`, async () => {
    const c = await makeTar([{ name: 'c/leaf.txt', data: 'leaf' }], true);
    const b = await makeTar([{ name: 'b/c.tar.gz', data: c }], true);
    const a = await makeTar([{ name: 'a/b.tar.gz', data: b }], true);
    const outer = await makeTar([{ name: 'top/a.tar.gz', data: a }], false);
    const r = await unpack(fromBytes(outer), 'deep.tar', 'deep', { nested: (p) => p.endsWith('.tar.gz') });
    assert.deepEqual(
      r.nestedArchives.map((n) => n.path),
      ['top/a.tar.gz', 'top/a/b.tar.gz'],
    );
    assert.deepEqual(
      r.files.map((f) => f.path),
      ['top/a/b/c.tar.gz'],
    );
    assert.equal(sha(await store.get('deep/top/a/b/c.tar.gz')), sha(c));
  });

  test('truncated .tar.gz is ArchiveCorrupt naming the archive and the entry it was in', async () => {
    const archive = await makeTar(
      [
        { name: 'clips/a.txt', data: 'fine' },
        { name: 'clips/big.bin', data: bytes(400_000, 'trunc') },
      ],
      true,
    );
    const cut = archive.subarray(0, Math.floor(archive.length * 0.6));
    for (const input of [fromFile(await writeInput('trunc.tar.gz', cut)), fromBytes(cut)]) {
      await rejectsAs(
        unpack(input, 'trunc.tar.gz', 'trunc', { smallEntryBytes: 1024 }),
        ErrorTypes.ArchiveCorrupt,
        /trunc\.tar\.gz.*in entry clips\/big\.bin.*unexpected end of file/,
      );
    }
  });

  test('garbage tar header and a broken zip are ArchiveCorrupt', async () => {
    const good = await makeTar(
      [
        { name: 'one.txt', data: 'one' },
        { name: 'two.txt', data: 'two' },
      ],
      false,
    );
    const bad = Buffer.from(good);
    bad.fill(0x41, 1024, 1024 + 100); // second header (after one.txt's header and data block)
    await rejectsAs(unpack(fromBytes(bad), 'bad.tar', 'bad'), ErrorTypes.ArchiveCorrupt, /after entry one\.txt/);
    const zip = await makeZip([{ name: 'a.txt', data: 'zip' }]);
    const cutZip = await writeInput('bad.zip', zip.subarray(0, zip.length - 30));
    await rejectsAs(unpack(fromFile(cutZip), 'bad.zip', 'bad'), ErrorTypes.ArchiveCorrupt);
    const flipped = Buffer.from(zip);
    flipped[flipped.indexOf(Buffer.from('a.txt')) + 5 + 2] ^= 0xff; // first byte of the deflated data
    await rejectsAs(
      unpack(fromFile(await writeInput('flip.zip', flipped)), 'flip.zip', 'bad'),
      ErrorTypes.ArchiveCorrupt,
      /flip\.zip.*in entry a\.txt/,
    );
  });

  test('over the total size or entry cap is ArchiveTooLarge naming the archive and the limit', async () => {
    const archive = await makeTar(
      [
        { name: 'a.bin', data: bytes(600, 'a') },
        { name: 'b.bin', data: bytes(600, 'b') },
        { name: 'c.bin', data: bytes(10, 'c') },
      ],
      true,
    );
    const input = fromFile(await writeInput('cap.tar.gz', archive));
    const capped = (limits: UnpackOptions['limits']) => unpack(input, 'cap.tar.gz', 'cap', { limits });
    await rejectsAs(capped({ maxTotalBytes: 1000 }), ErrorTypes.ArchiveTooLarge, /cap\.tar\.gz.*1000 bytes/);
    await rejectsAs(capped({ maxEntries: 2 }), ErrorTypes.ArchiveTooLarge, /cap\.tar\.gz.*2 entries/);
    await rejectsAs(capped({ maxEntryBytes: 599 }), ErrorTypes.ArchiveTooLarge, /a\.bin is 600 bytes/);
    const zip = await makeZip([
      { name: '1', data: 'x' },
      { name: '2', data: 'y' },
      { name: '3', data: 'z' },
    ]);
    store.puts = [];
    await rejectsAs(
      unpack(fromFile(await writeInput('cap.zip', zip)), 'cap.zip', 'capz', { limits: { maxEntries: 2 } }),
      ErrorTypes.ArchiveTooLarge,
    );
    assert.deepEqual(store.puts, [], 'a zip over the entry cap is refused before anything is written');
  });

  test('sha256 of the input: a match passes, a mismatch is ChecksumMismatch after the pass', async () => {
    const archive = await makeTar([{ name: 'f.txt', data: 'payload' }], true);
    const path = await writeInput('sum.tar.gz', archive);
    const ok = await unpack(fromFile(path), 'sum.tar.gz', 'sum/ok', { expectedSha256: sha(archive).toUpperCase() });
    assert.equal(ok.sha256, sha(archive));
    await rejectsAs(
      unpack({ kind: 'stream', stream: createReadStream(path) }, 'sum.tar.gz', 'sum/bad', {
        expectedSha256: '0'.repeat(64),
      }),
      ErrorTypes.ChecksumMismatch,
      new RegExp(sha(archive)),
    );
    // The pass completed: the caller (who will not commit) can see what was written.
    assert.equal((await store.get('sum/bad/f.txt')).toString(), 'payload');
  });

  test('resumeAfter reads through stored entries without uploading them again', async () => {
    const items: TarItem[] = Array.from({ length: 12 }, (_, i) => ({
      name: `r/f${i}.bin`,
      data: bytes(1000 + i * 5000, `r${i}`),
    }));
    const archive = await makeTar(items, true);
    const path = await writeInput('resume.tar.gz', archive);
    const first = await unpack(fromFile(path), 'resume.tar.gz', 'res', { smallEntryBytes: 20_000 });
    await store.put('res/r/f3.bin', 'damaged'); // wrong size: must be uploaded again
    await store.delete('res/r/f11.bin'); // beyond resumeAfter anyway
    store.puts = [];
    const second = await unpack(fromFile(path), 'resume.tar.gz', 'res', { resumeAfter: 11, smallEntryBytes: 20_000 });
    assert.deepEqual(store.puts.sort(), ['res/r/f11.bin', 'res/r/f3.bin']);
    assert.deepEqual(second.files, first.files);
    for (const [i, it] of items.entries()) assert.equal(second.files[i].sha256, sha(it.data as Buffer));
    assert.equal(sha(await store.get('res/r/f3.bin')), sha(items[3].data as Buffer));
  });

  test('type comes from content when the name says nothing; unsupported formats are ArchiveUnsupported', async () => {
    const archive = await makeTar([{ name: 'n.txt', data: 'named badly' }], true);
    const r = await unpack(fromBytes(archive), 'download', 'noname');
    assert.equal(r.archiveType, 'tar.gz');
    assert.equal((await store.get('noname/n.txt')).toString(), 'named badly');
    assert.throws(
      () => detectArchiveType('x.tar.bz2', Buffer.from('BZh91AY&SY')),
      isMer(ErrorTypes.ArchiveUnsupported),
    );
    assert.throws(
      () => detectArchiveType('x.rar', Buffer.from('Rar!\x1a\x07\x00', 'latin1')),
      isMer(ErrorTypes.ArchiveUnsupported),
    );
    assert.throws(
      () => detectArchiveType('x.tar.gz', Buffer.from('plain text, not gzip')),
      isMer(ErrorTypes.ArchiveCorrupt),
    );
    await rejectsAs(unpack(fromBytes(Buffer.from('just some text')), 'notes.txt', 'x'), ErrorTypes.ArchiveUnsupported);
    await rejectsAs(unpack(fromFile(join(inDir, 'missing.tar')), 'missing.tar', 'x'), ErrorTypes.SourceMissing);
  });

  test('abort via signal stops promptly', async () => {
    const items: TarItem[] = Array.from({ length: 40 }, (_, i) => ({
      name: `ab/f${i}.bin`,
      data: bytes(20_000, `ab${i}`),
    }));
    const archive = await makeTar(items, true);
    const ac = new AbortController();
    let result: UnpackResult | undefined;
    await assert.rejects(
      (async () => {
        result = await unpack(fromBytes(archive), 'abort.tar.gz', 'abort', {
          signal: ac.signal,
          onProgress: (p) => {
            if (p.entriesDone >= 3) ac.abort();
          },
        });
      })(),
      (err: Error) => err.name === 'AbortError',
    );
    assert.equal(result, undefined);
    const stored = await store.list('abort/');
    assert.ok(stored.length < items.length, `stopped after ${stored.length} entries`);
  });
});
