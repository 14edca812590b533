/**
 * Report charts: Vega-Lite specs compiled to Vega and rendered to SVG strings in Node, headless
 * (renderer 'none': no canvas package, text widths are estimated), with a loader that refuses every
 * URL or file, so rendering never touches the network or the disk. Fonts are the generic
 * `sans-serif` family: nothing to fetch.
 *
 * Every chart has a fixed width and height, a title, axis titles, `role="img"`, an `aria-label` and a
 * `<title>` on its root `<svg>` (tests find charts by them), and a `data-chart` attribute naming its
 * kind. The output is deterministic for the same input: Vega numbers clip-path and gradient ids from
 * process-wide counters, so they are renamed here to ids derived from the chart's kind and a hash of
 * its input (unique per chart when several are inlined into one HTML page).
 */
import { createHash } from 'node:crypto';
import { Error as VegaErrorLevel, View, parse, type Loader } from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

export interface ConfusionHeatmapInput {
  /** Class names, in display order: rows are the true class, columns the predicted one. */
  classes: string[];
  /** counts[i][j]: samples of true class i predicted as class j. */
  counts: number[][];
  /** Row-normalised counts (each row sums to 1; a class with no samples may hold NaN or 0). */
  normalized: number[][];
  title: string;
}

export type CurveMetric = 'loss' | 'accuracy' | 'weightedF1';
export type CurveSplit = 'train' | 'validation';

export interface CurvePoint {
  /** The line's name: a fold or a variant. */
  series: string;
  epoch: number;
  metric: CurveMetric;
  split: CurveSplit;
  value: number;
}

export interface TrainingCurvesInput {
  title: string;
  points: CurvePoint[];
}

export interface AblationRow {
  variant: string;
  metric: string;
  mean: number;
  std: number;
  /** An interval to draw instead of mean ± std (issue 18: the t interval over seeds). */
  low?: number;
  high?: number;
}

export interface AblationBarsInput {
  title: string;
  rows: AblationRow[];
  /** What the error bars are, for the y axis title (default `mean ± std`). */
  errorBars?: string;
}

/** One paired comparison: a variant's difference from the full model with its interval. */
export interface DifferenceRow {
  variant: string;
  metric: string;
  difference: number;
  low: number;
  high: number;
  holds: boolean;
}

export interface DifferencesInput {
  title: string;
  rows: DifferenceRow[];
}

const FONT = 'sans-serif';

/** Vega may only render what the spec holds inline: every load is refused. */
const OFFLINE_LOADER: Loader = {
  load: (uri) => Promise.reject(new Error(`report charts render offline: refusing to load ${uri}`)),
  sanitize: (uri) => Promise.reject(new Error(`report charts render offline: refusing to load ${uri}`)),
  http: (uri) => Promise.reject(new Error(`report charts render offline: refusing to fetch ${uri}`)),
  file: (name) => Promise.reject(new Error(`report charts render offline: refusing to read ${name}`)),
};

export const BASE_CONFIG = {
  background: 'white',
  font: FONT,
  title: { fontSize: 15, anchor: 'start' as const, offset: 12 },
  axis: { labelFontSize: 11, titleFontSize: 12, titlePadding: 8 },
  legend: { labelFontSize: 11, titleFontSize: 12, labelLimit: 280, titleLimit: 280 },
  header: { labelFontSize: 12, titleFontSize: 12 },
};

