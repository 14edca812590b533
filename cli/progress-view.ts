import type { ProgressSnapshot, StageProgress } from '../workflows/progress.ts';
import { ProgressRates, formatDuration, formatRate, rowKey, type StageRate } from './progress-rate.ts';

/** One glyph per stage status, shared by the live table and `mer status`. */
export const STATUS_ICON: Record<StageProgress['status'], string> = {
  pending: '·',
  running: '▶',
  skipped: '↺',
  done: '✔',
  failed: '✖',
  cancelled: '■',
};

function bar(done: number, total: number, width = 16): string {
  if (!total) return ' '.repeat(width);
  const n = Math.round((Math.min(done, total) / total) * width);
  return '█'.repeat(n) + '░'.repeat(width - n);
}

/** A small table of stage rows; the caller redraws it in place on a TTY. */
export function renderProgress(p: ProgressSnapshot, rates?: Map<string, StageRate>): string[] {
  return p.stages.map((s) => {
    const head = `${STATUS_ICON[s.status]} ${s.stage.padEnd(9)} ${s.dataset.padEnd(8)}`;
    const counts = s.total ? ` ${bar(s.done, s.total)} ${s.done}/${s.total}` : '';
    const r = s.status === 'running' ? rates?.get(rowKey(s)) : undefined;
    const speed = r?.itemsPerSec ? `  ${formatRate(r.itemsPerSec)}` : '';
    const eta = r && r.etaSec !== null && r.etaSec > 0 ? ` ETA ${formatDuration(r.etaSec)}` : '';
    const q = s.quarantined ? `  ${s.quarantined} quarantined` : '';
    const step = s.step && s.status === 'running' ? ` [${s.step}]` : '';
    const note = s.error ? `  ${s.error}` : s.note ? `  ${s.note}` : '';
    return `${head}${counts}${step}${speed}${eta}${q}${note}`;
  });
}

/** One machine-readable progress event (`mer run --json` writes these to stderr, one per line). */
export interface ProgressEvent {
  event: 'progress';
  time: string;
  workflowId?: string;
  status: ProgressSnapshot['status'];
  stages: Array<
    Pick<StageProgress, 'stage' | 'dataset' | 'status' | 'done' | 'total' | 'quarantined' | 'step' | 'note' | 'error'> &
      StageRate
  >;
}

export function progressEvent(
  p: ProgressSnapshot,
  rates: Map<string, StageRate>,
  atMs: number,
  workflowId?: string,
): ProgressEvent {
  return {
    event: 'progress',
    time: new Date(atMs).toISOString(),
    ...(workflowId ? { workflowId } : {}),
    status: p.status,
    stages: p.stages.map((s) => {
      const r = rates.get(rowKey(s)) ?? { itemsPerSec: null, etaSec: null };
      return {
        stage: s.stage,
        dataset: s.dataset,
        status: s.status,
        ...(s.step ? { step: s.step } : {}),
        done: s.done,
        total: s.total,
        quarantined: s.quarantined,
        itemsPerSec: r.itemsPerSec === null ? null : Number(r.itemsPerSec.toFixed(4)),
        etaSec: r.etaSec === null ? null : Math.round(r.etaSec),
        ...(s.note ? { note: s.note } : {}),
        ...(s.error ? { error: s.error } : {}),
      };
    }),
  };
}

/** What the printer writes to: a terminal stream, or anything with write() (tests, files). */
export interface ProgressOut {
  write(s: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export type ProgressMode = 'auto' | 'quiet' | 'json';

/**
 * Prints progress: redraws a table in place on a TTY, prints nothing when not a TTY (logs and CI stay
 * clean), or, in json mode, writes one NDJSON `progress` event whenever a row changes (rates and ETAs
 * alone changing do not count, so a stalled run does not flood the stream).
 */
export class ProgressPrinter {
  private lastLines: string[] = [];
  private lastJsonKey = '';
  private readonly rates: ProgressRates;
  private readonly mode: 'tty' | 'quiet' | 'json';
  /** Quiet because asked (not just because stderr is no terminal): notices are not printed either. */
  private readonly silent: boolean;

  constructor(
    private readonly out: ProgressOut = process.stderr,
    mode: ProgressMode | boolean = 'auto',
    private readonly opts: { workflowId?: string; now?: () => number; windowMs?: number } = {},
  ) {
    // A boolean is the older `quiet` flag.
    const m: ProgressMode = mode === true ? 'quiet' : mode === false ? 'auto' : mode;
    this.mode = m === 'json' ? 'json' : m === 'quiet' || !out.isTTY ? 'quiet' : 'tty';
    this.silent = m === 'quiet';
    this.rates = new ProgressRates({ windowMs: opts.windowMs });
  }

  /**
   * A line about the wait itself (no worker answers): printed even when stderr is no terminal, as an
   * NDJSON event (`event` plus `message`) in json mode. On a terminal the table is redrawn below it.
   */
  notice(event: string, message: string, extra: Record<string, unknown> = {}): void {
    if (this.silent) return;
    if (this.mode === 'json') {
      const at = (this.opts.now ?? Date.now)();
      this.out.write(
        `${JSON.stringify({ event, time: new Date(at).toISOString(), workflowId: this.opts.workflowId ?? null, message, ...extra })}\n`,
      );
      return;
    }
    this.out.write(`${message}\n`);
    this.lastLines = [];
  }

  update(p: ProgressSnapshot): void {
    const at = (this.opts.now ?? Date.now)();
    const rates = this.rates.observe(p, at);
    if (this.mode === 'quiet') return;
    if (this.mode === 'json') {
      const ev = progressEvent(p, rates, at, this.opts.workflowId);
      const key = JSON.stringify([
        ev.status,
        ev.stages.map((s) => [s.status, s.step, s.done, s.total, s.quarantined, s.note, s.error]),
      ]);
      if (key === this.lastJsonKey) return;
      this.lastJsonKey = key;
      this.out.write(`${JSON.stringify(ev)}\n`);
      return;
    }
    const lines = renderProgress(p, rates);
    if (this.lastLines.length) this.out.write(`\x1b[${this.lastLines.length}A`);
    for (const l of lines) this.out.write(`\x1b[2K${l.slice(0, (this.out.columns ?? 120) - 1)}\n`);
    this.lastLines = lines;
  }
}
