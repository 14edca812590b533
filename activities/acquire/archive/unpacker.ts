import { createHash, type Hash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { listingPrefix } from '../../../schemas/layout.ts';
import { ErrorTypes, MerError } from '../../common/errors.ts';
import { joinKey, type ObjectStore } from '../../store/types.ts';
import { Blame, abortReason } from './blame.ts';
import { detectArchiveType, detectStream, readFileHead } from './detect.ts';
import { ExpansionBudget, PathClaims, checkEntryPath, judgeEntry, type Verdict } from './entry-safety.ts';
import { hashFile, hashedInput } from './hashing.ts';
import { ProgressReport } from './progress.ts';
import { readTar } from './tar.ts';
import type {
  ArchiveType,
  EntrySink,
  Level,
  NestedArchiveInfo,
  PathClaimer,
  RawEntry,
  SkippedEntry,
  UnpackOptions,
  UnpackResult,
  UnpackedFile,
} from './types.ts';
import { UploadPool } from './uploads.ts';
import { crc32, readZip } from './zip.ts';

const DEFAULT_SMALL_ENTRY_BYTES = 8 * 1024 * 1024;

/** One unpacking: reads the input once, judges every entry, stores the accepted ones, expands nested archives. */
class Unpacker {
  private readonly store: ObjectStore;
  private readonly destPrefix: string;
  private readonly smallEntryBytes: number;
  private readonly resumeAfter: number;
  private readonly signal?: AbortSignal;
  private readonly tmpRoot: string;
  private readonly outer: Level;

  private readonly files: Array<UnpackedFile & { ordinal: number }> = [];
  private readonly skipped: SkippedEntry[] = [];
  private readonly nestedArchives: NestedArchiveInfo[] = [];
  private readonly claims: PathClaimer;
  private readonly tempDirs: string[] = [];
  private readonly uploads: UploadPool;
  private readonly blame: Blame;
  private readonly budget: ExpansionBudget;
  private readonly progress: ProgressReport;
  /** Sizes of what a previous attempt stored (resuming only). */
  private existing: Map<string, number> | null = null;
  private rawInput: Readable | null = null;

  constructor(private readonly opts: UnpackOptions) {
    this.store = opts.store;
    this.destPrefix = opts.destPrefix.replace(/\/+$/, '');
    this.smallEntryBytes = opts.smallEntryBytes ?? DEFAULT_SMALL_ENTRY_BYTES;
    this.resumeAfter = Math.max(0, Math.floor(opts.resumeAfter ?? 0));
    this.signal = opts.signal;
    this.tmpRoot = opts.tmpDir ?? tmpdir();
    this.outer = { archive: opts.archiveName, baseDir: outerBaseDir(opts.baseDir), depth: 0 };
    this.claims = opts.claims ?? new PathClaims();
    this.uploads = new UploadPool(Math.max(1, Math.floor(opts.concurrency ?? 4)));
    this.blame = new Blame(opts.archiveName, this.outer, opts.signal);
    this.budget = new ExpansionBudget(opts.limits, opts.archiveName, (level) => this.blame.where(level), opts.spent);
    this.progress = new ProgressReport(opts.onProgress, () => this.blame.currentEntry());
  }

  async run(): Promise<UnpackResult> {
    const { input } = this.opts;
    const onAbort = (): void => {
      this.rawInput?.destroy(abortReason(this.signal as AbortSignal) as Error);
    };
    this.signal?.addEventListener('abort', onAbort);
    let read: { archiveType: ArchiveType; sha256: string };
    try {
      this.checkAbort();
      if (this.resumeAfter > 0) {
        const stored = await this.store.list(listingPrefix(this.destPrefix));
        this.existing = new Map(stored.map((o) => [o.key, o.size]));
      }
      read = input.kind === 'file' ? await this.readFile(input.path) : await this.readStream(input.stream);
      await this.uploads.settle();
      this.uploads.check();
    } catch (err) {
      await this.uploads.settle();
      throw this.blame.classify(err);
    } finally {
      this.signal?.removeEventListener('abort', onAbort);
      if (input.kind === 'stream' && !input.stream.readableEnded) input.stream.destroy();
      await Promise.all(this.tempDirs.map((d) => rm(d, { recursive: true, force: true })));
    }
    this.verifyChecksum(read.sha256);
    this.blame.clearCurrent();
    this.progress.report();
    const files = this.files
      .sort((a, b) => a.ordinal - b.ordinal)
      .map(({ path, size, sha256: s }) => ({ path, size, sha256: s }));
    return {
      files,
      skipped: this.skipped,
      sha256: read.sha256,
      archiveType: read.archiveType,
      bytesIn: this.progress.bytesIn,
      bytesOut: this.progress.bytesOut,
      entries: this.budget.entries,
      expandedBytes: this.budget.expandedBytes,
      nestedArchives: this.nestedArchives,
    };
  }

  private verifyChecksum(sha256: string): void {
    const { expectedSha256, archiveName } = this.opts;
    if (expectedSha256 && expectedSha256.toLowerCase() !== sha256) {
      throw new MerError(
        ErrorTypes.ChecksumMismatch,
        `archive ${archiveName}: sha256 is ${sha256}, expected ${expectedSha256.toLowerCase()} (download corrupted or a different file)`,
        { archive: archiveName, sha256, expected: expectedSha256 },
      );
    }
  }

  // ---- the outer input ---------------------------------------------------------------------------

  private async readFile(path: string): Promise<{ archiveType: ArchiveType; sha256: string }> {
    const archiveType = detectArchiveType(this.opts.archiveName, await readFileHead(path));
    if (archiveType === 'zip') return { archiveType, sha256: await this.readZipFile(path) };
    const hash = createHash('sha256');
    this.rawInput = createReadStream(path, { highWaterMark: 1024 * 1024 });
    await this.processTar(this.hashed(this.rawInput, hash), archiveType === 'tar.gz', this.outer);
    return { archiveType, sha256: hash.digest('hex') };
  }

  /**
   * Random access for the entries, one sequential read for the checksum, side by side; the read stops
   * with the unpacking so a failed 10 GB zip is not read to the end.
   */
  private async readZipFile(path: string): Promise<string> {
    const stopHashing = new AbortController();
    const forward = (): void => stopHashing.abort(abortReason(this.signal as AbortSignal));
    this.signal?.addEventListener('abort', forward);
    const hashing = hashFile(path, stopHashing.signal, (n) => (this.progress.bytesIn += n));
    hashing.catch(() => undefined);
    try {
      await this.processZip(path, this.outer);
      return await hashing;
    } catch (err) {
      stopHashing.abort();
      throw err;
    } finally {
      this.signal?.removeEventListener('abort', forward);
    }
  }

  private async readStream(stream: Readable): Promise<{ archiveType: ArchiveType; sha256: string }> {
    const hash = createHash('sha256');
    this.rawInput = stream;
    const { type, all } = await detectStream(this.opts.archiveName, this.hashed(stream, hash));
    await this.processSequential(all, type, this.outer);
    return { archiveType: type, sha256: hash.digest('hex') };
  }

  private hashed(source: AsyncIterable<Buffer>, hash: Hash): AsyncGenerator<Buffer> {
    return hashedInput(
      source,
      hash,
      (n) => (this.progress.bytesIn += n),
      (err) => this.blame.markInputError(err),
    );
  }

  // ---- formats -----------------------------------------------------------------------------------

  /** A tar(.gz) read as it streams, or a zip spooled to a temp file first. */
  private async processSequential(source: AsyncIterable<Buffer>, type: ArchiveType, level: Level): Promise<void> {
    if (type !== 'zip') {
      await this.processTar(source, type === 'tar.gz', level);
      return;
    }
    const dir = await mkdtemp(join(this.tmpRoot, 'mer-unpack-'));
    this.tempDirs.push(dir);
    const path = join(dir, 'spooled.zip');
    await pipeline(Readable.from(source), createWriteStream(path));
    try {
      await this.processZip(path, level);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  private sink(level: Level): EntrySink {
    return {
      tag: (err) => this.blame.tagDecoderError(err, level),
      checkAbort: () => this.checkAbort(),
      entry: (raw) => this.handleEntry(raw, level),
      readPast: (bytes) => {
        this.budget.countPast(bytes, level);
        this.progress.moved(bytes);
      },
      ignored: (entry, reason) =>
        this.skipped.push({ entry, reason, ...(level.nestedPath ? { archive: level.nestedPath } : {}) }),
    };
  }

  private processTar(source: AsyncIterable<Buffer>, gzipped: boolean, level: Level): Promise<void> {
    return readTar(source, gzipped, this.sink(level));
  }

  private processZip(path: string, level: Level): Promise<void> {
    return readZip(path, {
      ...this.sink(level),
      corrupt: (err) => this.blame.corrupt(level, null, err, 'in its central directory'),
      reserve: (count) => this.budget.reserveEntries(level, count),
    });
  }

  // ---- entries -----------------------------------------------------------------------------------

  private async handleEntry(raw: RawEntry, level: Level): Promise<void> {
    this.checkAbort();
    this.uploads.check();
    const ordinal = this.budget.nextEntry(level);
    const here = this.blame.enter(level, raw.name);
    const verdict: Verdict = await judgeEntry(raw, level, {
      destPrefix: this.destPrefix,
      claims: this.claims,
      nested: this.opts.nested,
      readLinkTarget: (link) => this.readSmall(link, level),
    });
    switch (verdict.kind) {
      case 'directory':
        await this.discard(raw, level);
        this.progress.markDone(ordinal);
        break;
      case 'skip':
        this.skipped.push({
          entry: raw.name,
          reason: verdict.reason,
          ...(level.nestedPath ? { archive: level.nestedPath } : {}),
        });
        // Skipped tar data still has to be read past; a skipped zip entry costs nothing.
        if (raw.sequential) this.budget.countBytes(raw, level);
        await this.discard(raw, level);
        this.progress.markDone(ordinal);
        break;
      case 'nested':
        // Nothing of its own is stored, so it is done at once; its entries follow it in order.
        this.progress.markDone(ordinal);
        await this.expandNested(raw, verdict.path, level);
        break;
      case 'file':
        this.budget.countBytes(raw, level);
        await this.storeFile(raw, verdict.path, level, ordinal);
        break;
    }
    this.blame.leave(here);
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
      await this.uploads.slot();
      const buf = await this.readSmall(raw, level);
      this.uploads.launch(async () => {
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
    this.progress.bytesOut += size;
    this.progress.markDone(ordinal);
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
    const before = this.budget.entries;
    const { type, all } = await detectStream(`${this.opts.archiveName} > ${path}`, counted());
    // Listed when met, so the list follows archive order even when nested archives nest.
    const info: NestedArchiveInfo = { path, type, size: 0, sha256: '', entries: 0 };
    this.nestedArchives.push(info);
    await this.processSequential(all, type, inner);
    info.size = size;
    info.sha256 = hash.digest('hex');
    info.entries = this.budget.entries - before;
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
        throw this.blame.corrupt(
          level,
          raw.name,
          new Error(`entry holds more than the ${raw.size} bytes its header declares`),
        );
      if (checkCrc) crc = crc32(chunk, crc);
      hash?.update(chunk);
      this.progress.moved(chunk.length);
      yield chunk;
    }
    if (n !== raw.size)
      throw this.blame.corrupt(
        level,
        raw.name,
        new Error(`entry ended after ${n} of the ${raw.size} bytes its header declares`),
      );
    if (checkCrc && crc !== raw.crc32)
      throw this.blame.corrupt(level, raw.name, new Error('CRC-32 of the data does not match the zip directory'));
  }

  private checkAbort(): void {
    if (this.signal?.aborted) throw abortReason(this.signal);
  }
}

/** The outer archive's directory, normalised as an entry path would be ('' for none). */
function outerBaseDir(dir: string | undefined): string {
  if (!dir) return '';
  const checked = checkEntryPath(dir);
  if ('reason' in checked) throw new Error(`baseDir ${JSON.stringify(dir)}: ${checked.reason}`);
  return checked.path;
}

/**
 * Unpacks a .tar, .tar.gz/.tgz or .zip into the store under destPrefix, streaming (flat memory for
 * tar; a zip given as a stream is spooled to tmpDir), hashing the input in the same pass. Unsafe or
 * unstorable entries are skipped and listed with a reason; a bad archive throws ArchiveCorrupt, an
 * oversized one ArchiveTooLarge, a checksum mismatch ChecksumMismatch (after the pass).
 */
export async function unpackToStore(opts: UnpackOptions): Promise<UnpackResult> {
  return new Unpacker(opts).run();
}
