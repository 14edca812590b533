/**
 * The report's statistics blocks (issue 18): intervals over seeds and over test dialogues, the paired
 * tests of each ablation against the full model, and the rows of the charts that draw them. Kept apart
 * from report-build.ts, which places them; the numbers come from significance.ts via metrics.json.
 */
import type { MetricsReport, VariantReport } from '../../schemas/report.ts';
import { differencesSvg, type AblationRow } from './charts.ts';
import type { ReportBlock } from './report-doc.ts';

type Draft = Omit<MetricsReport, 'figures'>;

const pct = (x: number): string => (x * 100).toFixed(1);
const signed = (x: number): string => `${x > 0 ? '+' : ''}${pct(x)}`;
const range = (lo: number, hi: number): string => `[${pct(lo)}, ${pct(hi)}]`;
const METRIC_NAME = { accuracy: 'accuracy', weightedF1: 'weighted F1' } as const;

/** A p-value as people read it: 4 significant digits, never rounded to 0. */
export function formatP(p: number): string {
  if (p >= 0.001) return p.toFixed(4).replace(/0+$/, '').replace(/\.$/, '');
  return p.toExponential(1);
}

/** Mean over seeds, std and the t interval (or mean only for one seed). */
function seedCell(v: VariantReport, k: 'accuracy' | 'weightedF1' | 'macroF1'): string {
  const s = v.seeds;
  if (!s) return pct(v.aggregate.mean[k]);
  if (s.degenerate) return `${pct(s.mean[k])} (one seed)`;
  return `${pct(s.mean[k])} ± ${pct(s.std[k])} ${range(s.interval[k].low, s.interval[k].high)}`;
}

function pooledCell(v: VariantReport, k: 'accuracy' | 'weightedF1'): string {
  const p = v.pooledInterval;
  if (!p) return pct(v.aggregate.pooled[k]);
  return `${pct(p[k].estimate)} ${range(p[k].low, p[k].high)}`;
}

/** The method in two sentences and the intervals table; nothing for a report without them (older versions). */
export function intervalBlocks(report: Draft): ReportBlock[] {
  const st = report.statistics;
  if (!st) return [];
  const level = `${Math.round(st.level * 100)}%`;
  return [
    { kind: 'heading', level: 3, text: `Intervals (${level})` },
    { kind: 'paragraph', text: st.statement },
    {
      kind: 'table',
      caption: `Test metrics per variant (%): over ${st.seeds.length} seed(s) the mean of the fold-aggregated metric ± std (ddof 1) [${level} t interval]; pooled over every seed's predictions [${level} bootstrap interval over ${st.clusterBy}s]`,
      columns: ['variant', 'seeds', 'accuracy', 'weighted F1', 'macro F1', 'pooled accuracy', 'pooled weighted F1'],
      align: ['left', 'right', 'right', 'right', 'right', 'right', 'right'],
      rows: report.variants.map((v) => [
        v.name,
        v.seeds?.seeds.length ?? 1,
        seedCell(v, 'accuracy'),
        seedCell(v, 'weightedF1'),
        seedCell(v, 'macroF1'),
        pooledCell(v, 'accuracy'),
        pooledCell(v, 'weightedF1'),
      ]),
    },
  ];
}

/** The ablation table's difference column for a variant and metric: Δ [interval], Holm p, holds. */
export function differenceCell(report: Draft, variant: string, metric: 'accuracy' | 'weightedF1'): string {
  const c = report.comparisons?.find((x) => x.variant === variant && x.metric === metric);
  if (!c) return variant === report.variants[0]?.name ? 'baseline' : '';
  return `${signed(c.difference)} ${range(c.low, c.high)}, p ${formatP(c.pAdjusted)}, ${c.holds ? 'holds' : 'does not hold'}`;
}

/** The ablation bars' rows: with several seeds the t interval over seeds, else ± std over folds. */
export function ablationChartRows(report: Draft): { rows: AblationRow[]; errorBars: string } {
  const bySeed = report.variants.every((v) => v.seeds && !v.seeds.degenerate);
  const rows = (report.ablation ?? []).flatMap((r) => {
    const s = report.variants.find((v) => v.name === r.variant)?.seeds;
    const row = (metric: string, k: 'accuracy' | 'weightedF1', mean: number, std: number): AblationRow =>
      bySeed && s
        ? {
            variant: r.variant,
            metric,
            mean: s.mean[k],
            std: s.std[k],
            low: s.interval[k].low,
            high: s.interval[k].high,
          }
        : { variant: r.variant, metric, mean, std };
    return [
      row('accuracy', 'accuracy', r.accuracy.mean, r.accuracy.std),
      row('weighted F1', 'weightedF1', r.weightedF1.mean, r.weightedF1.std),
    ];
  });
  const level = `${Math.round((report.statistics?.level ?? 0.95) * 100)}%`;
  return { rows, errorBars: bySeed ? `mean over seeds, ${level} t interval` : 'mean ± std over folds' };
}

/** The paired tests in full, and their chart; nothing without comparisons. */
export async function pairedTestBlocks(
  report: Draft,
  title: string,
  figure: (id: string, caption: string, svg: string) => ReportBlock,
): Promise<ReportBlock[]> {
  const cs = report.comparisons ?? [];
  const st = report.statistics;
  if (!cs.length || !st) return [];
  const level = `${Math.round(st.level * 100)}%`;
  return [
    { kind: 'heading', level: 3, text: `Paired tests against ${cs[0].baseline}` },
    {
      kind: 'table',
      caption: `Each variant minus ${cs[0].baseline} on the same ${cs[0].items} stacked test predictions (${cs[0].clusters} ${st.clusterBy}s): difference (points) [${level} paired bootstrap interval], approximate randomisation p-value (${st.test.rounds.toLocaleString('en-US')} rounds, seed ${st.seed}) and Holm-adjusted p; holds at adjusted p <= ${st.alpha}`,
      columns: ['variant', 'metric', 'difference', `${level} interval`, 'p', 'p (Holm)', 'holds'],
      align: ['left', 'left', 'right', 'right', 'right', 'right', 'center'],
      rows: cs.map((c) => [
        c.variant,
        METRIC_NAME[c.metric],
        signed(c.difference),
        range(c.low, c.high),
        formatP(c.pValue),
        formatP(c.pAdjusted),
        c.holds ? 'yes' : 'no',
      ]),
    },
    figure(
      'differences',
      `Each variant's difference from ${cs[0].baseline} (points) with its ${level} paired bootstrap interval; filled: holds after the Holm correction`,
      await differencesSvg({
        title: `${title}: differences from ${cs[0].baseline}`,
        rows: cs.map((c) => ({
          variant: c.variant,
          metric: METRIC_NAME[c.metric],
          difference: c.difference,
          low: c.low,
          high: c.high,
          holds: c.holds,
        })),
      }),
    ),
  ];
}
