import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { gzipSync } from 'node:zlib';
import { readRawIndex, unpackStep, type UnpackStepInput } from '../../activities/acquire/unpack.ts';
import { listFolder, sourceKey } from '../../activities/acquire/source.ts';
import { localStepContext } from '../../activities/common/context.ts';
import { ErrorTypes, MerError } from '../../activities/common/errors.ts';
import { LocalStore } from '../../activities/store/local.ts';
import type { DatasetName } from '../../schemas/config.ts';

/**
 * Limits that a folder source escaped (issue 14, class 4): the folder's own files and the archives in
 * it share one size and entry budget; a path the folder already holds is not replaced by what an
 * archive beside it holds (the first copy wins, as inside archives, and the collision is reported);
 * names that cannot be store keys, links and devices are skipped with a reason instead of failing.
 */

/** A ustar member, by hand: header block, data, padding. */
function member(name: string, data: Buffer | string): Buffer {
  const d = Buffer.from(data);
  const h = Buffer.alloc(512);
  h.write(name, 0, 100, 'utf8');
  h.write('0000644\0', 100, 'latin1');
  h.write(`${d.length.toString(8).padStart(11, '0')}\0`, 124, 'latin1');
  h[156] = 0x30;
  h.write('ustar\u000000', 257, 'latin1');
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const x of h) sum += x;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return Buffer.concat([h, d, Buffer.alloc((512 - (d.length % 512)) % 512)]);
}
const tgz = (...members: Buffer[]): Buffer => gzipSync(Buffer.concat([...members, Buffer.alloc(1024)]));

