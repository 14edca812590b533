import { createHash, type Hash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, open, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as zlib from 'node:zlib';
import tar from 'tar-stream';
import yauzl from 'yauzl';
import { ErrorTypes, MerError } from '../common/errors.ts';
import { assertValidKey, joinKey, type ObjectStore } from '../store/types.ts';

export const DEFAULT_MAX_TOTAL_BYTES = 64 * 1024 ** 3;
export const DEFAULT_MAX_ENTRIES = 2_000_000;
/** Archives inside archives are expanded this many levels deep; deeper ones are stored as files. */
export const MAX_NESTING_DEPTH = 2;
const DEFAULT_SMALL_ENTRY_BYTES = 8 * 1024 * 1024;
const PROGRESS_EVERY_BYTES = 16 * 1024 * 1024;
/** S3's key limit; also keeps local paths well inside PATH_MAX. */
const MAX_KEY_BYTES = 1024;
const MAX_SEGMENT_BYTES = 255;
const MAX_SYMLINK_TARGET_BYTES = 4096;

export type ExtractInput = { kind: 'file'; path: string } | { kind: 'stream'; stream: Readable };
export type ArchiveType = 'tar' | 'tar.gz' | 'zip';

export interface ExtractLimits {
  /** Sum of the uncompressed sizes of all entries (nested ones included). Default 64 GiB. */
  maxTotalBytes?: number;
  /** Entries of every kind, nested ones included. Default 2,000,000. */
  maxEntries?: number;
  maxEntryBytes?: number;
}

export interface ExtractProgress {
  /** Entries handled in archive order with nothing left in flight: what a retry passes back as `resumeAfter`. */
  entriesDone: number;
  bytesIn: number;
  bytesOut: number;
  currentEntry: string | null;
}

export interface ExtractedFile {
  /** Relative to destPrefix. */
  path: string;
  size: number;
  sha256: string;
}

export interface SkippedEntry {
  /** The entry's name as the archive spells it. */
  entry: string;
  reason: string;
  /** The nested archive (its path relative to destPrefix) the entry came from; absent for the outer one. */
  archive?: string;
}

export interface NestedArchiveInfo {
  /** Where the nested archive lay (relative to destPrefix); its entries went to that directory. It is not stored itself. */
  path: string;
  type: ArchiveType;
  size: number;
  sha256: string;
  entries: number;
}

export interface ExtractOptions {
  store: ObjectStore;
  input: ExtractInput;
  /** Used for type detection (content signatures win when they are unambiguous) and in every message. */
  archiveName: string;
  destPrefix: string;
  limits?: ExtractLimits;
  /**
   * Entries (paths relative to destPrefix) to expand in place instead of storing, as `tar -xf` run in
   * their directory would: `MELD.Raw/train.tar.gz` yields `MELD.Raw/train_splits/...`. The nested
   * archive itself is not stored (it would double the space); its size and sha256 are reported.
   */
  nested?: (path: string) => boolean;
  /** Entries a previous attempt reported as done: read through, but not uploaded again when already stored with the same size. */
  resumeAfter?: number;
  /** sha256 (hex) of the outer input, checked after the pass; a mismatch throws ChecksumMismatch. */
  expectedSha256?: string;
  onProgress?: (p: ExtractProgress) => void;
  signal?: AbortSignal;
  /** Uploads in flight for entries small enough to buffer. Default 4. */
  concurrency?: number;
  /** Entries up to this size are buffered and uploaded in parallel; bigger ones stream. Default 8 MiB. */
  smallEntryBytes?: number;
  /** Where a zip that arrives as a stream is spooled (it needs random access). Default: the OS temp dir. */
  tmpDir?: string;
}

export interface ExtractResult {
  files: ExtractedFile[];
  skipped: SkippedEntry[];
  /** sha256 of the outer input bytes. */
  sha256: string;
  archiveType: ArchiveType;
  bytesIn: number;
  bytesOut: number;
  entries: number;
  nestedArchives: NestedArchiveInfo[];
}

type EntryKind = 'file' | 'directory' | 'symlink' | 'hardlink' | 'character-device' | 'block-device' | 'fifo' | 'other';

/** One archive entry, whatever the format. Its bytes must be consumed (or discarded) before the next one. */
interface RawEntry {
  name: string;
  kind: EntryKind;
  /** How the format called it, for messages about unsupported kinds. */
  label: string;
  size: number;
  linkname: string | null;
  /** Set when the entry's data cannot be read at all (encryption, unknown compression). */
  unreadable?: string;
  /** zip: the CRC-32 the data must match. */
  crc32?: number;
  /** tar: the bytes sit in the stream and must be read past even when unused. */
  sequential: boolean;
  open(): Promise<AsyncIterable<Buffer>>;
}

interface Level {
  /** Display name of the archive this level reads. */
  archive: string;
  /** For nested levels: path of the nested archive relative to destPrefix. */
  nestedPath?: string;
  /** Directory (relative to destPrefix) entries of this level land in. */
  baseDir: string;
  depth: number;
}

type Verdict =
  | { kind: 'directory' }
  | { kind: 'skip'; reason: string }
  | { kind: 'file'; path: string }
  | { kind: 'nested'; path: string };

// ---------------------------------------------------------------------------------------------------
// Names

/**
 * Normalises an entry name to a safe relative path, or says why it is refused. Refuses rather than
 * repairs: an archive that tries `..`, absolute or drive paths is reported, never "fixed".
 */
export function checkEntryPath(name: string): { path: string } | { reason: string } {
  if (name === '') return { reason: 'empty name' };
  if (name.includes('\0')) return { reason: 'NUL byte in name' };
  if (name.includes('\\')) return { reason: 'backslash in name (a path separator on Windows)' };
  if (/^[a-zA-Z]:/.test(name)) return { reason: 'Windows drive path (escapes the root)' };
  if (name.startsWith('/')) return { reason: 'absolute path (escapes the root)' };
  if (/[\u0000-\u001f\u007f]/.test(name)) return { reason: 'control character in name' };
  const segs: string[] = [];
  let depth = 0;
  let dotdot = false;
  for (const seg of name.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      dotdot = true;
      depth--;
      if (depth < 0) return { reason: "'..' in path escapes the root" };
      continue;
    }
    depth++;
    segs.push(seg);
  }
  if (dotdot) return { reason: "'..' segment in path" };
  if (segs.length === 0) return { reason: 'empty name' };
  if (segs.some((s) => Buffer.byteLength(s) > MAX_SEGMENT_BYTES))
    return { reason: `path segment longer than ${MAX_SEGMENT_BYTES} bytes` };
  return { path: segs.join('/') };
}

