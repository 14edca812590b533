/**
 * Which source frame each output frame is, from ffmpeg's `showinfo` lines on stderr (one per frame,
 * with its pts in the stream's time base). Frames are matched to requests by this number, never by
 * their position in the output: a packet missing from a damaged file then costs the utterance that
 * frame (repeated from a neighbour and flagged), instead of shifting every later frame of the pass
 * onto the wrong utterance.
 */
export class ShowinfoFrames {
  private timeBase: number | null = null;
  private readonly numbers: number[] = [];
  private readonly waiting = new Map<number, (n: number | null) => void>();
  private ended = false;

  /** Frame k of the stream is the one whose timestamp is startSec + k / fps (rounded). */
  constructor(
    private readonly fps: number,
    private readonly startSec: number,
  ) {}

  /** The filter to put right after `select`: it logs the frames the pass outputs. */
  static readonly FILTER = 'showinfo=checksum=0';

  /** One stderr line; true when it was showinfo's (consumed, not part of any error text). */
  readonly line = (line: string): boolean => {
    if (!line.includes('Parsed_showinfo')) return false;
    const tb = /config in time_base:\s*(\d+)\/(\d+)/.exec(line);
    if (tb) this.timeBase = Number(tb[1]) / Number(tb[2]);
    const f = /\bn:\s*\d+\s+pts:\s*(-?\d+)/.exec(line);
    if (f && this.timeBase) {
      const i = this.numbers.length;
      const k = Math.round((Number(f[1]) * this.timeBase - this.startSec) * this.fps);
      this.numbers.push(k);
      this.waiting.get(i)?.(k);
      this.waiting.delete(i);
    }
    return true;
  };

  /** Source frame number of output frame `i`; null when ffmpeg ended without saying. */
  frame(i: number): Promise<number | null> {
    if (i < this.numbers.length) return Promise.resolve(this.numbers[i]);
    if (this.ended) return Promise.resolve(null);
    return new Promise((resolve) => this.waiting.set(i, resolve));
  }

  /** The run is over: nothing more will be logged. */
  end(): void {
    this.ended = true;
    for (const resolve of this.waiting.values()) resolve(null);
    this.waiting.clear();
  }
}
