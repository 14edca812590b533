/**
 * A comparison as terminal text and as a self-contained HTML page (the report's document model,
 * activities/evaluate/report-doc.ts, and its chart renderer, charts.ts).
 *
 * Decision record: the text and the page say the same things in the same order: what is compared
 * (entries), the headline figures side by side, then per pair of entries what differs in how they
 * were made and the paired tests (or why there is none). Differences are B - A in percentage points.
 */
import type { TopLevelSpec } from 'vega-lite';
import type { ComparePair, Comparison, HeadlineMetric, ProvenanceDiff } from '../../../schemas/compare.ts';
import { BASE_CONFIG, render } from '../charts.ts';
import { renderHtml, type ReportBlock, type TableCell } from '../report-doc.ts';

const METRIC_NAMES: Record<HeadlineMetric, string> = {
  accuracy: 'accuracy',
  weightedF1: 'weighted F1',
  macroF1: 'macro F1',
};

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
const pts = (x: number) => `${x >= 0 ? '+' : '−'}${Math.abs(x * 100).toFixed(1)}`;
const pValue = (p: number) => (p < 0.001 ? 'p < 0.001' : `p = ${p.toFixed(3)}`);

function figure(c: Comparison, row: Comparison['metrics'][number], m: HeadlineMetric): string {
  const i = row.intervals?.[m];
  const interval = i ? ` [${pct(i.low)}, ${pct(i.high)}]` : '';
  return `${pct(row.mean[m])} ± ${(row.std[m] * 100).toFixed(1)}${interval}`;
}

/** `accuracy B - A +3.1 pts [−1.0, +7.2], p = 0.140` */
function testLine(p: ComparePair): string {
  return (p.tests ?? [])
    .map(
      (t) =>
        `${METRIC_NAMES[t.metric]} ${p.b} − ${p.a} ${pts(t.difference)} pts [${pts(t.low)}, ${pts(t.high)}], ${pValue(t.pValue)}`,
    )
    .join('; ');
}

export function describeDifference(d: ProvenanceDiff['differences'][number]): string {
  return `${d.path}: ${d.a ?? '(absent)'} -> ${d.b ?? '(absent)'}`;
}

/** `accuracy 52.1% [48.0%, 56.3%], weighted F1 ... (bootstrap over dialogues, 1000 rounds, 95%)` */
function pooledText(r: Comparison['metrics'][number]): string {
  const parts = (['accuracy', 'weightedF1'] as const)
    .filter((m) => r.pooled?.[m])
    .map((m) => {
      const p = r.pooled![m]!;
      return `${METRIC_NAMES[m]} ${pct(p.estimate)} [${pct(p.low)}, ${pct(p.high)}]`;
    });
  const method = r.pooled?.accuracy?.method ?? r.pooled?.weightedF1?.method ?? '';
  return `${parts.join(', ')} (${method})`;
}

function datasets(c: Comparison): string[] {
  return [...new Set(c.entries.map((e) => e.dataset))];
}

/** Lines for the terminal. */
export function comparisonText(c: Comparison): string[] {
  const out: string[] = [];
  for (const e of c.entries)
    out.push(
      `${e.id}  ${e.argument} — ${e.dataset} ${e.labelSet}, ${e.protocol} protocol, report ${e.evalKey}${e.configHash ? `, run ${e.configHash}` : ''}`,
    );
  for (const ds of datasets(c)) {
    out.push(
      '',
      `${ds}: mean over folds ± std${c.metrics.some((r) => r.intervals) ? ' [interval over seeds, where the report has one]' : ''}`,
    );
    const rows = c.metrics.filter((r) => r.dataset === ds);
    const header = ['variant', 'run', 'folds', ...Object.values(METRIC_NAMES)];
    const cells = rows.map((r) => [
      r.variant,
      r.entry,
      String(r.folds),
      ...(['accuracy', 'weightedF1', 'macroF1'] as const).map((m) => figure(c, r, m)),
    ]);
    const widths = header.map((h, i) => Math.max(h.length, ...cells.map((r) => r[i].length)));
    for (const r of [header, ...cells]) out.push(`  ${r.map((v, i) => v.padEnd(widths[i])).join('  ')}`.trimEnd());
    for (const r of rows.filter((x) => x.pooled)) out.push(`  ${r.entry} ${r.variant} pooled: ${pooledText(r)}`);
    for (const d of c.provenance.filter((p) => p.dataset === ds)) {
      out.push('', `${ds}: ${d.a} vs ${d.b}`);
      if (!d.differences.length) out.push('  made identically (no setting, input or code version differs)');
      else {
        out.push(`  what differs (${d.differences.length}):`);
        for (const x of d.differences) out.push(`    ${describeDifference(x)}`);
      }
      for (const p of c.pairs.filter((q) => q.dataset === ds && q.a === d.a && q.b === d.b)) {
        if (p.tests)
          out.push(`  ${p.variant}: ${testLine(p)} (${p.utterances.shared} utterances, ${p.dialogues} dialogues)`);
        else out.push(`  ${p.variant}: no paired test: ${p.reason}`);
      }
    }
  }
  out.push('', c.method);
  return out;
}

