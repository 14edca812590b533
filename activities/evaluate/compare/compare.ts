/**
 * `mer compare`: reports side by side, a paired test wherever two of them tested the same utterances,
 * and what differs in how they were made.
 *
 * Decision record: entries are compared per dataset (an IEMOCAP report never pairs with a MELD one)
 * and per variant name (a run's `T+A+V` with another run's `T+A+V`). The paired test is the stats
 * module's (activities/evaluate/stats/), over dialogues, on the pooled predictions of every fold: the
 * same figure the report's pooled metrics describe. Its seed is fixed, so a comparison is repeatable.
 */
import {
  COMPARE_SCHEMA,
  COMPARE_VERSION,
  ComparisonSchema,
  type CompareEntry,
  type CompareMetricsRow,
  type ComparePair,
  type Comparison,
  type PairedResult,
  type ProvenanceDiff,
} from '../../../schemas/compare.ts';
import { pairedTest } from '../stats/index.ts';
import { coincidence } from './coincide.ts';
import { diffReports } from './diff.ts';
import { loadPredictions, reportedIntervals, reportedPooledIntervals, type LoadedReport } from './read.ts';

export interface CompareInput {
  /** The argument as the user gave it. */
  argument: string;
  kind: 'run' | 'report';
  report: LoadedReport;
}

export interface CompareOptions {
  /** Paired test rounds (default 10,000) and seed (default 0). */
  rounds?: number;
  seed?: number;
}

export const PAIRED_METRICS = ['accuracy', 'weightedF1'] as const;
const DEFAULT_ROUNDS = 10_000;

/** Entry names: A, B, ..., Z, AA, AB, ... */
export function entryId(i: number): string {
  let s = '';
  for (let n = i + 1; n > 0; n = Math.floor((n - 1) / 26)) s = String.fromCharCode(65 + ((n - 1) % 26)) + s;
  return s;
}

export async function compareReports(inputs: CompareInput[], opts: CompareOptions = {}): Promise<Comparison> {
  if (inputs.length < 2) throw new Error('mer compare needs at least two reports');
  const rounds = opts.rounds ?? DEFAULT_ROUNDS;
  const seed = opts.seed ?? 0;
  const entries: CompareEntry[] = inputs.map((inp, i) => ({
    id: entryId(i),
    argument: inp.argument,
    kind: inp.kind,
    dataset: inp.report.metrics.dataset,
    evalKey: inp.report.metrics.evalKey,
    labelSet: inp.report.metrics.labelSet,
    protocol: inp.report.metrics.protocol,
    configHash: inp.report.run?.configHash ?? null,
    dir: inp.report.dir,
  }));

  const metrics: CompareMetricsRow[] = [];
  inputs.forEach((inp, i) => {
    for (const v of inp.report.metrics.variants) {
      const intervals = reportedIntervals(v);
      const pooled = reportedPooledIntervals(v);
      const pick = (f: { accuracy: number; weightedF1: number; macroF1: number }) => ({
        accuracy: f.accuracy,
        weightedF1: f.weightedF1,
        macroF1: f.macroF1,
      });
      metrics.push({
        entry: entries[i].id,
        dataset: entries[i].dataset,
        variant: v.name,
        folds: v.aggregate.folds,
        mean: pick(v.aggregate.mean),
        std: pick(v.aggregate.std),
        ...(Object.keys(intervals).length ? { intervals } : {}),
        ...(Object.keys(pooled).length ? { pooled } : {}),
      });
    }
  });

  const pairs: ComparePair[] = [];
  const provenance: ProvenanceDiff[] = [];
  for (let i = 0; i < inputs.length; i++) {
    for (let j = i + 1; j < inputs.length; j++) {
      const a = inputs[i].report;
      const b = inputs[j].report;
      if (a.metrics.dataset !== b.metrics.dataset) continue;
      const dataset = a.metrics.dataset;
      provenance.push({ dataset, a: entries[i].id, b: entries[j].id, differences: diffReports(a, b) });
      for (const va of a.metrics.variants) {
        const vb = b.metrics.variants.find((v) => v.name === va.name);
        if (!vb) continue;
        const pair = { dataset, variant: va.name, a: entries[i].id, b: entries[j].id };
        const [pa, pb] = [await loadPredictions(a, va), await loadPredictions(b, vb)];
        if (!pa || !pb) {
          pairs.push({
            ...pair,
            coincide: false,
            utterances: { a: pa?.utteranceIds.length ?? 0, b: pb?.utteranceIds.length ?? 0, shared: 0 },
            onlyInA: 0,
            onlyInB: 0,
            labelDiffers: 0,
            reason: `no predictions/${va.name}.parquet in ${!pa ? a.dir : b.dir}: fetch the report again with \`mer report\``,
          });
          continue;
        }
        const { aligned, ...c } = coincidence(pa, pb);
        if (!aligned) {
          pairs.push({ ...pair, ...c });
          continue;
        }
        // The stats module tests A - B: B goes first, so the difference reads as the change from A to B.
        const paired = {
          yTrue: Array.from(aligned.yTrue),
          predA: Array.from(aligned.predB),
          predB: Array.from(aligned.predA),
          clusters: aligned.clusters,
          classes: aligned.classes.length,
        };
        const tests: PairedResult[] = PAIRED_METRICS.map((metric) => {
          const t = pairedTest(paired, metric, { rounds, seed });
          return {
            metric,
            difference: t.difference,
            low: t.low,
            high: t.high,
            pValue: t.pValue,
            rounds: t.rounds,
            method: t.method,
            seed: t.seed,
          };
        });
        pairs.push({ ...pair, ...c, dialogues: new Set(aligned.clusters).size, tests });
      }
    }
  }
  return ComparisonSchema.parse({
    schema: COMPARE_SCHEMA,
    version: COMPARE_VERSION,
    entries,
    metrics,
    pairs,
    provenance,
    method: `paired test of B against A on the same test utterances (pooled predictions of every fold), by whole dialogues: difference B - A with its 95% paired cluster-bootstrap interval, two-sided p-value by approximate randomisation (each dialogue's predictions of A and B swapped with probability 1/2; assumes only that they are exchangeable under no difference), ${rounds} rounds, seed ${seed}; p-values not corrected for the number of comparisons`,
  });
}