export function isMacResourceFork(path: string): boolean {
  return path.split('/').some((s) => s.startsWith('._') || s === '__MACOSX');
}

/** Whether a link target leaves the archive root (hardlink targets are relative to the root, symlinks to their directory). */
function linkEscapes(entryPath: string, target: string, hard: boolean): boolean {
  if (target.startsWith('/') || target.includes('\\') || /^[a-zA-Z]:/.test(target)) return true;
  const segs = hard ? [] : entryPath.split('/').slice(0, -1);
  for (const seg of target.split('/')) {
    if (seg === '..') {
      if (segs.length === 0) return true;
      segs.pop();
    } else if (seg !== '' && seg !== '.') segs.push(seg);
  }
  return false;
}

// ---------------------------------------------------------------------------------------------------
// Type detection

function typeFromName(name: string): ArchiveType | null {
  const n = name.toLowerCase();
  if (n.endsWith('.tar.gz') || n.endsWith('.tgz')) return 'tar.gz';
  if (n.endsWith('.tar')) return 'tar';
  if (n.endsWith('.zip')) return 'zip';
  return null;
}

function tarChecksumOk(head: Buffer): boolean {
  if (head.length < 512) return false;
  const field = head
    .subarray(148, 156)
    .toString('latin1')
    .replace(/[\0 ]+$/g, '')
    .trim();
  if (!/^[0-7]+$/.test(field)) return false;
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : head[i];
  return sum === parseInt(field, 8);
}

function sniff(head: Buffer): ArchiveType | { unsupported: string } | null {
  const starts = (...bytes: number[]): boolean => bytes.every((b, i) => head[i] === b);
  if (starts(0x1f, 0x8b)) return 'tar.gz';
  if (starts(0x50, 0x4b, 0x03, 0x04) || starts(0x50, 0x4b, 0x05, 0x06) || starts(0x50, 0x4b, 0x07, 0x08)) return 'zip';
  if (head.length >= 262 && head.subarray(257, 262).toString('latin1') === 'ustar') return 'tar';
  if (starts(0x42, 0x5a, 0x68)) return { unsupported: 'bzip2' };
  if (starts(0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00)) return { unsupported: 'xz' };
  if (starts(0x28, 0xb5, 0x2f, 0xfd)) return { unsupported: 'zstd' };
  if (starts(0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c)) return { unsupported: '7-Zip' };
  if (starts(0x52, 0x61, 0x72, 0x21, 0x1a, 0x07)) return { unsupported: 'RAR' };
  if (tarChecksumOk(head)) return 'tar';
  return null;
}

/**
 * The content's signature decides when it is unambiguous (a `.tar.gz` some client already gunzipped
 * is still read right); the name decides only for signature-less old tars.
 */
export function detectArchiveType(name: string, head: Buffer): ArchiveType {
  const supported = 'supported: .tar, .tar.gz/.tgz, .zip';
  if (head.length === 0) throw new MerError(ErrorTypes.ArchiveCorrupt, `archive ${name} is empty`, { archive: name });
  const byContent = sniff(head);
  if (byContent && typeof byContent === 'object') {
    throw new MerError(
      ErrorTypes.ArchiveUnsupported,
      `archive ${name} is ${byContent.unsupported}-compressed, which is not supported (${supported})`,
      {
        archive: name,
      },
    );
  }
  if (byContent) return byContent;
  const byName = typeFromName(name);
  if (byName === 'tar.gz')
    throw new MerError(ErrorTypes.ArchiveCorrupt, `archive ${name} does not start with a gzip header`, {
      archive: name,
    });
  if (byName === 'zip')
    throw new MerError(ErrorTypes.ArchiveCorrupt, `archive ${name} does not start with a zip header`, {
      archive: name,
    });
  if (byName === 'tar')
    throw new MerError(ErrorTypes.ArchiveCorrupt, `archive ${name} does not start with a valid tar header`, {
      archive: name,
    });
  throw new MerError(
    ErrorTypes.ArchiveUnsupported,
    `cannot tell what kind of archive ${name} is, by name or content (${supported})`,
    { archive: name },
  );
}

