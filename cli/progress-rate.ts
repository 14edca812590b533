import type { ProgressSnapshot, StageProgress } from '../workflows/progress.ts';

/** Rate and remaining time of one stage row, estimated from the snapshots seen so far. */
export interface StageRate {
  /** Units of `done` per second over the recent window; null until two samples differ in time. */
  itemsPerSec: number | null;
  /** Seconds until done reaches total at that rate; 0 when finished; null when unknown or stalled. */
  etaSec: number | null;
}

interface Sample {
  t: number;
  done: number;
}

interface RowTrack {
  total: number;
  samples: Sample[];
}

export const rowKey = (r: Pick<StageProgress, 'stage' | 'dataset'>): string => `${r.stage}/${r.dataset}`;

/**
 * Items/s and ETA per stage row, computed on the client from successive `progress` query snapshots.
 * The workflow only knows done/total; timing lives here so that the workflow stays deterministic and
 * its progress state small.
 *
 * The rate is measured over a sliding window (default 60 s) that reaches back to the last sample
 * before the window, so a stage that reports in coarse steps (a few per minute) still gets a rate
 * instead of flickering to zero between steps. A changed total, or done going backwards (a retried
 * attempt restarting its count), starts the row's measurement over: mixing the two would give a rate
 * that belongs to neither.
 */
export class ProgressRates {
  private readonly rows = new Map<string, RowTrack>();
  private readonly windowMs: number;

  constructor(opts: { windowMs?: number } = {}) {
    this.windowMs = opts.windowMs ?? 60_000;
  }

  /** Records a snapshot taken at `atMs` (client clock) and returns the estimate for every row. */
  observe(p: ProgressSnapshot, atMs: number): Map<string, StageRate> {
    const out = new Map<string, StageRate>();
    for (const r of p.stages) {
      const key = rowKey(r);
      let track = this.rows.get(key);
      const last = track?.samples.at(-1);
      if (!track || track.total !== r.total || (last && r.done < last.done) || r.status !== 'running') {
        track = { total: r.total, samples: [] };
        this.rows.set(key, track);
      }
      const prev = track.samples.at(-1);
      if (!prev || atMs > prev.t) track.samples.push({ t: atMs, done: r.done });
      // Keep one sample at or before the window start so the span always covers the whole window.
      const start = atMs - this.windowMs;
      while (track.samples.length > 2 && track.samples[1].t <= start) track.samples.shift();
      out.set(key, this.estimate(r, track));
    }
    return out;
  }

  private estimate(r: StageProgress, track: RowTrack): StageRate {
    if (r.total > 0 && r.done >= r.total) return { itemsPerSec: null, etaSec: 0 };
    if (r.status !== 'running' || track.samples.length < 2) return { itemsPerSec: null, etaSec: null };
    const first = track.samples[0];
    const last = track.samples[track.samples.length - 1];
    const dt = (last.t - first.t) / 1000;
    if (dt <= 0) return { itemsPerSec: null, etaSec: null };
    const rate = (last.done - first.done) / dt;
    const remaining = r.total - r.done;
    return { itemsPerSec: rate, etaSec: rate > 0 && r.total > 0 ? remaining / rate : null };
  }
}

/** 0.25/s, 3.4/s, 120/s: enough digits to see a trend, no more. */
export function formatRate(perSec: number): string {
  if (perSec >= 100) return `${Math.round(perSec)}/s`;
  if (perSec >= 10) return `${perSec.toFixed(1)}/s`;
  if (perSec >= 0.01) return `${perSec.toFixed(2)}/s`;
  return `${(perSec * 60).toFixed(2)}/min`;
}

/** 7s, 3m05s, 2h04m, 3d04h. */
export function formatDuration(sec: number): string {
  const s = Math.max(0, Math.round(sec));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h${String(m % 60).padStart(2, '0')}m`;
  return `${Math.floor(h / 24)}d${String(h % 24).padStart(2, '0')}h`;
}
