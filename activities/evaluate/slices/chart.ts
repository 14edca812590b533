/**
 * Slice charts (Vega-Lite, rendered like every report chart by ../charts.ts): a metric per slice with
 * its bootstrap interval as an error bar, one colour per variant; and the full model's per-class recall
 * gain over each single modality, bars with paired intervals. Small slices are drawn hollow (still
 * drawn: the intervals show how little they rest on).
 */
import type { TopLevelSpec } from 'vega-lite';
import type { Slices } from '../../../schemas/slices.ts';
import { BASE_CONFIG, render } from '../charts.ts';

export type SliceChartMetric = 'accuracy' | 'weightedF1';

const METRIC_TITLE: Record<SliceChartMetric, string> = { accuracy: 'accuracy', weightedF1: 'weighted F1' };

/** One point per (variant, slice) with its interval; x is the slice, grouped by kind in the data's order. */
export async function sliceIntervalsSvg(slices: Slices, metric: SliceChartMetric, title: string): Promise<string> {
  const values = slices.variants.flatMap((v) =>
    v.slices.map((s) => ({
      variant: v.variant,
      slice: `${s.kind}: ${s.name}`,
      estimate: s[metric].estimate,
      low: s[metric].low,
      high: s[metric].high,
      n: s.n,
      small: s.small,
    })),
  );
  if (values.length === 0) throw new Error('sliceIntervalsSvg: no slices');
  const variants = [...new Set(values.map((x) => x.variant))];
  const order = [...new Set(values.map((x) => x.slice))];
  const yTitle = `Test ${METRIC_TITLE[metric]} (${Math.round(slices.method.level * 100)}% bootstrap interval)`;
  const x = { field: 'slice', type: 'nominal' as const, sort: order, title: 'Slice', axis: { labelAngle: -40 } };
  const xOffset = { field: 'variant', type: 'nominal' as const, sort: variants };
  const color = {
    field: 'variant',
    type: 'nominal' as const,
    title: 'Variant',
    sort: variants,
    scale: { domain: variants, scheme: 'tableau10' },
  };
  const spec: TopLevelSpec = {
    title,
    width: Math.max(480, Math.min(1400, order.length * (variants.length * 9 + 14))),
    height: 320,
    data: { values },
    encoding: { x, xOffset, color },
    layer: [
      {
        mark: { type: 'errorbar', ticks: { size: 4 }, thickness: 1.2 },
        encoding: { y: { field: 'low', type: 'quantitative', title: yTitle }, y2: { field: 'high' } },
      },
      {
        name: 'points',
        mark: { type: 'point', size: 36, strokeWidth: 1.5 },
        encoding: {
          y: { field: 'estimate', type: 'quantitative', title: yTitle },
          // Small slices hollow: drawn, and marked as resting on little data.
          fill: {
            condition: { test: 'datum.small', value: 'white' },
            field: 'variant',
            type: 'nominal',
            sort: variants,
            scale: { domain: variants, scheme: 'tableau10' },
          },
          tooltip: [{ field: 'variant' }, { field: 'slice' }, { field: 'n' }, { field: 'estimate', format: '.3f' }],
        },
      },
    ],
    config: BASE_CONFIG,
  };
  return render('slices', values, title, spec);
}

/** Per class, full-model recall minus each single-modality variant's, with the paired interval. */
export async function classGainsSvg(gains: NonNullable<Slices['classGains']>, title: string): Promise<string> {
  const values = gains.perClass.flatMap((c) =>
    c.against.map((a) => ({ class: c.class, against: a.variant, gain: a.gain, low: a.low, high: a.high })),
  );
  if (values.length === 0) throw new Error('classGainsSvg: no classes');
  const classes = gains.perClass.map((c) => c.class);
  const yTitle = `Recall gain of ${gains.full} (interval)`;
  const x = { field: 'class', type: 'nominal' as const, sort: classes, title: 'Class', axis: { labelAngle: 0 } };
  const xOffset = { field: 'against', type: 'nominal' as const, sort: gains.against };
  const spec: TopLevelSpec = {
    title,
    width: Math.max(480, Math.min(1200, classes.length * (gains.against.length * 22 + 30))),
    height: 300,
    data: { values },
    layer: [
      {
        name: 'gains',
        mark: { type: 'bar' },
        encoding: {
          x,
          xOffset,
          y: { field: 'gain', type: 'quantitative', title: yTitle },
          color: {
            field: 'against',
            type: 'nominal',
            title: `${gains.full} against`,
            sort: gains.against,
            scale: { domain: gains.against, scheme: 'tableau10' },
          },
        },
      },
      {
        mark: { type: 'errorbar', ticks: { size: 6 }, color: '#222', thickness: 1.5 },
        encoding: { x, xOffset, y: { field: 'low', type: 'quantitative', title: yTitle }, y2: { field: 'high' } },
      },
      { mark: { type: 'rule', color: '#666' }, encoding: { y: { datum: 0 } } },
    ],
    config: BASE_CONFIG,
  };
  return render('class-gains', values, title, spec);
}