describe('folder sources (issue 14, class 4)', () => {
  let base: string;
  let storeRoot: string;
  let store: LocalStore;
  let n = 0;

  before(async () => {
    base = await mkdtemp(join(tmpdir(), 'mer-folder-source-'));
    storeRoot = join(base, 'store');
    store = new LocalStore(storeRoot);
  });
  after(async () => {
    await rm(base, { recursive: true, force: true });
  });

  /** A fresh folder under in/ holding `files` (relative path -> content). */
  async function folder(files: Record<string, Buffer | string>): Promise<string> {
    const root = join(base, 'in', `src${++n}`);
    for (const [rel, data] of Object.entries(files)) {
      await mkdir(join(root, rel, '..'), { recursive: true });
      await writeFile(join(root, rel), data);
    }
    return root;
  }

  function step(
    root: string,
    dataset: DatasetName,
    acquire: { maxExtractGiB?: number; maxEntries?: number } = {},
  ): { input: UnpackStepInput; run: () => ReturnType<typeof unpackStep> } {
    const key = `k${++n}`;
    const input: UnpackStepInput = {
      store: { kind: 'local', root: storeRoot },
      plan: { dataset, source: { kind: 'folder', path: root }, labels: dataset === 'meld' ? 'meld7' : '6class' },
      acquire: { chunkMiB: 64, maxExtractGiB: 64, maxEntries: 2_000_000, keepDownloads: false, ...acquire },
      rawPrefix: `raw/${dataset}/${key}`,
      downloadsPrefix: `downloads/${dataset}/${key}`,
    };
    return { input, run: () => unpackStep(input, localStepContext()) };
  }

  async function rejectsAs(p: Promise<unknown>, type: string, re: RegExp): Promise<void> {
    await assert.rejects(p, (err: unknown) => {
      assert.ok(err instanceof MerError, `expected MerError ${type}, got ${String(err)}`);
      assert.equal(err.type, type, err.message);
      assert.match(err.message, re);
      return true;
    });
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

  const GiB = 1024 ** 3;

  test('one size budget for the folder and the archives in it', async () => {
    const clip = Buffer.alloc(600, 7);
    // 600 bytes of folder files + 600 in train.tar.gz: each under 1000 alone, over it together.
    const a = await folder({
      'MELD.Raw/train_sent_emo.csv': clip,
      'MELD.Raw/train.tar.gz': tgz(member('train_splits/u0.mp4', clip)),
    });
    await rejectsAs(
      step(a, 'meld', { maxExtractGiB: 1000 / GiB }).run(),
      ErrorTypes.ArchiveTooLarge,
      /^archive train\.tar\.gz expands to more than the limit of 1000 bytes \(maxTotalBytes\) together with the 600 bytes of the folder's own files; stopped at entry train_splits\/u0\.mp4/,
    );
    // Two archives of 600 each, no other files: the second one is refused.
    const b = await folder({
      'MELD.Raw/dev.tar.gz': tgz(member('dev_splits/u0.mp4', clip)),
      'MELD.Raw/train.tar.gz': tgz(member('train_splits/u0.mp4', clip)),
    });
    await rejectsAs(
      step(b, 'meld', { maxExtractGiB: 1000 / GiB }).run(),
      ErrorTypes.ArchiveTooLarge,
      /^archive train\.tar\.gz .* together with the 600 bytes of the folder's own files and the archives before it/,
    );
    // Entries too: 2 folder entries (a file, an archive) + 2 in the archive > 3.
    const c = await folder({
      'MELD.Raw/a.csv': 'x',
      'MELD.Raw/test.tar.gz': tgz(member('t/0.mp4', 'a'), member('t/1.mp4', 'b')),
    });
    await rejectsAs(
      step(c, 'meld', { maxEntries: 3 }).run(),
      ErrorTypes.ArchiveTooLarge,
      /more than the limit of 3 entries .* together with the 2 entries of the folder's own files/,
    );
    // The folder's own files over the limit: refused before anything is copied.
    const d = await folder({ 'x/a.bin': clip, 'x/b.bin': clip });
    const s = step(d, 'iemocap', { maxExtractGiB: 1000 / GiB });
    await rejectsAs(
      s.run(),
      ErrorTypes.ArchiveTooLarge,
      /^folder .*src\d+ holds 1200 bytes in its files, more than the limit of 1000 bytes/,
    );
    assert.deepEqual(await store.list(`${s.input.rawPrefix}/`), []);
  });

  test("a folder's file is not replaced by an archive beside it: the first copy wins and the collision is reported", async () => {
    const root = await folder({
      'MELD.Raw/readme.txt': 'folder readme',
      'MELD.Raw/train_splits/dia0_utt0.mp4': 'folder copy',
      'MELD.Raw/train.tar.gz': tgz(
        member('train_splits/dia0_utt0.mp4', 'archive copy'),
        member('train_splits/dia0_utt1.mp4', 'train copy'),
      ),
      // Listed before train.tar.gz: its copy of dia0_utt1 comes first; its readme.txt/inner would lie under a file.
      'MELD.Raw/dev.tar.gz': tgz(member('train_splits/dia0_utt1.mp4', 'dev copy'), member('readme.txt/inner', 'under')),
    });
    const s = step(root, 'meld');
    const summary = await s.run();
    const index = await readRawIndex(store, s.input.rawPrefix);
    assert.deepEqual(
      index.files.map((f) => f.path),
      ['MELD.Raw/readme.txt', 'MELD.Raw/train_splits/dia0_utt0.mp4', 'MELD.Raw/train_splits/dia0_utt1.mp4'],
    );
    const get = async (p: string): Promise<string> => (await store.get(`${s.input.rawPrefix}/files/${p}`)).toString();
    assert.equal(await get('MELD.Raw/train_splits/dia0_utt0.mp4'), 'folder copy');
    assert.equal(await get('MELD.Raw/train_splits/dia0_utt1.mp4'), 'dev copy');
    const reasons = Object.fromEntries(index.skipped.map((k) => [k.entry, k.reason]));
    assert.match(
      reasons['MELD.Raw/train.tar.gz: train_splits/dia0_utt0.mp4'],
      /the folder already holds this file \(the first copy, the folder's own, was kept\)/,
    );
    assert.match(
      reasons['MELD.Raw/train.tar.gz: train_splits/dia0_utt1.mp4'],
      /duplicate path \(the first copy was kept\)/,
    );
    assert.match(
      reasons['MELD.Raw/dev.tar.gz: readme.txt/inner'],
      /lies under the earlier file MELD\.Raw\/readme\.txt/,
    );
    assert.equal(summary.skipped, 3);
    assert.equal(await store.exists(`${s.input.rawPrefix}/files/MELD.Raw/readme.txt/inner`), false);
  });

  test('names that cannot be store keys, links and devices are skipped with a reason; the stage goes on', async () => {
    const secretDir = join(base, 'secret');
    await mkdir(secretDir, { recursive: true });
    await writeFile(join(secretDir, 'passwd'), 'SECRET-OUTSIDE-THE-FOLDER');
    const deep = Array.from({ length: 5 }, (_, i) => `${String(i).repeat(200)}`).join('/');
    const root = await folder({
      'Session1/good.wav': 'good',
      'Session1/back\\slash.wav': 'bs',
      'Session1/ctl\u0001.wav': 'ctl',
      'C:evil.wav': 'drive',
      'Session1/a:colon.wav': 'fine',
      [`${deep}/long.wav`]: 'long',
    });
    await writeFile(
      Buffer.concat([Buffer.from(join(root, 'Session1', 'bad')), Buffer.from([0xff, 0xfe]), Buffer.from('.wav')]),
      'latin1',
    );
    await symlink(join(secretDir, 'passwd'), join(root, 'Session1', 'link.wav'));
    await symlink(secretDir, join(root, 'linkdir'));
    const fifo = spawnSync('mkfifo', [join(root, 'Session1', 'pipe.wav')]).status === 0;

    // The source key (the plan's listing) no longer trips over a name that is not UTF-8.
    assert.match(await sourceKey('iemocap', { kind: 'folder', path: root }), /^[0-9a-f]+$/);
    assert.ok(!(await listFolder(root)).some((f) => f.rel.includes('\uFFFD')));

    const s = step(root, 'iemocap');
    const summary = await s.run();
    const index = await readRawIndex(store, s.input.rawPrefix);
    assert.deepEqual(
      index.files.map((f) => f.path),
      ['Session1/a:colon.wav', 'Session1/good.wav'],
    );
    const reasons = Object.fromEntries(index.skipped.map((k) => [k.entry, k.reason]));
    assert.match(reasons['Session1/back\\slash.wav'], /backslash in name/);
    assert.match(reasons['Session1/ctl\u0001.wav'], /control character in name/);
    assert.match(reasons['C:evil.wav'], /Windows drive path/);
    assert.match(reasons[`${deep}/long.wav`], /store key longer than 1024 bytes/);
    assert.match(reasons['Session1/bad\uFFFD\uFFFD.wav'], /not valid UTF-8/);
    assert.match(reasons['Session1/link.wav'], /symlink: not followed/);
    assert.match(reasons['linkdir'], /symlink: not followed/);
    if (fifo) assert.match(reasons['Session1/pipe.wav'], /fifo \(not a regular file\)/);
    assert.equal(summary.files, 2);
    assert.equal(summary.skipped, index.skipped.length);
    assert.ok(await store.committed(s.input.rawPrefix), 'the stage committed');

    // Nothing from outside the folder reached the store, and nothing was written outside the store.
    for (const f of await walk(storeRoot))
      assert.ok(!(await readFile(f)).includes('SECRET-OUTSIDE-THE-FOLDER'), `secret copied into ${f}`);
    for (const f of await walk(base)) {
      const top = relative(base, f).split(sep)[0];
      assert.ok(['store', 'in', 'secret'].includes(top), `written outside the store: ${f}`);
    }
  });
});