/** Reads the first n bytes and hands back a stream of everything, those bytes included. */
async function peek(
  source: AsyncIterable<Buffer>,
  n: number,
): Promise<{ head: Buffer; all: AsyncIterable<Buffer>; close: () => Promise<void> }> {
  const it = source[Symbol.asyncIterator]();
  const chunks: Buffer[] = [];
  let len = 0;
  let ended = false;
  while (len < n) {
    const r = await it.next();
    if (r.done) {
      ended = true;
      break;
    }
    chunks.push(r.value);
    len += r.value.length;
  }
  const first = Buffer.concat(chunks);
  const rest: AsyncIterable<Buffer> = { [Symbol.asyncIterator]: () => it };
  async function* all(): AsyncGenerator<Buffer> {
    if (first.length) yield first;
    if (!ended) yield* rest;
  }
  return {
    head: first.subarray(0, n),
    all: all(),
    close: async () => {
      if (!ended) await it.return?.();
    },
  };
}

// ---------------------------------------------------------------------------------------------------
// CRC-32 (zlib.crc32 arrived in Node 20.15; the engines range starts earlier)

type Crc32 = (data: Uint8Array, value?: number) => number;
const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[i] = c >>> 0;
  }
  return t;
})();
const crc32: Crc32 =
  typeof (zlib as { crc32?: Crc32 }).crc32 === 'function'
    ? ((zlib as { crc32?: Crc32 }).crc32 as Crc32)
    : (data, value = 0) => {
        let c = (value ^ 0xffffffff) >>> 0;
        for (let i = 0; i < data.length; i++) c = CRC_TABLE[(c ^ data[i]) & 0xff] ^ (c >>> 8);
        return (c ^ 0xffffffff) >>> 0;
      };

// ---------------------------------------------------------------------------------------------------
// zip plumbing

/** yauzl exports this but its type declarations do not. */
const getZipFileName = (
  yauzl as unknown as {
    getFileNameLowLevel(
      flags: number,
      raw: Buffer,
      extraFields: Array<{ id: number; data: Buffer }>,
      strict: boolean,
    ): string;
  }
).getFileNameLowLevel;

const S_IFMT = 0o170000;
const S_IFLNK = 0o120000;
const S_IFDIR = 0o040000;
const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;
const S_IFIFO = 0o010000;

function openZip(path: string): Promise<yauzl.ZipFile> {
  return new Promise((resolve, reject) => {
    // Names are decoded here, not by yauzl: with decoding on, yauzl rejects the whole archive at the
    // first `../` name, whereas one bad entry should be skipped and reported.
    yauzl.open(
      path,
      { lazyEntries: true, autoClose: false, decodeStrings: false, validateEntrySizes: true },
      (err, zip) => (err ? reject(err) : resolve(zip)),
    );
  });
}

function nextZipEntry(zip: yauzl.ZipFile): Promise<yauzl.Entry | null> {
  return new Promise((resolve, reject) => {
    const cleanup = (): void => {
      zip.off('entry', onEntry);
      zip.off('end', onEnd);
      zip.off('error', onError);
    };
    const onEntry = (e: yauzl.Entry): void => {
      cleanup();
      resolve(e);
    };
    const onEnd = (): void => {
      cleanup();
      resolve(null);
    };
    const onError = (err: Error): void => {
      cleanup();
      reject(err);
    };
    zip.on('entry', onEntry);
    zip.on('end', onEnd);
    zip.on('error', onError);
    zip.readEntry();
  });
}

// ---------------------------------------------------------------------------------------------------

function fmtBytes(n: number): string {
  return n >= 1024 ** 3 ? `${n} bytes (${(n / 1024 ** 3).toFixed(1)} GiB)` : `${n} bytes`;
}

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new Error('extraction aborted');
}

function isZlibError(err: unknown): boolean {
  const e = err as { code?: unknown; errno?: unknown } | null;
  return typeof e?.code === 'string' && e.code.startsWith('Z_') && typeof e.errno === 'number';
}

async function hashFile(path: string, signal: AbortSignal | undefined, onBytes: (n: number) => void): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1024 * 1024, signal }) as AsyncIterable<Buffer>) {
    h.update(chunk);
    onBytes(chunk.length);
  }
  return h.digest('hex');
}

class Extraction {
  private readonly store: ObjectStore;
  private readonly destPrefix: string;
  private readonly maxTotalBytes: number;
  private readonly maxEntries: number;
  private readonly maxEntryBytes: number;
  private readonly concurrency: number;
  private readonly smallEntryBytes: number;
  private readonly resumeAfter: number;
  private readonly signal?: AbortSignal;
  private readonly tmpRoot: string;