/** Confusion matrix as a heatmap: colour is the row share, each cell shows its count and percentage. */
export async function confusionHeatmapSvg(input: ConfusionHeatmapInput): Promise<string> {
  const { classes, counts, normalized, title } = input;
  const n = classes.length;
  if (n === 0) throw new Error('confusionHeatmapSvg: no classes');
  if (new Set(classes).size !== n) throw new Error('confusionHeatmapSvg: class names must be distinct');
  for (const [name, m] of [
    ['counts', counts],
    ['normalized', normalized],
  ] as const) {
    if (m.length !== n || m.some((row) => row.length !== n))
      throw new Error(`confusionHeatmapSvg: ${name} must be ${n}×${n} (one row and one column per class)`);
  }
  const cells: Record<string, unknown>[] = [];
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      const share = normalized[i][j];
      const ok = Number.isFinite(share);
      cells.push({
        truth: classes[i],
        pred: classes[j],
        count: counts[i][j],
        share: ok ? share : 0,
        pct: ok ? `${(share * 100).toFixed(1)}%` : 'n/a',
        dark: ok && share >= 0.5,
      });
    }
  }
  const cell = n <= 4 ? 76 : n <= 8 ? 64 : n <= 12 ? 48 : 36;
  const size = cell * n;
  const axisClass = { type: 'nominal' as const, sort: classes };
  const textColor = { condition: { test: 'datum.dark', value: 'white' }, value: '#111' };
  const spec: TopLevelSpec = {
    title,
    width: size,
    height: size,
    data: { values: cells },
    encoding: {
      x: {
        field: 'pred',
        ...axisClass,
        title: 'Predicted class',
        axis: { orient: 'bottom', labelAngle: 0, domain: false, ticks: false },
      },
      y: { field: 'truth', ...axisClass, title: 'True class', axis: { domain: false, ticks: false } },
    },
    layer: [
      {
        name: 'cells',
        mark: { type: 'rect', stroke: 'white', strokeWidth: 1 },
        encoding: {
          color: {
            field: 'share',
            type: 'quantitative',
            title: 'Row share',
            scale: { scheme: 'blues', domain: [0, 1] },
            legend: { format: '.0%', gradientLength: Math.max(120, size - 40), titleLimit: 240 },
          },
        },
      },
      {
        name: 'counts',
        mark: { type: 'text', baseline: 'middle', dy: -7, fontSize: cell >= 48 ? 13 : 10, fontWeight: 'bold' },
        encoding: { text: { field: 'count', type: 'quantitative', format: 'd' }, color: textColor },
      },
      {
        name: 'shares',
        mark: { type: 'text', baseline: 'middle', dy: 8, fontSize: cell >= 48 ? 10 : 8 },
        encoding: { text: { field: 'pct', type: 'nominal' }, color: textColor },
      },
    ],
    config: { ...BASE_CONFIG, view: { stroke: null }, axis: { ...BASE_CONFIG.axis, grid: false } },
  };
  return render('confusion', input, title, spec);
}

const METRIC_ORDER: CurveMetric[] = ['loss', 'accuracy', 'weightedF1'];
const METRIC_LABEL: Record<CurveMetric, string> = { loss: 'Loss', accuracy: 'Accuracy', weightedF1: 'Weighted F1' };
const SPLIT_ORDER: CurveSplit[] = ['train', 'validation'];

/**
 * One panel per metric present (loss, accuracy, weighted F1, in that order), epoch on x; one colour
 * per series, solid lines for train and dashed for validation.
 */
export async function trainingCurvesSvg(input: TrainingCurvesInput): Promise<string> {
  const { title, points } = input;
  if (points.length === 0) throw new Error('trainingCurvesSvg: no points');
  for (const p of points) {
    if (!METRIC_ORDER.includes(p.metric))
      throw new Error(`trainingCurvesSvg: unknown metric ${JSON.stringify(p.metric)}`);
    if (!SPLIT_ORDER.includes(p.split)) throw new Error(`trainingCurvesSvg: unknown split ${JSON.stringify(p.split)}`);
  }
  const series = firstSeen(points.map((p) => p.series));
  const splits = SPLIT_ORDER.filter((s) => points.some((p) => p.split === s));
  const metrics = METRIC_ORDER.filter((m) => points.some((p) => p.metric === m));
  const values = points
    .filter((p) => Number.isFinite(p.value) && Number.isFinite(p.epoch))
    .map((p) => ({ series: p.series, epoch: p.epoch, metric: p.metric, split: p.split, value: p.value }));
  const panelWidth = metrics.length === 1 ? 560 : metrics.length === 2 ? 340 : 260;
  const spec: TopLevelSpec = {
    title,
    data: { values },
    hconcat: metrics.map((metric) => {
      const present = splits.filter((s) => points.some((p) => p.metric === metric && p.split === s));
      return {
        name: `curve_${metric}`,
        title: { text: `${METRIC_LABEL[metric]} (${present.join(' / ')})`, fontSize: 12, anchor: 'middle' as const },
        width: panelWidth,
        height: 220,
        transform: [{ filter: { field: 'metric', equal: metric } }],
        mark: { type: 'line' as const, point: { size: 18 }, strokeWidth: 2 },
        encoding: {
          x: {
            field: 'epoch',
            type: 'quantitative' as const,
            title: 'Epoch',
            axis: { tickMinStep: 1, format: 'd' },
            scale: { nice: false },
          },
          y: { field: 'value', type: 'quantitative' as const, title: METRIC_LABEL[metric], scale: { zero: false } },
          color: {
            field: 'series',
            type: 'nominal' as const,
            title: 'Series',
            scale: { domain: series, scheme: 'tableau10' },
          },
          strokeDash: {
            field: 'split',
            type: 'nominal' as const,
            title: 'Split',
            scale: { domain: splits, range: splits.map((s) => (s === 'train' ? [1, 0] : [6, 3])) },
            legend: {
              symbolType: 'stroke',
              symbolStrokeWidth: 2,
              symbolSize: 300,
              encode: { symbols: { update: { stroke: { value: '#444' } } } },
            },
          },
          order: { field: 'epoch', type: 'quantitative' as const },
        },
      };
    }),
    resolve: { scale: { color: 'shared', strokeDash: 'shared' } },
    config: BASE_CONFIG,
  };
  return render('curves', input, title, spec);
}

