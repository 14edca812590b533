import type { UnpackProgress } from './types.ts';

/** Progress of an unpacking, and the resume point a retry may trust. */

const PROGRESS_EVERY_BYTES = 16 * 1024 * 1024;

export class ProgressReport {
  bytesIn = 0;
  bytesOut = 0;
  /** Entries done with none before them still in flight: uploads finish out of order. */
  private watermark = 0;
  private readonly doneAhead = new Set<number>();
  private movedBytes = 0;
  private lastReportBytes = 0;

  constructor(
    private readonly onProgress: ((p: UnpackProgress) => void) | undefined,
    private readonly currentEntry: () => string | null,
  ) {}

  markDone(ordinal: number): void {
    if (ordinal === this.watermark + 1) {
      this.watermark++;
      while (this.doneAhead.delete(this.watermark + 1)) this.watermark++;
    } else {
      this.doneAhead.add(ordinal);
    }
    this.report();
  }

  /** Entry bytes read (stored, skipped or hashed): a report every 16 MiB keeps big entries heartbeating. */
  moved(bytes: number): void {
    this.movedBytes += bytes;
    if (this.movedBytes - this.lastReportBytes >= PROGRESS_EVERY_BYTES) this.report();
  }

  report(): void {
    this.lastReportBytes = this.movedBytes;
    this.onProgress?.({
      entriesDone: this.watermark,
      bytesIn: this.bytesIn,
      bytesOut: this.bytesOut,
      currentEntry: this.currentEntry(),
    });
  }
}
