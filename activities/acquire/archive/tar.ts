import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as zlib from 'node:zlib';
import tar from 'tar-stream';
import type { EntryKind, EntrySink } from './types.ts';

/** Reading a tar or tar.gz as it streams (flat memory), as a sequence of RawEntry. */

type TarHeaderType = tar.Header['type'];

function tarEntryKind(type: TarHeaderType): EntryKind {
  if (type === 'file' || type === 'contiguous-file') return 'file';
  if (type === 'link') return 'hardlink';
  if (
    type === 'symlink' ||
    type === 'directory' ||
    type === 'character-device' ||
    type === 'block-device' ||
    type === 'fifo'
  )
    return type;
  return 'other';
}

/** Hands the entries to the sink in stream order; each entry's bytes must be consumed before the next arrives. */
export async function readTar(source: Readable, gzipped: boolean, sink: EntrySink): Promise<void> {
  // Old (pre-POSIX) tars have no magic; the header checksum still guards against garbage.
  const parser = tar.extract({ allowUnknownFormat: true } as Parameters<typeof tar.extract>[0]);
  const tag = (err: unknown): void => sink.tag(err);
  parser.on('error', tag);
  let piped: Promise<void>;
  if (gzipped) {
    const gunzip = zlib.createGunzip();
    gunzip.on('error', tag);
    piped = pipeline(source, gunzip, parser);
  } else {
    piped = pipeline(source, parser);
  }
  let pipeErr: { err: unknown } | null = null;
  const settled = piped.then(
    () => undefined,
    (err: unknown) => {
      pipeErr = { err };
    },
  );
  try {
    for await (const entry of parser) {
      const h = entry.header;
      await sink.entry({
        name: h.name,
        kind: tarEntryKind(h.type),
        label: h.type ?? 'unknown type',
        size: h.size ?? 0,
        linkname: h.linkname ?? null,
        sequential: true,
        open: () => Promise.resolve(entry as AsyncIterable<Buffer>),
      });
    }
  } catch (err) {
    source.destroy();
    await settled;
    throw err;
  }
  await settled;
  const failure = pipeErr as { err: unknown } | null;
  if (failure) throw failure.err;
}