/** Grouped bars (one group per metric, one bar per variant) with mean ± std error bars. */
export async function ablationBarsSvg(input: AblationBarsInput): Promise<string> {
  const { title, rows } = input;
  if (rows.length === 0) throw new Error('ablationBarsSvg: no rows');
  const variants = firstSeen(rows.map((r) => r.variant));
  const metrics = firstSeen(rows.map((r) => r.metric));
  const values = rows.map((r) => {
    const std = Number.isFinite(r.std) ? Math.abs(r.std) : 0;
    const interval = r.low !== undefined && r.high !== undefined && Number.isFinite(r.low) && Number.isFinite(r.high);
    const [lo, hi] = interval ? [r.low!, r.high!] : [r.mean - std, r.mean + std];
    return { variant: r.variant, metric: r.metric, mean: r.mean, std, lo, hi };
  });
  const yTitle = `Score (${input.errorBars ?? 'mean ± std'})`;
  const x = {
    field: 'metric',
    type: 'nominal' as const,
    sort: metrics,
    title: 'Metric',
    axis: { labelAngle: 0 },
    scale: { paddingInner: 0.2 },
  };
  const xOffset = { field: 'variant', type: 'nominal' as const, sort: variants, scale: { paddingInner: 0.08 } };
  const spec: TopLevelSpec = {
    title,
    width: Math.max(480, Math.min(960, metrics.length * variants.length * 22 + metrics.length * 40)),
    height: 320,
    data: { values },
    encoding: { x, xOffset },
    layer: [
      {
        name: 'bars',
        mark: { type: 'bar' },
        encoding: {
          y: { field: 'mean', type: 'quantitative', title: yTitle },
          color: {
            field: 'variant',
            type: 'nominal',
            title: 'Variant',
            sort: variants,
            scale: { domain: variants, scheme: 'tableau10' },
          },
        },
      },
      {
        name: 'errorbars',
        mark: { type: 'errorbar', ticks: { size: 6 }, color: '#222', thickness: 1.5 },
        encoding: { y: { field: 'lo', type: 'quantitative', title: yTitle }, y2: { field: 'hi' } },
      },
    ],
    config: BASE_CONFIG,
  };
  return render('ablation', input, title, spec);
}

/**
 * Paired differences from the full model: a point per (variant, metric) at the difference, its interval
 * as an error bar and a rule at 0; filled points hold after the Holm correction, hollow ones do not.
 */
