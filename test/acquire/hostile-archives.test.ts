import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { UnpackInput, UnpackOptions, UnpackResult } from '../../activities/acquire/archive/types.ts';
import { unpackToStore } from '../../activities/acquire/archive/unpacker.ts';
import { ErrorTypes, MerError } from '../../activities/common/errors.ts';
import { LocalStore } from '../../activities/store/local.ts';
import { MARKER, bytes, chunked, member, recordPadded, sha, zipOf } from './crafted-archives.ts';

/**
 * Archives that end early or say more than they hold (issue 14, class 3), crafted byte by byte: a tar
 * cut at an entry boundary or inside its end-of-archive marker, entries and garbage behind the marker,
 * gzip streams with a flipped CRC or length or a cut deflate stream, the same inside nested archives,
 * and zips whose central directory is cut, recounted or borrowed from a stored inner zip.
 */

describe('archives that end early (issue 14, class 3)', () => {
  let base: string;
  let inDir: string;
  let store: LocalStore;
  let n = 0;

  before(async () => {
    base = await mkdtemp(join(tmpdir(), 'mer-hostile-archives-'));
    inDir = join(base, 'in');
    await mkdir(inDir);
    store = new LocalStore(join(base, 'store'));
  });
  after(async () => {
    await rm(base, { recursive: true, force: true });
  });

  async function walk(dir: string): Promise<string[]> {
    const out: string[] = [];
    for (const e of await readdir(dir, { withFileTypes: true })) {
      const full = join(dir, e.name);
      if (e.isDirectory()) out.push(...(await walk(full)));
      else out.push(full);
    }
    return out;
  }

  /** Nothing lies outside the store root (inputs aside), and in it nothing outside this test's prefix. */
  async function assertContained(dest: string): Promise<void> {
    for (const f of await walk(base)) {
      const top = relative(base, f).split(sep)[0];
      assert.ok(top === 'store' || top === 'in', `written outside the store root: ${f}`);
    }
    for (const o of await store.list(`${dest.split('/')[0]}/`))
      assert.ok(o.key.startsWith(`${dest}/`), `object outside ${dest}: ${o.key}`);
    const spooled = (await readdir(inDir)).filter((f) => f.startsWith('mer-unpack-'));
    assert.deepEqual(spooled, [], 'a spooled zip was left behind');
  }

  function unpack(
    input: UnpackInput,
    name: string,
    dest: string,
    more: Partial<UnpackOptions> = {},
  ): Promise<UnpackResult> {
    return unpackToStore({ store, input, archiveName: name, destPrefix: dest, tmpDir: inDir, ...more });
  }

  /** Every input form (file, one chunk, small odd chunks) fails the same way: ArchiveCorrupt matching `re`. */
  async function refusedEverywhere(archive: Buffer, name: string, re: RegExp, more: Partial<UnpackOptions> = {}) {
    const path = join(inDir, `${++n}-${name}`);
    await writeFile(path, archive);
    const inputs: UnpackInput[] = [
      { kind: 'file', path },
      chunked(archive, 0),
      chunked(archive, 1000),
      chunked(archive, 511),
    ];
    for (const input of inputs) {
      const dest = `t${++n}/raw`;
      await assert.rejects(unpack(input, name, dest, more), (err: unknown) => {
        assert.ok(err instanceof MerError, `expected MerError, got ${String(err)}`);
        assert.equal(err.type, ErrorTypes.ArchiveCorrupt, err.message);
        assert.match(err.message, re);
        return true;
      });
      await assertContained(dest);
    }
  }

  const three = [member('s/Session1.txt', 'one'), member('s/Session2.txt', 'two'), member('s/Session3.txt', 'three')];

  test('a tar cut exactly between two entries is refused as truncated, not read as a smaller corpus', async () => {
    await refusedEverywhere(
      Buffer.concat(three.slice(0, 2)),
      'cut.tar',
      /^archive cut\.tar is corrupt or truncated after entry s\/Session2\.txt: the data ends without the end-of-archive marker/,
    );
    // After the last entry, with no marker at all: the same.
    await refusedEverywhere(
      Buffer.concat(three),
      'nomarker.tar',
      /after entry s\/Session3\.txt: .*without the end-of-archive marker/,
    );
    // And inside a header, and inside an entry's padding.
    await refusedEverywhere(
      Buffer.concat(three).subarray(0, 1024 + 200),
      'inhead.tar',
      /after entry s\/Session1\.txt: the data ends inside a header/,
    );
    await refusedEverywhere(
      Buffer.concat(three).subarray(0, 512 + 100),
      'inpad.tar',
      /in entry s\/Session1\.txt|after entry s\/Session1\.txt.*padding/,
    );
  });

  test('a tar missing one of the two zero blocks of its end-of-archive marker is truncated', async () => {
    const all = Buffer.concat(three);
    await refusedEverywhere(
      Buffer.concat([all, Buffer.alloc(512)]),
      'half.tar',
      /after entry s\/Session3\.txt: .*first of the two zero blocks/,
    );
    await refusedEverywhere(Buffer.concat([all, Buffer.alloc(512 + 300)]), 'part.tar', /first of the two zero blocks/);
    // gzipped, the same.
    await refusedEverywhere(
      gzipSync(Buffer.concat([all, Buffer.alloc(512)])),
      'half.tar.gz',
      /half\.tar\.gz .*first of the two zero blocks/,
    );
  });

  test('a complete tar, its record padding included, reads as before and reports nothing', async () => {
    const t = recordPadded(Buffer.concat([...three, MARKER]));
    for (const input of [chunked(t, 0), chunked(t, 333), chunked(gzipSync(t), 100)]) {
      const dest = `ok${++n}/raw`;
      const r = await unpack(input, 'ok.tar', dest);
      assert.deepEqual(
        r.files.map((f) => f.path),
        ['s/Session1.txt', 's/Session2.txt', 's/Session3.txt'],
      );
      assert.deepEqual(r.skipped, []);
      assert.equal((await store.get(`${dest}/s/Session3.txt`)).toString(), 'three');
    }
  });

  test('entries behind the end-of-archive marker are not extracted, and the report says so', async () => {
    const evil = member('s/Session4.txt', 'smuggled');
    const hidden = Buffer.concat([...three, MARKER, evil, member('../../escape.txt', 'x'), MARKER]);
    for (const [input, name] of [
      [chunked(hidden, 0), 'hidden.tar'],
      [chunked(gzipSync(hidden), 77), 'hidden.tar.gz'],
    ] as const) {
      const dest = `hid${++n}/raw`;
      const r = await unpack(input, name, dest);
      assert.deepEqual(
        r.files.map((f) => f.path),
        ['s/Session1.txt', 's/Session2.txt', 's/Session3.txt'],
      );
      assert.equal(await store.exists(`${dest}/s/Session4.txt`), false);
      assert.equal(r.skipped.length, 1);
      assert.equal(r.skipped[0].entry, 's/Session4.txt');
      assert.match(
        r.skipped[0].reason,
        /^3072 bytes after the end-of-archive marker at byte 3072: not part of the archive .*not extracted/,
      );
      assert.equal(r.entries, 3);
      await assertContained(dest);
    }
    // The whole input is still what its sha256 covers.
    const r = await unpack(chunked(hidden, 0), 'hidden.tar', `hid${++n}/raw`, { expectedSha256: sha(hidden) });
    assert.equal(r.bytesIn, hidden.length);
    // Inside a nested archive the same, the report naming the nested archive; the outer entries go on.
    const outer = Buffer.concat([member('d/inner.tar.gz', gzipSync(hidden)), member('d/after.txt', 'after'), MARKER]);
    const dest = `hid${++n}/raw`;
    const nested = await unpack(chunked(outer, 4096), 'outer.tar', dest, { nested: (p) => p.endsWith('.tar.gz') });
    assert.deepEqual(
      nested.files.map((f) => f.path),
      ['d/s/Session1.txt', 'd/s/Session2.txt', 'd/s/Session3.txt', 'd/after.txt'],
    );
    assert.deepEqual(
      nested.skipped.map((k) => [k.entry, k.archive]),
      [['s/Session4.txt', 'd/inner.tar.gz']],
    );
    await assertContained(dest);
  });

  test('garbage after the marker, and a lone zero block with entries behind it, end the archive there', async () => {
    const garbage = Buffer.concat([...three, MARKER, bytes(700, 'junk')]);
    const r1 = await unpack(chunked(garbage, 0), 'junk.tar', `j${++n}/raw`);
    assert.equal(r1.files.length, 3);
    assert.deepEqual(
      r1.skipped.map((s) => s.entry),
      ['(data after the end of the archive)'],
    );
    assert.match(r1.skipped[0].reason, /^700 bytes after the end-of-archive marker/);
    // One zero block, then an entry: GNU tar and libarchive stop at the zero block ("A lone zero block").
    const lone = Buffer.concat([three[0], Buffer.alloc(512), three[1], MARKER]);
    const r2 = await unpack(chunked(lone, 0), 'lone.tar', `j${++n}/raw`);
    assert.deepEqual(
      r2.files.map((f) => f.path),
      ['s/Session1.txt'],
    );
    assert.equal(r2.skipped[0].entry, 's/Session2.txt');
    assert.match(r2.skipped[0].reason, /after a lone zero block at byte 1024, which ends the archive as tar reads it/);
    // What lies behind the marker counts against the size limit (a gzip bomb hidden there stops too).
    const bomb = gzipSync(Buffer.concat([...three, MARKER, Buffer.alloc(2_000_000, 1)]));
    await assert.rejects(
      unpack(chunked(bomb, 0), 'bomb.tar.gz', `j${++n}/raw`, { limits: { maxTotalBytes: 1_000_000 } }),
      (err: unknown) =>
        err instanceof MerError &&
        err.type === ErrorTypes.ArchiveTooLarge &&
        /after its end-of-archive marker/.test(err.message),
    );
  });

  test('a flipped gzip CRC or length names the archive and the entry read last, whatever the chunking', async () => {
    const t = Buffer.concat([member('a.txt', 'aaa'), member('b.txt', 'bbb'), MARKER]);
    const gz = gzipSync(t);
    const crc = Buffer.from(gz);
    crc[crc.length - 8] ^= 0xff;
    const len = Buffer.from(gz);
    len[len.length - 1] ^= 0x01;
    await refusedEverywhere(
      crc,
      'crc.tar.gz',
      /^archive crc\.tar\.gz is corrupt or truncated after entry b\.txt: gzip CRC-32 check .*\(incorrect data check\)/,
    );
    await refusedEverywhere(
      len,
      'len.tar.gz',
      /^archive len\.tar\.gz is corrupt or truncated after entry b\.txt: gzip length check .*\(incorrect length check\)/,
    );
  });

  test('a deflate stream cut short names the entry in which the data ran out', async () => {
    const t = Buffer.concat([
      member('a.txt', 'aaa'),
      member('big.bin', bytes(200_000, 'big')),
      member('c.txt', 'ccc'),
      MARKER,
    ]);
    const gz = gzipSync(t);
    await refusedEverywhere(
      gz.subarray(0, gz.length >> 1),
      'cut.tgz',
      /^archive cut\.tgz is corrupt or truncated in entry big\.bin: the gzip data ends early \(unexpected end of file\)/,
    );
    // Cut in the trailer: every entry arrived, the check could not run.
    await refusedEverywhere(gz.subarray(0, gz.length - 3), 'tail.tgz', /after entry c\.txt: .*unexpected end of file/);
  });

  test('nested archives: the failure is blamed on the archive that holds the broken bytes, at its entry', async () => {
    const nest = { nested: (p: string) => /\.(tar\.gz|tar|zip)$/.test(p) };
    const inner = gzipSync(
      Buffer.concat([member('i1.bin', bytes(30_000, 'i1')), member('i2.bin', bytes(30_000, 'i2')), MARKER]),
    );
    const innerCrc = Buffer.from(inner);
    innerCrc[innerCrc.length - 7] ^= 0x10;
    // tar.gz in tar, its CRC flipped: the nested archive and its last entry, not the outer archive.
    await refusedEverywhere(
      Buffer.concat([member('d/inner.tar.gz', innerCrc), member('z.txt', 'z'), MARKER]),
      'outer.tar',
      /^archive outer\.tar \(nested archive d\/inner\.tar\.gz\) is corrupt or truncated after entry i2\.bin: gzip CRC-32/,
      nest,
    );
    // tar.gz in tar, cut inside i2.bin (the outer entry is whole: its declared size is the cut size).
    await refusedEverywhere(
      Buffer.concat([member('d/inner.tar.gz', inner.subarray(0, 45_000)), MARKER]),
      'outer.tar',
      /^archive outer\.tar \(nested archive d\/inner\.tar\.gz\) is corrupt or truncated in entry i2\.bin: the gzip data ends early/,
      nest,
    );
    // The outer tar.gz's own CRC flipped, a nested archive its last entry: the outer archive, after that entry.
    const outerGz = gzipSync(Buffer.concat([member('d/inner.tar.gz', inner), MARKER]));
    outerGz[outerGz.length - 6] ^= 0x01;
    await refusedEverywhere(
      outerGz,
      'outer.tar.gz',
      /^archive outer\.tar\.gz is corrupt or truncated after entry d\/inner\.tar\.gz: gzip CRC-32/,
      nest,
    );
    // tar in zip, the tar cut at an entry boundary.
    const zip = await zipOf([{ name: 'd/inner.tar', data: Buffer.concat(three.slice(0, 2)) }]);
    await refusedEverywhere(
      zip,
      'outer.zip',
      /^archive outer\.zip \(nested archive d\/inner\.tar\) .*after entry s\/Session2\.txt: .*end-of-archive marker/,
      nest,
    );
    // zip in tar, the zip's central directory cut off.
    const iz = await zipOf([{ name: 'clip.bin', data: bytes(5000, 'clip') }]);
    await refusedEverywhere(
      Buffer.concat([member('d/inner.zip', iz.subarray(0, iz.length - 30)), MARKER]),
      'outer.tar',
      /^archive outer\.tar \(nested archive d\/inner\.zip\) is corrupt or truncated in its central directory/,
      nest,
    );
  });

  test('zips: a cut, recounted or borrowed central directory is refused', async () => {
    const z = await zipOf([
      { name: 'Session1.txt', data: 'one' },
      { name: 'Session2.txt', data: 'two' },
      { name: 'Session3.txt', data: 'three' },
    ]);
    const eocd = z.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
    await refusedEverywhere(
      z.subarray(0, eocd),
      'nocd.zip',
      /^archive nocd\.zip is corrupt or truncated in its central directory: End of central directory/,
    );
    await refusedEverywhere(z.subarray(0, z.length - 5), 'cut.zip', /in its central directory/);
    // The end record says 2 entries where the directory holds 3: a smaller corpus without a word, before.
    const recount = Buffer.from(z);
    recount.writeUInt16LE(2, eocd + 8);
    recount.writeUInt16LE(2, eocd + 10);
    await refusedEverywhere(
      recount,
      'recount.zip',
      /in its central directory: it is \d+ bytes, but the 2 entries the end record counts take \d+/,
    );
    // Bytes after the end record.
    await refusedEverywhere(
      Buffer.concat([z, Buffer.from('trailing')]),
      'trail.zip',
      /in its central directory: Invalid comment length/,
    );
    // An outer zip cut right after a stored inner zip: yauzl finds the inner zip's end record.
    const inner = await zipOf([{ name: 'evil.txt', data: 'from the inner zip' }], false);
    const outer = await zipOf(
      [
        { name: 'Session1.txt', data: 'one' },
        { name: 'inner.zip', data: inner },
      ],
      false,
    );
    const innerEnd = outer.indexOf(inner) + inner.length;
    await refusedEverywhere(
      outer.subarray(0, innerEnd),
      'borrowed.zip',
      /in its central directory: the directory .* does not end where the end record lies/,
    );
  });
});
