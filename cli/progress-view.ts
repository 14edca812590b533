import type { ProgressSnapshot, StageProgress } from '../workflows/progress.ts';

const ICON: Record<StageProgress['status'], string> = {
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
export function renderProgress(p: ProgressSnapshot): string[] {
  const lines = p.stages.map((s) => {
    const head = `${ICON[s.status]} ${s.stage.padEnd(9)} ${s.dataset.padEnd(8)}`;
    const counts = s.total ? ` ${bar(s.done, s.total)} ${s.done}/${s.total}` : '';
    const q = s.quarantined ? `  ${s.quarantined} quarantined/issues` : '';
    const step = s.step && s.status === 'running' ? ` [${s.step}]` : '';
    const note = s.error ? `  ${s.error}` : s.note ? `  ${s.note}` : '';
    return `${head}${counts}${step}${q}${note}`;
  });
  return lines;
}

/** Prints progress: redraws in place on a TTY, prints changed lines otherwise, nothing when quiet. */
export class ProgressPrinter {
  private lastLines: string[] = [];
  constructor(private readonly out: NodeJS.WriteStream = process.stderr, private readonly quiet = false) {}

  update(p: ProgressSnapshot): void {
    if (this.quiet) return;
    const lines = renderProgress(p);
    if (this.out.isTTY) {
      if (this.lastLines.length) this.out.write(`\x1b[${this.lastLines.length}A`);
      for (const l of lines) this.out.write(`\x1b[2K${l.slice(0, (this.out.columns ?? 120) - 1)}\n`);
    } else {
      for (let i = 0; i < lines.length; i++) if (lines[i] !== this.lastLines[i]) this.out.write(`${lines[i]}\n`);
    }
    this.lastLines = lines;
  }
}
