/**
 * The sweep report page: one self-contained HTML document (activities/evaluate/report-doc.ts) with,
 * per dataset, the ranking on validation, the chosen setting and its test metrics (once), the other
 * settings' test metrics labelled not for selection, and the charts.
 */
import { renderHtml, type ReportBlock, type TableCell } from '../evaluate/report-doc.ts';
import { formatSweepValue, type SweepInterval, type SweepReport, type SweepSettingScore } from '../../schemas/sweep.ts';
import { sweepHeatmapSvg, sweepMetricSvg } from './charts.ts';

const NAMES: Record<string, string> = { iemocap: 'IEMOCAP', meld: 'MELD' };
const f3 = (x: number) => (Number.isFinite(x) ? x.toFixed(3) : 'n/a');
const ci = (i: SweepInterval) =>
  i.degenerate ? `${f3(i.mean)} (n=${i.n}, no interval)` : `${f3(i.low)} to ${f3(i.high)}`;
const withCi = (i: SweepInterval) => `${f3(i.mean)} [${i.degenerate ? 'no interval' : `${f3(i.low)}, ${f3(i.high)}`}]`;

/** The values each swept key takes, in config order. */
function valueOrders(report: SweepReport, settings: Pick<SweepSettingScore, 'values'>[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const key of report.keys)
    out[key] = [...new Set(settings.filter((s) => key in s.values).map((s) => formatSweepValue(s.values[key])))];
  return out;
}

export async function renderSweepHtml(report: SweepReport): Promise<string> {
  const title = `Sweep ${report.name ?? report.sweepKey}: ${report.keys.join(' \u00d7 ')}`;
  const blocks: ReportBlock[] = [
    {
      kind: 'paragraph',
      text: `${report.settings.length} settings (${report.mode === 'grid' ? 'every combination of the values' : 'a list'}) over ${report.keys.join(', ')}. ${report.selection}`,
    },
  ];
  for (const d of report.datasets) {
    const name = NAMES[d.dataset] ?? d.dataset;
    blocks.push({ kind: 'heading', level: 2, text: `${name} (${d.protocol} protocol)` });
    for (const n of d.notes) blocks.push({ kind: 'paragraph', text: n });
    blocks.push({
      kind: 'paragraph',
      text: `Scores are the ${d.variant} variant's; intervals are 95% Student t intervals over ${d.intervalOver}${d.intervalOver === 'folds' ? ' (one seed per setting)' : ' (each seed\u2019s mean over folds)'}.`,
    });
    const ranked = [...d.settings].sort((a, b) => (a.rank ?? Infinity) - (b.rank ?? Infinity) || a.index - b.index);
    blocks.push({
      kind: 'table',
      caption: 'Settings ranked by validation weighted F1 (the selection)',
      columns: ['Rank', 'Setting', 'State', 'Validation weighted F1', '95% interval', 'Folds', 'Seeds'],
      rows: ranked.map((s): TableCell[] => [
        s.rank === null ? '-' : s.rank === 1 ? '1 (chosen)' : String(s.rank),
        `${s.index + 1}: ${s.label}`,
        s.status,
        s.validation ? s.validation.mean : 'n/a',
        s.validation ? ci(s.validation) : (s.error ?? 'not scored'),
        s.folds,
        s.seeds,
      ]),
    });
    if (d.chosen) {
      const t = d.chosen.test;
      blocks.push({ kind: 'heading', level: 3, text: `Chosen: setting ${d.chosen.index + 1} (${d.chosen.label})` });
      blocks.push({
        kind: 'keyvalue',
        rows: [
          ['Validation weighted F1', withCi(d.chosen.validation)],
          ['Test accuracy', withCi(t.accuracy)],
          ['Test weighted F1', withCi(t.weightedF1)],
          ['Test macro F1', withCi(t.macroF1)],
        ],
      });
    }
    const others = d.settings.filter((s) => s.testNotForSelection);
    if (others.length)
      blocks.push({
        kind: 'table',
        caption: 'Test metrics of the other settings: stored for the record, NOT FOR SELECTION',
        columns: [
          'Setting',
          'Test accuracy (not for selection)',
          'Test weighted F1 (not for selection)',
          'Test macro F1 (not for selection)',
        ],
        rows: others.map((s) => [
          `${s.index + 1}: ${s.label}`,
          withCi(s.testNotForSelection!.accuracy),
          withCi(s.testNotForSelection!.weightedF1),
          withCi(s.testNotForSelection!.macroF1),
        ]),
      });
    const orders = valueOrders(report, d.settings);
    // A key no scored setting has (its only settings failed) has nothing to draw.
    const scoredKeys = report.keys.filter((k) => d.settings.some((s) => s.validation && k in s.values));
    for (const [i, key] of scoredKeys.entries())
      blocks.push({
        kind: 'figure',
        id: `metric-${d.dataset}-${i + 1}`,
        caption: `${name}: validation weighted F1 against ${key}, with 95% intervals over ${d.intervalOver}; the chosen setting is a diamond.`,
        svg: await sweepMetricSvg({
          title: `${name}: validation weighted F1 against ${key}`,
          key,
          order: orders[key],
          intervalOver: d.intervalOver,
          settings: d.settings,
        }),
      });
    if (report.mode === 'grid' && report.keys.length === 2 && scoredKeys.length === 2) {
      const keys: [string, string] = [report.keys[0], report.keys[1]];
      blocks.push({
        kind: 'figure',
        id: `heatmap-${d.dataset}`,
        caption: `${name}: mean validation weighted F1 over ${keys[0]} \u00d7 ${keys[1]}; \u2605 the chosen setting, blank cells were not scored.`,
        svg: await sweepHeatmapSvg({
          title: `${name}: validation weighted F1, ${keys[0]} \u00d7 ${keys[1]}`,
          keys,
          orders: [orders[keys[0]], orders[keys[1]]],
          settings: d.settings,
        }),
      });
    }
  }
  blocks.push({ kind: 'heading', level: 2, text: 'Provenance' });
  blocks.push({
    kind: 'keyvalue',
    rows: [
      ['Sweep key', report.sweepKey],
      ['Report key', report.reportKey],
      ...report.settings.map((s): [string, string] => [
        `Setting ${s.index + 1}`,
        `${s.label}: run ${s.workflowId}, config ${s.configHash}`,
      ]),
    ],
  });
  return renderHtml(title, blocks);
}