  private readonly files: Array<ExtractedFile & { ordinal: number }> = [];
  private readonly skipped: SkippedEntry[] = [];
  private readonly nestedArchives: NestedArchiveInfo[] = [];
  private readonly filePaths = new Set<string>();
  private readonly dirPaths = new Set<string>();
  private readonly tempDirs: string[] = [];
  /** Errors raised by the input itself (retryable) and by the decoders (the archive is bad). */
  private readonly inputErrors = new WeakSet<object>();
  /** The level whose decoder raised an error first: the archive to blame, however far it spread. */
  private readonly decoderErrors = new WeakMap<object, Level>();
  private readonly inflight = new Set<Promise<void>>();
  private putError: { err: unknown } | null = null;
  private existing: Map<string, number> | null = null;

  private entriesSeen = 0;
  private watermark = 0;
  private readonly doneAhead = new Set<number>();
  private expandedBytes = 0;
  private bytesIn = 0;
  private bytesOut = 0;
  /** Entry being handled at each open level, and the last one finished there, for messages. */
  private readonly entryAt = new Map<Level, string>();
  private readonly lastAt = new Map<Level, string>();
  private current: { level: Level; name: string } | null = null;
  private lastReportBytes = 0;
  private movedBytes = 0;
  private rawInput: Readable | null = null;
  private readonly outer: Level;

  constructor(private readonly opts: ExtractOptions) {
    this.store = opts.store;
    this.destPrefix = opts.destPrefix.replace(/\/+$/, '');
    this.maxTotalBytes = opts.limits?.maxTotalBytes ?? DEFAULT_MAX_TOTAL_BYTES;
    this.maxEntries = opts.limits?.maxEntries ?? DEFAULT_MAX_ENTRIES;
    this.maxEntryBytes = opts.limits?.maxEntryBytes ?? Number.POSITIVE_INFINITY;
    this.concurrency = Math.max(1, Math.floor(opts.concurrency ?? 4));
    this.smallEntryBytes = opts.smallEntryBytes ?? DEFAULT_SMALL_ENTRY_BYTES;
    this.resumeAfter = Math.max(0, Math.floor(opts.resumeAfter ?? 0));
    this.signal = opts.signal;
    this.tmpRoot = opts.tmpDir ?? tmpdir();
    this.outer = { archive: opts.archiveName, baseDir: '', depth: 0 };
  }

  async run(): Promise<ExtractResult> {
    const { input, archiveName } = this.opts;
    const outer = this.outer;
    const onAbort = (): void => {
      this.rawInput?.destroy(abortReason(this.signal as AbortSignal) as Error);
    };
    this.signal?.addEventListener('abort', onAbort);
    let sha256: string;
    let archiveType: ArchiveType;
    try {
      this.checkAbort();
      if (this.resumeAfter > 0) {
        const prefix = this.destPrefix ? `${this.destPrefix}/` : '';
        this.existing = new Map((await this.store.list(prefix)).map((o) => [o.key, o.size]));
      }
      if (input.kind === 'file') {
        const head = await this.readFileHead(input.path);
        archiveType = detectArchiveType(archiveName, head);
        if (archiveType === 'zip') {
          // Random access for the entries, one sequential read for the checksum, side by side;
          // the read stops with the extraction so a failed 10 GB zip is not read to the end.
          const stopHashing = new AbortController();
          const forward = (): void => stopHashing.abort(abortReason(this.signal as AbortSignal));
          this.signal?.addEventListener('abort', forward);
          const hashing = hashFile(input.path, stopHashing.signal, (n) => (this.bytesIn += n));
          hashing.catch(() => undefined);
          try {
            await this.processZip(input.path, outer);
            sha256 = await hashing;
          } catch (err) {
            stopHashing.abort();
            throw err;
          } finally {
            this.signal?.removeEventListener('abort', forward);
          }
        } else {
          const hash = createHash('sha256');
          this.rawInput = createReadStream(input.path, { highWaterMark: 1024 * 1024 });
          await this.processTar(Readable.from(this.hashed(this.rawInput, hash)), archiveType === 'tar.gz', outer);
          sha256 = hash.digest('hex');
        }
      } else {
        const hash = createHash('sha256');
        this.rawInput = input.stream;
        const p = await peek(this.hashed(input.stream, hash), 512);
        try {
          archiveType = detectArchiveType(archiveName, p.head);
        } catch (err) {
          await p.close();
          throw err;
        }
        await this.processSequential(p.all, archiveType, outer);
        sha256 = hash.digest('hex');
      }
      await this.settlePuts();
      if (this.putError) throw this.putError.err;
    } catch (err) {
      await this.settlePuts();
      throw this.classify(err);
    } finally {
      this.signal?.removeEventListener('abort', onAbort);
      if (input.kind === 'stream' && !input.stream.readableEnded) input.stream.destroy();
      await Promise.all(this.tempDirs.map((d) => rm(d, { recursive: true, force: true })));
    }

    if (this.opts.expectedSha256 && this.opts.expectedSha256.toLowerCase() !== sha256) {
      throw new MerError(
        ErrorTypes.ChecksumMismatch,
        `archive ${archiveName}: sha256 is ${sha256}, expected ${this.opts.expectedSha256.toLowerCase()} (download corrupted or a different file)`,
        { archive: archiveName, sha256, expected: this.opts.expectedSha256 },
      );
    }
    this.current = null;
    this.report();
    const files = this.files
      .sort((a, b) => a.ordinal - b.ordinal)
      .map(({ path, size, sha256: s }) => ({ path, size, sha256: s }));
    return {
      files,
      skipped: this.skipped,
      sha256,
      archiveType,
      bytesIn: this.bytesIn,
      bytesOut: this.bytesOut,
      entries: this.entriesSeen,
      nestedArchives: this.nestedArchives,
    };
  }

