/**
 * Whether two reports' pooled test predictions cover the same utterances with the same labels, and
 * if so, the aligned arrays a paired test needs.
 *
 * Decision record: a paired test is only valid on the very same test items, so coincidence is
 * strict: the same utterance ids, each once, and the same true class name for every one. Anything
 * else is reported with its counts (only in A, only in B, label differs) instead of being tested on
 * the overlap, which would compare different test sets under one name. Labels are matched by class
 * name, so two reports whose class orders differ still pair.
 */
import type { PredictionRows } from '../../train/predictions.ts';

export interface Coincidence {
  coincide: boolean;
  utterances: { a: number; b: number; shared: number };
  onlyInA: number;
  onlyInB: number;
  labelDiffers: number;
  /** Why they do not coincide, in words; absent when they do. */
  reason?: string;
  /** When they coincide: A's order, class indices in A's classes. */
  aligned?: {
    ids: string[];
    yTrue: Int32Array;
    predA: Int32Array;
    predB: Int32Array;
    classes: string[];
    /** The dialogue of each utterance: the unit the paired test resamples. */
    clusters: string[];
  };
}

/**
 * The dialogue an utterance belongs to, from its id: the id less its last `_` part
 * (`Ses01F_impro01_F000` -> `Ses01F_impro01`, `meld_test_dia12_utt3` -> `meld_test_dia12`), as the
 * acquire stage builds both (activities/acquire/iemocap.ts, meld.ts).
 */
export function dialogueOf(utteranceId: string): string {
  const cut = utteranceId.lastIndexOf('_');
  return cut > 0 ? utteranceId.slice(0, cut) : utteranceId;
}

function duplicates(ids: readonly string[]): number {
  return ids.length - new Set(ids).size;
}

export function coincidence(a: PredictionRows, b: PredictionRows): Coincidence {
  const indexB = new Map<string, number>();
  b.utteranceIds.forEach((id, i) => indexB.set(id, i));
  const idsA = new Set(a.utteranceIds);
  let shared = 0;
  let labelDiffers = 0;
  for (let i = 0; i < a.utteranceIds.length; i++) {
    const j = indexB.get(a.utteranceIds[i]);
    if (j === undefined) continue;
    shared++;
    if (a.classes[a.labels[i]] !== b.classes[b.labels[j]]) labelDiffers++;
  }
  const onlyInA = [...idsA].filter((id) => !indexB.has(id)).length;
  const onlyInB = [...indexB.keys()].filter((id) => !idsA.has(id)).length;
  const base = {
    utterances: { a: a.utteranceIds.length, b: b.utteranceIds.length, shared },
    onlyInA,
    onlyInB,
    labelDiffers,
  };
  const dupA = duplicates(a.utteranceIds);
  const dupB = duplicates(b.utteranceIds);
  const why: string[] = [];
  if (onlyInA || onlyInB) why.push(`${onlyInA} test utterance(s) only in A, ${onlyInB} only in B`);
  if (labelDiffers) why.push(`${labelDiffers} shared utterance(s) with a different true label`);
  if (dupA || dupB) why.push(`utterances tested more than once (${dupA} in A, ${dupB} in B)`);
  const sameClasses = a.classes.length === b.classes.length && b.classes.every((c) => a.classes.includes(c));
  if (!sameClasses) why.push(`different classes (${a.classes.join(',')} vs ${b.classes.join(',')})`);
  if (why.length) return { coincide: false, ...base, reason: `the test sets differ: ${why.join('; ')}` };

  const classIndex = new Map(a.classes.map((c, i) => [c, i]));
  const n = a.utteranceIds.length;
  const predB = new Int32Array(n);
  for (let i = 0; i < n; i++) predB[i] = classIndex.get(b.classes[b.predicted[indexB.get(a.utteranceIds[i])!]])!;
  return {
    coincide: true,
    ...base,
    aligned: {
      ids: [...a.utteranceIds],
      yTrue: Int32Array.from(a.labels),
      predA: Int32Array.from(a.predicted),
      predB,
      classes: [...a.classes],
      clusters: a.utteranceIds.map(dialogueOf),
    },
  };
}
