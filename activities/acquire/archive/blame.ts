import { ErrorTypes, MerError } from '../../common/errors.ts';
import type { Level } from './types.ts';

/**
 * Which archive and entry a failure is blamed on. A decoder error can surface far from where it arose
 * (a gunzip error rejects every stream piped from it), so errors are tagged where they are raised and
 * sorted at the end: cancelled, already typed, the input's own (retryable), or a bad archive.
 */

export function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new Error('extraction aborted');
}

function isZlibError(err: unknown): boolean {
  const e = err as { code?: unknown; errno?: unknown } | null;
  return typeof e?.code === 'string' && e.code.startsWith('Z_') && typeof e.errno === 'number';
}

/** zlib's words for a broken gzip stream, said as what they mean for the file (zlib's own words kept). */
function gzipDetail(message: string): string {
  if (message === 'incorrect data check')
    return 'gzip CRC-32 check at the end of the compressed data failed (incorrect data check): the file is damaged';
  if (message === 'incorrect length check')
    return 'gzip length check at the end of the compressed data failed (incorrect length check): the file is damaged';
  if (message === 'unexpected end of file')
    return 'the gzip data ends early (unexpected end of file): the file is cut short';
  return `gzip: ${message}`;
}

/** The entry being handled at one level, as `enter` hands it out and `leave` takes it back. */
export interface Position {
  level: Level;
  name: string;
}

export class Blame {
  /** Errors raised by the input itself (retryable) and by the decoders (the archive is bad). */
  private readonly inputErrors = new WeakSet<object>();
  /** The level whose decoder raised an error first: the archive to blame, however far it spread. */
  private readonly decoderErrors = new WeakMap<object, Level>();
  /** Entry being handled at each open level, and the last one finished there, for messages. */
  private readonly entryAt = new Map<Level, string>();
  private readonly lastAt = new Map<Level, string>();
  private current: Position | null = null;

  constructor(
    private readonly archiveName: string,
    private readonly outer: Level,
    private readonly signal?: AbortSignal,
  ) {}

  /** How messages name the archive a level reads. */
  where(level: Level): string {
    return level.nestedPath ? `${this.archiveName} (nested archive ${level.nestedPath})` : this.archiveName;
  }

  enter(level: Level, name: string): Position {
    const here = { level, name };
    this.current = here;
    this.entryAt.set(level, name);
    return here;
  }

  /** Only for an entry handled to the end: a failed one stays "current", so the error names it. */
  leave(here: Position): void {
    this.entryAt.delete(here.level);
    this.lastAt.set(here.level, here.name);
    if (this.current === here) this.current = null;
  }

  clearCurrent(): void {
    this.current = null;
  }

  /** The entry being handled, as progress shows it (`nested.tar.gz > inner/name` inside a nested archive). */
  currentEntry(): string | null {
    const c = this.current;
    return c ? (c.level.nestedPath ? `${c.level.nestedPath} > ${c.name}` : c.name) : null;
  }

  markInputError(err: unknown): void {
    if (err && typeof err === 'object') this.inputErrors.add(err);
  }

  tagDecoderError(err: unknown, level: Level): void {
    if (err && typeof err === 'object' && !this.decoderErrors.has(err)) this.decoderErrors.set(err, level);
  }

  /** `whole`: the failure is about the archive as a whole (a zip's directory), not a place in it. */
  corrupt(level: Level, entry: string | null, err: unknown, whole?: string): MerError {
    const detail = isZlibError(err)
      ? gzipDetail((err as Error).message)
      : err instanceof Error
        ? err.message
        : String(err);
    const last = this.lastAt.get(level);
    let where: string;
    if (whole !== undefined) where = whole;
    else if (entry !== null) where = `in entry ${entry}`;
    else if (last !== undefined) where = `after entry ${last}`;
    else where = 'before its first entry';
    return new MerError(
      ErrorTypes.ArchiveCorrupt,
      `archive ${this.where(level)} is corrupt or truncated ${where}: ${detail}`,
      {
        archive: this.archiveName,
        ...(level.nestedPath ? { nestedArchive: level.nestedPath } : {}),
        entry,
      },
    );
  }

  /** Sorts a failure into: cancelled, already typed, the input's own (retryable), or a bad archive. */
  classify(err: unknown): unknown {
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