export async function differencesSvg(input: DifferencesInput): Promise<string> {
  const { title, rows } = input;
  if (rows.length === 0) throw new Error('differencesSvg: no rows');
  const variants = firstSeen(rows.map((r) => r.variant));
  const metrics = firstSeen(rows.map((r) => r.metric));
  const values = rows.map((r) => ({ ...r, holds: r.holds ? 'holds' : 'does not hold' }));
  const y = { field: 'variant', type: 'nominal' as const, sort: variants, title: 'Variant' };
  const yOffset = { field: 'metric', type: 'nominal' as const, sort: metrics };
  const color = {
    field: 'metric',
    type: 'nominal' as const,
    title: 'Metric',
    sort: metrics,
    scale: { domain: metrics, scheme: 'tableau10' },
  };
  const spec: TopLevelSpec = {
    title,
    width: 560,
    height: Math.max(160, variants.length * metrics.length * 22),
    layer: [
      {
        data: { values: [{ zero: 0 }] },
        mark: { type: 'rule', color: '#888', strokeDash: [4, 3] },
        encoding: { x: { field: 'zero', type: 'quantitative' } },
      },
      {
        data: { values },
        encoding: { y, yOffset },
        layer: [
          {
            name: 'intervals',
            mark: { type: 'errorbar', ticks: { size: 6 }, thickness: 1.5 },
            encoding: {
              x: { field: 'low', type: 'quantitative', title: 'Difference from the full model (95% interval)' },
              x2: { field: 'high' },
              color,
            },
          },
          {
            name: 'points',
            mark: { type: 'point', size: 60, strokeWidth: 2 },
            encoding: {
              x: { field: 'difference', type: 'quantitative' },
              color,
              fill: {
                condition: { test: "datum.holds === 'holds'", field: 'metric', type: 'nominal', sort: metrics },
                value: 'white',
              },
              shape: { field: 'holds', type: 'nominal', title: 'After Holm', sort: ['holds', 'does not hold'] },
            },
          },
        ],
      },
    ],
    config: BASE_CONFIG,
  };
  return render('differences', input, title, spec);
}

/** Distinct values in order of first appearance. */
function firstSeen(values: string[]): string[] {
  return [...new Set(values)];
}

/** Compiles and renders a Vega-Lite spec offline, ids renamed and the root labelled (also for slices/chart.ts). */
export async function render(kind: string, input: unknown, title: string, spec: TopLevelSpec): Promise<string> {
  const vg = compile(spec).spec;
  const view = new View(parse(vg), { renderer: 'none', loader: OFFLINE_LOADER, logLevel: VegaErrorLevel });
  let svg: string;
  try {
    svg = await view.toSVG();
  } finally {
    view.finalize();
  }
  const prefix = `${kind}-${createHash('sha256').update(JSON.stringify(input)).digest('hex').slice(0, 10)}`;
  return labelRoot(renameIds(svg, prefix), kind, title);
}

/** Renames every id (and its `url(#…)` / `href="#…"` references) to `<prefix>-<n>` in order of appearance. */
function renameIds(svg: string, prefix: string): string {
  const ids = new Map<string, string>();
  for (const m of svg.matchAll(/\sid="([^"]+)"/g)) if (!ids.has(m[1])) ids.set(m[1], `${prefix}-${ids.size}`);
  for (const m of svg.matchAll(/url\(#([^)]+)\)/g)) if (!ids.has(m[1])) ids.set(m[1], `${prefix}-${ids.size}`);
  if (ids.size === 0) return svg;
  return svg
    .replace(/(\sid=")([^"]+)(")/g, (_, a: string, id: string, b: string) => a + (ids.get(id) ?? id) + b)
    .replace(/url\(#([^)]+)\)/g, (_, id: string) => `url(#${ids.get(id) ?? id})`)
    .replace(/(href=")#([^"]+)(")/g, (_, a: string, id: string, b: string) => `${a}#${ids.get(id) ?? id}${b}`);
}

/** Adds role, aria-label, data-chart and a <title> to the root <svg>. */
function labelRoot(svg: string, kind: string, title: string): string {
  const open = /^<svg\b[^>]*>/.exec(svg);
  if (!open) throw new Error('vega returned something other than an <svg> document');
  const label = escapeXml(title);
  const tag = open[0].replace(/>$/, ` role="img" aria-label="${label}" data-chart="${kind}">`);
  return `${tag}<title>${label}</title>${svg.slice(open[0].length)}`;
}

function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}
