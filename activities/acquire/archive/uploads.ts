/** Uploads of small entries in flight while the archive is read on: bounded, and the first failure is kept. */
export class UploadPool {
  private readonly inflight = new Set<Promise<void>>();
  private failure: { err: unknown } | null = null;

  constructor(private readonly concurrency: number) {}

  /** Throws the first failed upload's error, if one failed. */
  check(): void {
    if (this.failure) throw this.failure.err;
  }

  /** Waits for room for one more upload. */
  async slot(): Promise<void> {
    while (this.inflight.size >= this.concurrency) await Promise.race(this.inflight);
    this.check();
  }

  launch(fn: () => Promise<void>): void {
    const p: Promise<void> = fn()
      .catch((err: unknown) => {
        this.failure ??= { err };
      })
      .finally(() => this.inflight.delete(p));
    this.inflight.add(p);
  }

  /** Waits for every upload to end, failed or not. */
  async settle(): Promise<void> {
    while (this.inflight.size) await Promise.all(this.inflight);
  }
}
