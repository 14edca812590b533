/**
 * Resampling statistics of the evaluate stage (activities/evaluate/stats/) at full test-set scale:
 * 10,000 utterances in 1,000 dialogues, 7 classes (MELD-sized label set). Reported: bootstrap and
 * randomisation rounds per second of the per-cluster-counts implementation, against a naive
 * per-utterance reference run side by side on the same draws (each round rebuilds the resampled
 * utterances and scores them with classificationMetrics, as a straightforward port of the Python
 * reference would), and the wall time of one pairedTest at its defaults (10,000 randomisation rounds +
 * 10,000 paired bootstrap rounds for the interval). The naive reference runs fewer rounds (it is slow)
 * and is reported per round; the bench checks both give the same interval on the same seed first.
 */
import { mulberry32 } from '../../activities/common/mulberry32.ts';
import { bootstrapInterval, pairedTest } from '../../activities/evaluate/stats/index.ts';
import { classificationMetrics } from '../../activities/model/metrics.ts';
import type { BenchRow } from '../types.ts';

const BENCH = 'evaluate/stats';
const UTTERANCES = 10_000;
const DIALOGUES = 1_000;
const CLASSES = 7;
const NAIVE_ROUNDS = 200;

function corpus() {
  const rand = mulberry32(7);
  const yTrue: number[] = [];
  const predA: number[] = [];
  const predB: number[] = [];
  const clusters: string[] = [];
  for (let i = 0; i < UTTERANCES; i++) {
    const y = Math.floor(rand() * CLASSES);
    yTrue.push(y);
    predA.push(rand() < 0.6 ? y : Math.floor(rand() * CLASSES));
    predB.push(rand() < 0.55 ? y : Math.floor(rand() * CLASSES));
    clusters.push(`dia${Math.floor((i * DIALOGUES) / UTTERANCES)}`);
  }
  return { yTrue, predA, predB, clusters, classes: CLASSES };
}

/** The straightforward per-utterance bootstrap: the same draws, every round rebuilt from the utterances. */
function naiveBootstrap(c: ReturnType<typeof corpus>, rounds: number, seed: number): number[] {
  const members = new Map<string, number[]>();
  c.clusters.forEach((k, i) => {
    const m = members.get(k);
    if (m) m.push(i);
    else members.set(k, [i]);
  });
  const groups = [...members.values()];
  const rand = mulberry32(seed);
  const out: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const y: number[] = [];
    const p: number[] = [];
    for (let j = 0; j < groups.length; j++) {
      for (const i of groups[Math.floor(rand() * groups.length)]) {
        y.push(c.yTrue[i]);
        p.push(c.predA[i]);
      }
    }
    out.push(classificationMetrics(y, p, c.classes).weightedF1);
  }
  return out;
}

/** The straightforward per-utterance randomisation round: swap per cluster, rescore both systems. */
function naiveRandomisation(c: ReturnType<typeof corpus>, rounds: number, seed: number): void {
  const index = new Map<string, number>();
  const of = c.clusters.map((k) => {
    if (!index.has(k)) index.set(k, index.size);
    return index.get(k)!;
  });
  const rand = mulberry32(seed);
  const a = new Int32Array(UTTERANCES);
  const b = new Int32Array(UTTERANCES);
  for (let r = 0; r < rounds; r++) {
    const swap = Array.from({ length: index.size }, () => rand() < 0.5);
    for (let i = 0; i < UTTERANCES; i++) {
      a[i] = swap[of[i]] ? c.predB[i] : c.predA[i];
      b[i] = swap[of[i]] ? c.predA[i] : c.predB[i];
    }
    classificationMetrics(c.yTrue, a, c.classes);
    classificationMetrics(c.yTrue, b, c.classes);
  }
}

function seconds<T>(f: () => T): [number, T] {
  const t0 = performance.now();
  const v = f();
  return [(performance.now() - t0) / 1000, v];
}

export default function run(): BenchRow[] {
  const c = corpus();
  const one = { yTrue: c.yTrue, yPred: c.predA, clusters: c.clusters, classes: c.classes };
  // Same draws, same interval: the reference computes the same thing.
  const check = bootstrapInterval(one, 'weightedF1', { rounds: NAIVE_ROUNDS, seed: 3 });
  const naive = naiveBootstrap(c, NAIVE_ROUNDS, 3).sort((x, y) => x - y);
  if (Math.abs(naive[0] - check.low) > 0.05 || Math.abs(naive[NAIVE_ROUNDS - 1] - check.high) > 0.05) {
    throw new Error('bench: the naive reference and bootstrapInterval disagree');
  }
  bootstrapInterval(one, 'weightedF1', { rounds: 200 }); // warm-up
  const [tFast] = seconds(() => bootstrapInterval(one, 'weightedF1', { rounds: 10_000 }));
  const [tNaive] = seconds(() => naiveBootstrap(c, NAIVE_ROUNDS, 0));
  const bootFast = 10_000 / tFast;
  const bootNaive = NAIVE_ROUNDS / tNaive;
  const input = { yTrue: c.yTrue, predA: c.predA, predB: c.predB, clusters: c.clusters, classes: c.classes };
  const [tPaired] = seconds(() => pairedTest(input, 'weightedF1'));
  const [tNaiveRand] = seconds(() => naiveRandomisation(c, NAIVE_ROUNDS, 0));
  // pairedTest runs 10,000 randomisation and 10,000 paired bootstrap rounds: rounds/s over all 20,000,
  // against the naive reference's randomisation rounds (its costliest kind).
  const pairedPerRound = 20_000 / tPaired;
  const naiveRandPerRound = NAIVE_ROUNDS / tNaiveRand;
  const shape = `${UTTERANCES} utterances, ${DIALOGUES} dialogues, ${CLASSES} classes; one core`;
  return [
    {
      bench: BENCH,
      metric: 'cluster bootstrap rounds/s (weighted F1)',
      value: bootFast,
      unit: 'rounds/s',
      reference: { name: 'naive per-utterance', value: bootNaive },
      ratio: bootFast / bootNaive,
      notes: `${shape}; 10,000 rounds; reference ${NAIVE_ROUNDS} rounds`,
    },
    {
      bench: BENCH,
      metric: 'pairedTest rounds/s (randomisation + paired bootstrap)',
      value: pairedPerRound,
      unit: 'rounds/s',
      reference: { name: 'naive per-utterance randomisation', value: naiveRandPerRound },
      ratio: pairedPerRound / naiveRandPerRound,
      notes: `${shape}; defaults: 10,000 + 10,000 rounds`,
    },
    {
      bench: BENCH,
      metric: 'pairedTest wall time at its defaults',
      value: tPaired,
      unit: 's',
      reference: { name: 'naive per-utterance, extrapolated', value: 20_000 / naiveRandPerRound },
      ratio: tPaired / (20_000 / naiveRandPerRound),
      notes: shape,
    },
  ];
}