/** Headline figures of every entry's first variant (the full model) as grouped bars with the reported intervals. */
async function headlineChart(c: Comparison, dataset: string): Promise<string | null> {
  const firsts = c.entries
    .filter((e) => e.dataset === dataset)
    .map((e) => c.metrics.find((r) => r.entry === e.id))
    .filter((r): r is Comparison['metrics'][number] => !!r);
  if (!firsts.length) return null;
  const values = firsts.flatMap((r) =>
    (['accuracy', 'weightedF1', 'macroF1'] as const).map((m) => ({
      run: `${r.entry}: ${r.variant}`,
      metric: METRIC_NAMES[m],
      value: r.mean[m],
      lo: r.intervals?.[m]?.low ?? r.mean[m],
      hi: r.intervals?.[m]?.high ?? r.mean[m],
      interval: !!r.intervals?.[m],
    })),
  );
  const runs = [...new Set(values.map((v) => v.run))];
  const title = `${dataset}: headline metrics per run`;
  const spec: TopLevelSpec = {
    title,
    width: Math.max(480, Math.min(960, runs.length * 3 * 28 + 120)),
    height: 300,
    data: { values },
    encoding: {
      x: {
        field: 'metric',
        type: 'nominal',
        title: 'Metric',
        axis: { labelAngle: 0 },
        sort: Object.values(METRIC_NAMES),
      },
      xOffset: { field: 'run', type: 'nominal', sort: runs },
    },
    layer: [
      {
        name: 'bars',
        mark: { type: 'bar' },
        encoding: {
          y: { field: 'value', type: 'quantitative', title: 'Score (mean over folds)' },
          color: {
            field: 'run',
            type: 'nominal',
            title: 'Run',
            sort: runs,
            scale: { domain: runs, scheme: 'tableau10' },
          },
        },
      },
      {
        name: 'intervals',
        transform: [{ filter: 'datum.interval' }],
        mark: { type: 'errorbar', ticks: { size: 6 }, color: '#222', thickness: 1.5 },
        encoding: { y: { field: 'lo', type: 'quantitative', title: 'Score (mean over folds)' }, y2: { field: 'hi' } },
      },
    ],
    config: BASE_CONFIG,
  };
  return render('compare', values, title, spec);
}

/** The comparison as one self-contained HTML page. */
export async function comparisonHtml(c: Comparison): Promise<string> {
  const blocks: ReportBlock[] = [
    {
      kind: 'table',
      caption: 'What is compared',
      columns: ['', 'argument', 'dataset', 'label set', 'protocol', 'report', 'run'],
      rows: c.entries.map((e) => [e.id, e.argument, e.dataset, e.labelSet, e.protocol, e.evalKey, e.configHash ?? '']),
    },
  ];
  for (const ds of datasets(c)) {
    blocks.push({ kind: 'heading', level: 2, text: ds });
    const rows: TableCell[][] = c.metrics
      .filter((r) => r.dataset === ds)
      .map((r) => [
        r.variant,
        r.entry,
        r.folds,
        ...(['accuracy', 'weightedF1', 'macroF1'] as const).map((m) => figure(c, r, m)),
      ]);
    blocks.push({
      kind: 'table',
      caption: `Headline metrics: mean over folds ± std${c.metrics.some((r) => r.intervals) ? ' [interval over seeds, where the report has one]' : ''}`,
      columns: ['variant', 'run', 'folds', ...Object.values(METRIC_NAMES)],
      rows,
      align: ['left', 'left', 'right', 'right', 'right', 'right'],
    });
    const pooledRows = c.metrics.filter((r) => r.dataset === ds && r.pooled);
    if (pooledRows.length)
      blocks.push({
        kind: 'table',
        caption: "Pooled test predictions with the reports' bootstrap intervals",
        columns: ['variant', 'run', 'pooled'],
        rows: pooledRows.map((r) => [r.variant, r.entry, pooledText(r)]),
      });
    const svg = await headlineChart(c, ds);
    if (svg)
      blocks.push({
        kind: 'figure',
        id: `headline-${ds}`,
        caption: `Accuracy, weighted F1 and macro F1 of each run's full model on ${ds}; error bars are the intervals the reports give (none drawn where a report has none).`,
        svg,
      });
    for (const d of c.provenance.filter((p) => p.dataset === ds)) {
      blocks.push({ kind: 'heading', level: 3, text: `${d.a} vs ${d.b}` });
      blocks.push(
        d.differences.length
          ? {
              kind: 'table',
              caption: `What differs between ${d.a} and ${d.b}`,
              columns: ['setting, input or code version', d.a, d.b],
              rows: d.differences.map((x) => [x.path, x.a ?? '(absent)', x.b ?? '(absent)']),
            }
          : { kind: 'paragraph', text: 'Made identically: no setting, input or code version differs.' },
      );
      const pairs = c.pairs.filter((q) => q.dataset === ds && q.a === d.a && q.b === d.b);
      const tested = pairs.filter((p) => p.tests);
      if (tested.length)
        blocks.push({
          kind: 'table',
          caption: `Paired tests, ${d.b} − ${d.a} (percentage points)`,
          columns: ['variant', 'metric', 'difference', '95% interval', 'p-value', 'utterances', 'dialogues'],
          rows: tested.flatMap((p) =>
            p.tests!.map((t) => [
              p.variant,
              METRIC_NAMES[t.metric],
              pts(t.difference),
              `[${pts(t.low)}, ${pts(t.high)}]`,
              pValue(t.pValue),
              p.utterances.shared,
              p.dialogues ?? 0,
            ]),
          ),
          align: ['left', 'left', 'right', 'right', 'right', 'right', 'right'],
        });
      for (const p of pairs.filter((q) => !q.tests))
        blocks.push({ kind: 'paragraph', text: `${p.variant}: no paired test: ${p.reason ?? ''}` });
    }
  }
  blocks.push({ kind: 'paragraph', text: `Method: ${c.method}.` });
  return renderHtml(`DeepMSI-MER comparison: ${c.entries.map((e) => e.id).join(', ')}`, blocks);
}