  private async readFileHead(path: string): Promise<Buffer> {
    let fh;
    try {
      const s = await stat(path);
      if (!s.isFile()) throw new MerError(ErrorTypes.SourceMissing, `archive ${path} is not a regular file`, { path });
      fh = await open(path, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT')
        throw new MerError(ErrorTypes.SourceMissing, `archive not found: ${path}`, { path });
      throw err;
    }
    try {
      const buf = Buffer.alloc(512);
      const { bytesRead } = await fh.read(buf, 0, 512, 0);
      return buf.subarray(0, bytesRead);
    } finally {
      await fh.close();
    }
  }

  private async *hashed(source: AsyncIterable<Buffer>, hash: Hash): AsyncGenerator<Buffer> {
    const it = source[Symbol.asyncIterator]();
    try {
      for (;;) {
        let r: IteratorResult<Buffer>;
        try {
          r = await it.next();
        } catch (err) {
          if (err && typeof err === 'object') this.inputErrors.add(err);
          throw err;
        }
        if (r.done) return;
        hash.update(r.value);
        this.bytesIn += r.value.length;
        yield r.value;
      }
    } finally {
      await it.return?.();
    }
  }

  /** A tar(.gz) read as it streams, or a zip spooled to a temp file first. */
  private async processSequential(source: AsyncIterable<Buffer>, type: ArchiveType, level: Level): Promise<void> {
    if (type !== 'zip') {
      await this.processTar(Readable.from(source), type === 'tar.gz', level);
      return;
    }
    const dir = await mkdtemp(join(this.tmpRoot, 'mer-extract-'));
    this.tempDirs.push(dir);
    const path = join(dir, 'spooled.zip');
    await pipeline(Readable.from(source), createWriteStream(path));
    try {
      await this.processZip(path, level);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  private async processTar(source: Readable, gzipped: boolean, level: Level): Promise<void> {
    // Old (pre-POSIX) tars have no magic; the header checksum still guards against garbage.
    const extract = tar.extract({ allowUnknownFormat: true } as Parameters<typeof tar.extract>[0]);
    const tag = (err: unknown): void => this.tagDecoderError(err, level);
    extract.on('error', tag);
    let piped: Promise<void>;
    if (gzipped) {
      const gunzip = zlib.createGunzip();
      gunzip.on('error', tag);
      piped = pipeline(source, gunzip, extract);
    } else {
      piped = pipeline(source, extract);
    }
    let pipeErr: { err: unknown } | null = null;
    const settled = piped.then(
      () => undefined,
      (err: unknown) => {
        pipeErr = { err };
      },
    );
    try {
      for await (const entry of extract) {
        const h = entry.header;
        const kind: EntryKind =
          h.type === 'file' || h.type === 'contiguous-file'
            ? 'file'
            : h.type === 'link'
              ? 'hardlink'
              : h.type === 'symlink' ||
                  h.type === 'directory' ||
                  h.type === 'character-device' ||
                  h.type === 'block-device' ||
                  h.type === 'fifo'
                ? h.type
                : 'other';
        await this.handleEntry(
          {
            name: h.name,
            kind,
            label: h.type ?? 'unknown type',
            size: h.size ?? 0,
            linkname: h.linkname ?? null,
            sequential: true,
            open: async () => entry as AsyncIterable<Buffer>,
          },
          level,
        );
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

  private async processZip(path: string, level: Level): Promise<void> {
    let zip: yauzl.ZipFile;
    try {
      zip = await openZip(path);
    } catch (err) {
      throw this.corrupt(level, null, err);
    }
    const tag = (err: unknown): void => this.tagDecoderError(err, level);
    zip.on('error', tag);
    try {
      if (this.entriesSeen + zip.entryCount > this.maxEntries)
        this.tooManyEntries(level, this.entriesSeen + zip.entryCount);
      for (;;) {
        this.checkAbort();
        const e = await nextZipEntry(zip);
        if (!e) break;
        await this.handleEntry(this.zipEntry(zip, e, tag), level);
      }
    } finally {
      zip.close();
    }
  }

  private zipEntry(zip: yauzl.ZipFile, e: yauzl.Entry, tag: (err: unknown) => void): RawEntry {
    // Backslashes become separators (old Windows zippers), so `..\evil` is caught as `../evil`.
    const name = getZipFileName(e.generalPurposeBitFlag, e.fileName as unknown as Buffer, e.extraFields, false);
    const madeBy = e.versionMadeBy >> 8;
    const mode = madeBy === 3 || madeBy === 19 ? (e.externalFileAttributes >>> 16) & S_IFMT : 0;
    let kind: EntryKind = 'file';
    let label = 'file';
    if (name.endsWith('/') || mode === S_IFDIR) [kind, label] = ['directory', 'directory'];
    else if (mode === S_IFLNK) [kind, label] = ['symlink', 'symlink'];
    else if (mode === S_IFCHR) [kind, label] = ['character-device', 'character-device'];
    else if (mode === S_IFBLK) [kind, label] = ['block-device', 'block-device'];
    else if (mode === S_IFIFO) [kind, label] = ['fifo', 'fifo'];
    let unreadable: string | undefined;
    if (e.isEncrypted()) unreadable = 'encrypted entry';
    else if (e.compressionMethod !== 0 && e.compressionMethod !== 8)
      unreadable = `unsupported zip compression method ${e.compressionMethod}`;
    return {
      name,
      kind,
      label,
      size: e.uncompressedSize,
      linkname: null,
      unreadable,
      crc32: e.crc32,
      sequential: false,
      open: () =>
        new Promise<AsyncIterable<Buffer>>((resolve, reject) => {
          zip.openReadStream(e, (err, stream) => {
            if (err) {
              tag(err);
              reject(err);
              return;
            }
            stream.on('error', tag);
            resolve(stream as AsyncIterable<Buffer>);
          });
        }),
    };
  }

  private async handleEntry(raw: RawEntry, level: Level): Promise<void> {
    this.checkAbort();
    if (this.putError) throw this.putError.err;
    const ordinal = ++this.entriesSeen;
    if (this.entriesSeen > this.maxEntries) this.tooManyEntries(level, this.entriesSeen);
    const here = { level, name: raw.name };
    this.current = here;
    this.entryAt.set(level, raw.name);
    const verdict = await this.judge(raw, level);
    switch (verdict.kind) {
      case 'directory':
        await this.discard(raw, level);
        this.markDone(ordinal);
        break;
      case 'skip':
        this.skipped.push({
          entry: raw.name,
          reason: verdict.reason,
          ...(level.nestedPath ? { archive: level.nestedPath } : {}),
        });
        // Skipped tar data still has to be read past; a skipped zip entry costs nothing.
        if (raw.sequential) this.countBytes(raw, level);
        await this.discard(raw, level);
        this.markDone(ordinal);
        break;
      case 'nested':
        // Nothing of its own is stored, so it is done at once; its entries follow it in order.
        this.markDone(ordinal);
        await this.expandNested(raw, verdict.path, level);
        break;
      case 'file':
        this.countBytes(raw, level);
        await this.storeFile(raw, verdict.path, level, ordinal);
        break;
    }
    this.entryAt.delete(level);
    this.lastAt.set(level, raw.name);
    if (this.current === here) this.current = null;
  }

  private async judge(raw: RawEntry, level: Level): Promise<Verdict> {
    if (raw.kind === 'directory') return { kind: 'directory' };
    const checked = checkEntryPath(raw.name);
    if ('reason' in checked) return { kind: 'skip', reason: checked.reason };
    const path = level.baseDir ? `${level.baseDir}/${checked.path}` : checked.path;
    if (isMacResourceFork(checked.path)) return { kind: 'skip', reason: 'macOS resource fork' };
    if (raw.kind === 'symlink' || raw.kind === 'hardlink') {
      let target = raw.linkname ?? '';
      // zip keeps a symlink's target as its data; tar has it in the header.
      if (raw.kind === 'symlink' && !raw.sequential && !raw.unreadable && raw.size <= MAX_SYMLINK_TARGET_BYTES) {
        target = (await this.readSmall(raw, level)).toString('utf8');
      }
      const what = raw.kind === 'symlink' ? 'symlink' : 'hardlink';
      const escapes = linkEscapes(checked.path, target, raw.kind === 'hardlink');
      return {
        kind: 'skip',
        reason: `${what} to ${JSON.stringify(target)}: ${escapes ? 'escapes the root' : 'object stores have no links'}; not extracted`,
      };
    }
    if (raw.kind === 'character-device' || raw.kind === 'block-device' || raw.kind === 'fifo') {
      return { kind: 'skip', reason: `${raw.kind.replace('-', ' ')} entry (not a regular file)` };
    }
    if (raw.kind === 'other') return { kind: 'skip', reason: `unsupported entry type (${raw.label})` };
    if (raw.unreadable) return { kind: 'skip', reason: raw.unreadable };
    const key = joinKey(this.destPrefix, path);
    if (Buffer.byteLength(key) > MAX_KEY_BYTES)
      return { kind: 'skip', reason: `store key longer than ${MAX_KEY_BYTES} bytes` };
    try {
      assertValidKey(key);
    } catch {
      return { kind: 'skip', reason: 'name not valid as a store key' };
    }
    if (this.filePaths.has(path)) return { kind: 'skip', reason: 'duplicate path (the first copy was kept)' };
    if (this.dirPaths.has(path)) return { kind: 'skip', reason: 'path is a directory of earlier entries' };
    const segs = path.split('/');
    for (let i = 1; i < segs.length; i++) {
      const dir = segs.slice(0, i).join('/');
      if (this.filePaths.has(dir)) return { kind: 'skip', reason: `path lies under the earlier file ${dir}` };
    }
    // Claimed now, in archive order, so the first copy wins however uploads interleave.
    this.filePaths.add(path);
    for (let i = 1; i < segs.length; i++) this.dirPaths.add(segs.slice(0, i).join('/'));
    if (this.opts.nested?.(path) && level.depth < MAX_NESTING_DEPTH) return { kind: 'nested', path };
    return { kind: 'file', path };
  }

  private countBytes(raw: RawEntry, level: Level): void {
    if (raw.size > this.maxEntryBytes) {
      throw new MerError(
        ErrorTypes.ArchiveTooLarge,
        `archive ${this.where(level)}: entry ${raw.name} is ${raw.size} bytes, over the per-entry limit of ${fmtBytes(this.maxEntryBytes)} (maxEntryBytes)`,
        { archive: this.opts.archiveName, entry: raw.name, limit: this.maxEntryBytes, size: raw.size },
      );
    }
    this.expandedBytes += raw.size;
    if (this.expandedBytes > this.maxTotalBytes) {
      throw new MerError(
        ErrorTypes.ArchiveTooLarge,
        `archive ${this.where(level)} expands to more than the limit of ${fmtBytes(this.maxTotalBytes)} (maxTotalBytes); stopped at entry ${raw.name}`,
        { archive: this.opts.archiveName, entry: raw.name, limit: this.maxTotalBytes },
      );
    }
  }

  private tooManyEntries(level: Level, count: number): never {
    throw new MerError(
      ErrorTypes.ArchiveTooLarge,
      `archive ${this.where(level)} has more than the limit of ${this.maxEntries} entries (maxEntries; at least ${count})`,
      { archive: this.opts.archiveName, limit: this.maxEntries },
    );
  }

  private where(level: Level): string {
    return level.nestedPath ? `${this.opts.archiveName} (nested archive ${level.nestedPath})` : this.opts.archiveName;
  }

  private async storeFile(raw: RawEntry, path: string, level: Level, ordinal: number): Promise<void> {
    const key = joinKey(this.destPrefix, path);
    if (ordinal <= this.resumeAfter && this.existing?.get(key) === raw.size) {
      // Stored by the previous attempt: read through for the file's checksum, upload nothing.
      const hash = createHash('sha256');
      for await (const chunk of this.meter(await raw.open(), raw, level, hash)) void chunk;
      this.addFile(ordinal, path, raw.size, hash.digest('hex'));
      return;
    }
    if (raw.size <= this.smallEntryBytes) {
      await this.slot();
      const buf = await this.readSmall(raw, level);
      this.launch(async () => {
        const r = await this.store.put(key, buf);
        if (r.size !== raw.size) throw new Error(`store wrote ${r.size} bytes for ${key}, expected ${raw.size}`);
        this.addFile(ordinal, path, r.size, r.sha256);
      });
      return;
    }
    const r = await this.store.put(key, Readable.from(this.meter(await raw.open(), raw, level)));
    if (r.size !== raw.size) throw new Error(`store wrote ${r.size} bytes for ${key}, expected ${raw.size}`);
    this.addFile(ordinal, path, r.size, r.sha256);
  }

  private addFile(ordinal: number, path: string, size: number, sha256: string): void {
    this.files.push({ ordinal, path, size, sha256 });
    this.bytesOut += size;
    this.markDone(ordinal);
  }

  private async expandNested(raw: RawEntry, path: string, level: Level): Promise<void> {
    const slash = path.lastIndexOf('/');
    const inner: Level = {
      archive: path,
      nestedPath: path,
      baseDir: slash >= 0 ? path.slice(0, slash) : '',
      depth: level.depth + 1,
    };
    const hash = createHash('sha256');
    let size = 0;
    const data = this.meter(await raw.open(), raw, level);
    async function* counted(): AsyncGenerator<Buffer> {
      for await (const chunk of data) {
        hash.update(chunk);
        size += chunk.length;
        yield chunk;
      }
    }
    const before = this.entriesSeen;
    const p = await peek(counted(), 512);
    let type: ArchiveType;
    try {
      type = detectArchiveType(`${this.opts.archiveName} > ${path}`, p.head);
    } catch (err) {
      await p.close();
      throw err;
    }
    // Listed when met, so the list follows archive order even when nested archives nest.
    const info: NestedArchiveInfo = { path, type, size: 0, sha256: '', entries: 0 };
    this.nestedArchives.push(info);
    await this.processSequential(p.all, type, inner);
    info.size = size;
    info.sha256 = hash.digest('hex');
    info.entries = this.entriesSeen - before;
  }

  /** Reads an entry whole (it is small: bounded by smallEntryBytes or the symlink cap). */
  private async readSmall(raw: RawEntry, level: Level): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const chunk of this.meter(await raw.open(), raw, level)) chunks.push(chunk);
    return Buffer.concat(chunks);
  }

  private async discard(raw: RawEntry, level: Level): Promise<void> {
    if (!raw.sequential) return;
    for await (const chunk of this.meter(await raw.open(), raw, level)) void chunk;
  }

  /** Passes an entry's bytes through, checking them against the header (size, zip CRC) and reporting progress. */
  private async *meter(data: AsyncIterable<Buffer>, raw: RawEntry, level: Level, hash?: Hash): AsyncGenerator<Buffer> {
    let n = 0;
    let crc = 0;
    const checkCrc = raw.crc32 !== undefined;
    for await (const chunk of data) {
      this.checkAbort();
      n += chunk.length;
      if (n > raw.size)
        throw this.corrupt(
          level,
          raw.name,
          new Error(`entry holds more than the ${raw.size} bytes its header declares`),
        );
      if (checkCrc) crc = crc32(chunk, crc);
      hash?.update(chunk);
      this.movedBytes += chunk.length;
      if (this.movedBytes - this.lastReportBytes >= PROGRESS_EVERY_BYTES) this.report();
      yield chunk;
    }
    if (n !== raw.size)
      throw this.corrupt(
        level,
        raw.name,
        new Error(`entry ended after ${n} of the ${raw.size} bytes its header declares`),
      );
    if (checkCrc && crc !== raw.crc32)
      throw this.corrupt(level, raw.name, new Error('CRC-32 of the data does not match the zip directory'));
  }

  private async slot(): Promise<void> {
    while (this.inflight.size >= this.concurrency) await Promise.race(this.inflight);
    if (this.putError) throw this.putError.err;
  }

  private launch(fn: () => Promise<void>): void {
    const p: Promise<void> = fn()
      .catch((err: unknown) => {
        this.putError ??= { err };
      })
      .finally(() => this.inflight.delete(p));
    this.inflight.add(p);
  }

  private async settlePuts(): Promise<void> {
    while (this.inflight.size) await Promise.all(this.inflight);
  }

  private markDone(ordinal: number): void {
    if (ordinal === this.watermark + 1) {
      this.watermark++;
      while (this.doneAhead.delete(this.watermark + 1)) this.watermark++;
    } else {
      this.doneAhead.add(ordinal);
    }
    this.report();
  }

  private report(): void {
    this.lastReportBytes = this.movedBytes;
    const c = this.current;
    this.opts.onProgress?.({
      entriesDone: this.watermark,
      bytesIn: this.bytesIn,
      bytesOut: this.bytesOut,
      currentEntry: c ? (c.level.nestedPath ? `${c.level.nestedPath} > ${c.name}` : c.name) : null,
    });
  }

  private checkAbort(): void {
    if (this.signal?.aborted) throw abortReason(this.signal);
  }

  private tagDecoderError(err: unknown, level: Level): void {
    if (err && typeof err === 'object' && !this.decoderErrors.has(err)) this.decoderErrors.set(err, level);
  }

  private corrupt(level: Level, entry: string | null, err: unknown): MerError {
    const detail = err instanceof Error ? err.message : String(err);
    const last = this.lastAt.get(level);
    let where: string;
    if (entry !== null) where = `in entry ${entry}`;
    else if (last !== undefined) where = `after entry ${last}`;
    else where = 'before its first entry';
    return new MerError(
      ErrorTypes.ArchiveCorrupt,
      `archive ${this.where(level)} is corrupt or truncated ${where}: ${detail}`,
      {
        archive: this.opts.archiveName,
        ...(level.nestedPath ? { nestedArchive: level.nestedPath } : {}),
        entry,
      },
    );
  }

  /** Sorts a failure into: cancelled, already typed, the input's own (retryable), or a bad archive. */
  private classify(err: unknown): unknown {
    if (this.signal?.aborted) return abortReason(this.signal);
    if (err instanceof MerError) return err;
    if (err && typeof err === 'object' && this.inputErrors.has(err)) return err;
    const level = err && typeof err === 'object' ? this.decoderErrors.get(err) : undefined;
    if (level) return this.corrupt(level, this.entryAt.get(level) ?? null, err);
    if (isZlibError(err)) {
      const at = this.current?.level ?? this.outer;
      return this.corrupt(at, this.entryAt.get(at) ?? null, err);
    }
    return err;
  }
}

/**
 * Extracts a .tar, .tar.gz/.tgz or .zip into the store under destPrefix, streaming (flat memory for
 * tar; a zip given as a stream is spooled to tmpDir), hashing the input in the same pass. Unsafe or
 * unstorable entries are skipped and listed with a reason; a bad archive throws ArchiveCorrupt, an
 * oversized one ArchiveTooLarge, a checksum mismatch ChecksumMismatch (after the pass).
 */
export async function extractToStore(opts: ExtractOptions): Promise<ExtractResult> {
  return new Extraction(opts).run();
}
