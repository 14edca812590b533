import { z } from 'zod';
import type { LabelSetName } from './manifest.ts';

/**
 * Cross-corpus evaluation (`evaluate.crossCorpus: true`): each dataset's trained models tested on the
 * other dataset's test utterances over the classes both label sets share. The class mapping is here
 * and only here; the report prints it and activities/evaluate/README.md documents it.
 *
 * Decision record: the shared classes are the four emotions both corpora annotate under their own
 * names. IEMOCAP's `exc` (excited) joins `happy` only where the label set itself merges it (4class,
 * whose `hap` class already holds every `exc` utterance since the acquire stage); in 6class `exc` is a
 * class of its own and stays out, as do IEMOCAP's `fru` and MELD's surprise, disgust and fear. A
 * model's prediction over the shared classes sums the probabilities of its classes that map to each
 * shared class and takes the largest: a model never "predicts" a class the other corpus lacks. The
 * in-corpus figure it is compared with is recomputed the same way on the model's own test
 * predictions, over the same shared classes.
 */

export const SHARED_CLASSES = ['neutral', 'happy', 'sad', 'angry'] as const;
export type SharedClass = (typeof SHARED_CLASSES)[number];

/** Each label set's classes that map to a shared class; classes not listed stay out. */
export const SHARED_CLASS_MAP: Readonly<Record<LabelSetName, Readonly<Record<string, SharedClass>>>> = {
  '6class': { neu: 'neutral', hap: 'happy', sad: 'sad', ang: 'angry' },
  // `hap` here already includes `exc` (activities/acquire/labels.ts merges it into 4class's hap).
  '4class': { neu: 'neutral', hap: 'happy', sad: 'sad', ang: 'angry' },
  meld7: { neutral: 'neutral', joy: 'happy', sadness: 'sad', anger: 'angry' },
  // Sentiments are not emotions: no shared class.
  sentiment3: {},
};

/** The shared classes two label sets both map to, in SHARED_CLASSES order. */
export function sharedClasses(a: LabelSetName, b: LabelSetName): SharedClass[] {
  const of = (l: LabelSetName) => new Set(Object.values(SHARED_CLASS_MAP[l]));
  const sa = of(a);
  const sb = of(b);
  return SHARED_CLASSES.filter((c) => sa.has(c) && sb.has(c));
}

/** The mapping as a line for reports: `6class: neu -> neutral, hap -> happy, ...`. */
export function describeSharedMapping(labelSet: LabelSetName): string {
  const entries = Object.entries(SHARED_CLASS_MAP[labelSet]);
  return `${labelSet}: ${entries.length ? entries.map(([c, s]) => `${c} -> ${s}`).join(', ') : '(no shared class)'}`;
}

const figures = z.strictObject({ accuracy: z.number(), weightedF1: z.number(), n: z.int().nonnegative() });

export const CrossCorpusFoldSchema = z.strictObject({
  fold: z.string(),
  trainKey: z.string(),
  /** The fold's model on its own test utterances, over the shared classes. */
  inCorpus: figures,
  /** The same model on the other dataset's test utterances, over the shared classes. */
  crossCorpus: figures,
});

export const CrossCorpusVariantSchema = z.strictObject({
  variant: z.string(),
  folds: z.array(CrossCorpusFoldSchema).min(1),
  /** Means over the source dataset's folds. */
  inCorpus: z.strictObject({ accuracy: z.number(), weightedF1: z.number() }),
  crossCorpus: z.strictObject({ accuracy: z.number(), weightedF1: z.number() }),
  /** inCorpus - crossCorpus: how much is lost on the other corpus. */
  drop: z.strictObject({ accuracy: z.number(), weightedF1: z.number() }),
});

export const CrossCorpusDirectionSchema = z.strictObject({
  /** Whose models. */
  source: z.string(),
  sourceLabelSet: z.string(),
  /** Whose test utterances. */
  target: z.string(),
  targetLabelSet: z.string(),
  /** Target test utterances in a shared class (tested), and those outside every shared class (left out). */
  targetUtterances: z.int().nonnegative(),
  targetLeftOut: z.int().nonnegative(),
  variants: z.array(CrossCorpusVariantSchema),
});
export type CrossCorpusDirection = z.infer<typeof CrossCorpusDirectionSchema>;

export const CROSS_CORPUS_SCHEMA = 'mer-cross-corpus';
export const CrossCorpusReportSchema = z.strictObject({
  schema: z.literal(CROSS_CORPUS_SCHEMA),
  version: z.literal(1),
  key: z.string(),
  sharedClasses: z.array(z.string()).min(2),
  /** Per dataset: its label set and `class -> shared class`. */
  mapping: z.record(z.string(), z.strictObject({ labelSet: z.string(), classes: z.record(z.string(), z.string()) })),
  directions: z.array(CrossCorpusDirectionSchema).min(1),
});
export type CrossCorpusReport = z.infer<typeof CrossCorpusReportSchema>;
