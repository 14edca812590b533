/**
 * The sweep report's charts, rendered offline to SVG by the evaluate stage's renderer
 * (activities/evaluate/charts.ts `render`): the validation metric against each swept setting with
 * its interval, and for a two-setting grid a heat map of the metric over both.
 */
import type { TopLevelSpec } from 'vega-lite';
import { BASE_CONFIG, render } from '../evaluate/charts.ts';
import { formatSweepValue, type SweepSettingScore } from '../../schemas/sweep.ts';

export interface SweepChartInput {
  title: string;
  /** The swept key on x. */
  key: string;
  /** Its values in config order (the axis order). */
  order: string[];
  /** What the interval is over, for the axis title. */
  intervalOver: 'seeds' | 'folds';
  settings: SweepSettingScore[];
}

const scored = (settings: SweepSettingScore[]) => settings.filter((s) => s.validation !== null);
/** The setting's other swept values, naming its line in a chart over `key`. */
const rest = (s: SweepSettingScore, key: string): string =>
  Object.entries(s.values)
    .filter(([k]) => k !== key)
    .map(([k, v]) => `${k}=${formatSweepValue(v)}`)
    .join(', ') || 'all';

/** Validation weighted F1 (mean and 95% interval) against one swept key; one colour per combination of the others. */
export async function sweepMetricSvg(input: SweepChartInput): Promise<string> {
  const { title, key, order } = input;
  const values = scored(input.settings)
    .filter((s) => key in s.values)
    .map((s) => ({
      x: formatSweepValue(s.values[key]),
      series: rest(s, key),
      mean: s.validation!.mean,
      low: s.validation!.low,
      high: s.validation!.high,
      chosen: s.rank === 1,
    }));
  if (!values.length) throw new Error(`sweepMetricSvg: no scored setting has ${key}`);
  const series = [...new Set(values.map((v) => v.series))];
  // Short: a rotated axis title longer than the plot's height would stretch the whole figure.
  const yTitle = `Validation wF1 (95% CI, ${input.intervalOver})`;
  const x = { field: 'x', type: 'ordinal' as const, sort: order, title: key, axis: { labelAngle: 0 } };
  const color = {
    field: 'series',
    type: 'nominal' as const,
    title: series.length > 1 ? 'Other settings' : 'Setting',
    scale: { domain: series, scheme: 'tableau10' },
  };
  const spec: TopLevelSpec = {
    title,
    width: Math.max(360, Math.min(720, order.length * 120)),
    height: 280,
    data: { values },
    encoding: { x, xOffset: { field: 'series', type: 'nominal', sort: series }, color },
    layer: [
      {
        name: 'intervals',
        mark: { type: 'errorbar', ticks: { size: 6 }, thickness: 1.5 },
        encoding: {
          y: { field: 'low', type: 'quantitative', title: yTitle, scale: { zero: false } },
          y2: { field: 'high' },
        },
      },
      {
        name: 'means',
        mark: { type: 'point', filled: true, size: 70 },
        encoding: {
          y: { field: 'mean', type: 'quantitative', title: yTitle },
          shape: {
            field: 'chosen',
            type: 'nominal',
            title: 'Chosen',
            scale: { domain: [true, false], range: ['diamond', 'circle'] },
          },
        },
      },
    ],
    config: BASE_CONFIG,
  };
  return render('sweep-metric', input, title, spec);
}

export interface SweepHeatmapInput {
  title: string;
  keys: [string, string];
  orders: [string[], string[]];
  settings: SweepSettingScore[];
}

/** A two-setting grid: the mean validation weighted F1 of each cell, the chosen one starred; unscored cells left blank. */
export async function sweepHeatmapSvg(input: SweepHeatmapInput): Promise<string> {
  const { title, keys, orders } = input;
  const values = scored(input.settings).map((s) => ({
    x: formatSweepValue(s.values[keys[0]]),
    y: formatSweepValue(s.values[keys[1]]),
    mean: s.validation!.mean,
    text: `${s.validation!.mean.toFixed(3)}${s.rank === 1 ? ' \u2605' : ''}`,
  }));
  if (!values.length) throw new Error('sweepHeatmapSvg: no scored setting');
  const cell = 72;
  const means = values.map((v) => v.mean);
  const mid = (Math.min(...means) + Math.max(...means)) / 2;
  const spec: TopLevelSpec = {
    title,
    width: cell * orders[0].length,
    height: cell * orders[1].length,
    data: { values },
    encoding: {
      x: { field: 'x', type: 'ordinal', sort: orders[0], title: keys[0], axis: { labelAngle: 0 } },
      y: { field: 'y', type: 'ordinal', sort: orders[1], title: keys[1] },
    },
    layer: [
      {
        name: 'cells',
        mark: { type: 'rect', stroke: 'white', strokeWidth: 1 },
        encoding: {
          color: {
            field: 'mean',
            type: 'quantitative',
            title: 'Validation weighted F1',
            scale: { scheme: 'viridis' },
          },
        },
      },
      {
        name: 'labels',
        mark: { type: 'text', baseline: 'middle', fontSize: 12, fontWeight: 'bold' },
        encoding: {
          text: { field: 'text', type: 'nominal' },
          // viridis is light at the top of its range: dark text there, white below.
          color: { condition: { test: `datum.mean >= ${mid}`, value: '#111' }, value: 'white' },
        },
      },
    ],
    config: { ...BASE_CONFIG, view: { stroke: null }, axis: { ...BASE_CONFIG.axis, grid: false } },
  };
  return render('sweep-heatmap', input, title, spec);
}
