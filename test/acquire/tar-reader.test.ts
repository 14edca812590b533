import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import tar from 'tar-stream';
import { readTar } from '../../activities/acquire/archive/tar.ts';
import type { RawEntry } from '../../activities/acquire/archive/types.ts';
import { MARKER, member } from './crafted-archives.ts';

/**
 * The tar reader replaced tar-stream's extractor (to check framing, the end-of-archive marker and
 * truncation itself); for every header form a corpus may hold it must give the same entries, so store
 * keys of corpora unpacked before do not move.
 */

test('the tar reader gives the entries tar-stream gave (names, kinds, sizes, links): store keys stay put', async () => {
  const pack = tar.pack();
  const long = `${'deep/'.repeat(30)}file-with-a-long-name.wav`;
  pack.entry({ name: 'dir/', type: 'directory' });
  pack.entry({ name: 'dir/a.txt' }, 'aaa');
  pack.entry({ name: long }, 'long');
  pack.entry({ name: 'dir/ünïcödé ✓.txt' }, 'utf8');
  pack.entry({ name: 'dir/link', type: 'symlink', linkname: 'a.txt' });
  pack.entry({ name: 'dir/hard', type: 'link', linkname: 'dir/a.txt' });
  pack.entry({ name: 'dir/empty.txt' }, '');
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack as AsyncIterable<Buffer>) chunks.push(Buffer.from(c));
  const gnuLong = Buffer.concat([
    member('././@LongLink', `${'g/'.repeat(60)}gnu.txt\0`, { type: 'L' }),
    member('short', 'gnu'),
  ]);
  const archive = Buffer.concat([
    ...chunks.slice(0, -1),
    gnuLong,
    member('old/v7.txt', 'v7', { magic: 'v7' }),
    member('b256.txt', 'base256', { size256: true }),
    member('odd', 'x', { type: 'S' }),
    MARKER,
  ]);
  const ours: Array<Partial<RawEntry>> = [];
  await readTar(Readable.from([archive]), false, {
    tag: () => undefined,
    checkAbort: () => undefined,
    readPast: () => undefined,
    ignored: (entry, reason) => assert.fail(`${entry}: ${reason}`),
    entry: async (raw) => {
      for await (const c of await raw.open()) void c;
      ours.push({ name: raw.name, kind: raw.kind, label: raw.label, size: raw.size, linkname: raw.linkname });
    },
  });
  const theirs: Array<Partial<RawEntry>> = [];
  const extract = tar.extract({ allowUnknownFormat: true } as Parameters<typeof tar.extract>[0]);
  const done = (async () => {
    for await (const e of extract) {
      const h = e.header;
      const kind =
        h.type === 'file'
          ? 'file'
          : h.type === 'link'
            ? 'hardlink'
            : h.type === 'symlink' || h.type === 'directory'
              ? h.type
              : 'other';
      theirs.push({
        name: h.name,
        kind,
        label: h.type ?? 'unknown type',
        size: h.size,
        linkname: h.linkname ?? null,
      });
      e.resume();
    }
  })();
  extract.end(archive);
  await done;
  assert.equal(ours.length, 11);
  assert.deepEqual(ours, theirs);
});
