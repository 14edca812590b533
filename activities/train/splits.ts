import type { ManifestRow } from '../../schemas/manifest.ts';
import {
  PROTOCOLS_BY_DATASET,
  SplitParamsSchema,
  type Fold,
  type Partition,
  type SplitParams,
  type SplitParamsInput,
  type SplitPlan,
} from '../../schemas/train.ts';
import { labelSetDefinition } from '../acquire/labels.ts';
import { contentKey, sha256Hex } from '../common/hash.ts';
import { Rng } from '../model/rng.ts';

/**
 * Fold splits per protocol (model-spec section 6). Only labelled rows (labelIndex >= 0) that no stage
 * quarantined take part. Rows are ordered by utterance id first, so a plan depends on the set of rows
 * and the parameters only, never on the order a manifest was written in.
 *
 * Validation splits:
 * - `loso`: inside the four training sessions, from the session after the test session (cyclically:
 *   test 1 -> 2, ..., test 5 -> 1). `speaker` (default) holds out one actor of that session, alternating
 *   F and M over the folds, so model selection is on an unseen speaker, as the test fold is, at the cost
 *   of 1/8 of the training data. The actor's conversation partner stays in training: validation is
 *   speaker-independent, not dialogue-independent. `session` holds out the whole session (both, at
 *   the cost of 1/4 of the training data).
 * - `s5`: the last N dialogues of session 4 in natural order of their ids (impro2 before impro10).
 * - `official`: MELD's dev split.
 * - `paper`: the test fold itself, as the reference selects; flagged `optimistic`.
 */

/** Bumped whenever the same inputs would give other folds. */
export const SPLITS_CODE_VERSION = 1;

/** Distinguishes the fold shuffle from every other use of the seed. */
const SPLIT_STREAM = 0x53504c54; // 'SPLT'

export interface SplitInput {
  /** One manifest: a single dataset and label set. */
  readonly rows: readonly ManifestRow[];
  readonly params: SplitParams | SplitParamsInput;
  /** Utterances a stage quarantined (no usable media or features). */
  readonly exclude?: Iterable<string>;
}

/** Cache key of a split plan: the manifest it came from, the parameters and the exclusions. */
export function splitsKey(
  manifestKey: string,
  params: SplitParams | SplitParamsInput,
  exclude: Iterable<string> = [],
): string {
  return contentKey({
    stage: 'train/splits',
    code: SPLITS_CODE_VERSION,
    manifest: manifestKey,
    params: SplitParamsSchema.parse(params),
    excluded: sha256Hex([...new Set(exclude)].sort().join('\n')),
  });
}

/** Compares ids with runs of digits as numbers: Ses01F_impro2 < Ses01F_impro10. */
export function naturalCompare(a: string, b: string): number {
  const re = /(\d+)|(\D+)/g;
  const pa = a.match(re) ?? [];
  const pb = b.match(re) ?? [];
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
    const x = pa[i];
    const y = pb[i];
    const nx = /^\d/.test(x);
    const ny = /^\d/.test(y);
    if (nx && ny) {
      const d = Number(x) - Number(y);
      if (d !== 0) return d;
      if (x.length !== y.length) return x.length - y.length;
    } else if (x !== y) {
      return x < y ? -1 : 1;
    }
  }
  return pa.length - pb.length;
}

function partition(rows: readonly ManifestRow[]): Partition {
  return { utteranceIds: rows.map((r) => r.utteranceId), labels: rows.map((r) => r.labelIndex) };
}

function fold(
  index: number,
  name: string,
  testGroup: string,
  parts: { train: ManifestRow[]; validation: ManifestRow[]; test: ManifestRow[] },
  validationRule: string,
  optimistic = false,
): Fold {
  for (const [what, rows] of Object.entries(parts)) {
    if (rows.length === 0) throw new Error(`splits: fold ${name} has an empty ${what} split`);
  }
  return {
    index,
    name,
    testGroup,
    train: partition(parts.train),
    validation: partition(parts.validation),
    test: partition(parts.test),
    validationRule,
    optimistic,
  };
}

function sessionOf(r: ManifestRow): number {
  if (r.session === null) throw new Error(`splits: IEMOCAP row ${r.utteranceId} has no session`);
  return r.session;
}

function loso(rows: ManifestRow[], params: SplitParams): Fold[] {
  const sessions = [...new Set(rows.map(sessionOf))].sort((a, b) => a - b);
  const minimum = params.losoValidation === 'session' ? 3 : 2;
  if (sessions.length < minimum)
    throw new Error(
      `splits: loso with ${params.losoValidation} validation needs ${minimum} sessions, the manifest has ${sessions.join(', ') || 'none'}`,
    );
  return sessions.map((s, i) => {
    const v = sessions[(i + 1) % sessions.length];
    const test = rows.filter((r) => r.session === s);
    const rest = rows.filter((r) => r.session !== s);
    let inValidation: (r: ManifestRow) => boolean;
    let rule: string;
    if (params.losoValidation === 'session') {
      inValidation = (r) => r.session === v;
      rule = `all of Session${v} (speakers and dialogues unseen in training)`;
    } else {
      const preferred = i % 2 === 0 ? 'F' : 'M';
      const speakers = new Set(rest.filter((r) => r.session === v).map((r) => r.speaker));
      const speaker = speakers.has(preferred) ? preferred : [...speakers].sort()[0];
      inValidation = (r) => r.session === v && r.speaker === speaker;
      rule = `speaker ${speaker} of Session${v} (unseen in training; the partner's turns stay in training)`;
    }
    return fold(
      i,
      `loso-Session${s}`,
      `Session${s}`,
      { train: rest.filter((r) => !inValidation(r)), validation: rest.filter(inValidation), test },
      rule,
    );
  });
}

function s5(rows: ManifestRow[], params: SplitParams): Fold[] {
  const n = params.s5ValidationDialogues;
  const s4 = [...new Set(rows.filter((r) => r.session === 4).map((r) => r.dialogueId))].sort(naturalCompare);
  const held = new Set(s4.slice(-n));
  const isValidation = (r: ManifestRow) => r.session === 4 && held.has(r.dialogueId);
  const train = rows.filter((r) => sessionOf(r) >= 1 && sessionOf(r) <= 4 && !isValidation(r));
  const shown =
    s4.length <= n
      ? `all ${s4.length} dialogues of Session4`
      : `the last ${n} of ${s4.length} dialogues of Session4 (${s4[s4.length - n]} .. ${s4[s4.length - 1]})`;
  return [
    fold(
      0,
      's5',
      'Session5',
      { train, validation: rows.filter(isValidation), test: rows.filter((r) => r.session === 5) },
      shown,
    ),
  ];
}

function official(rows: ManifestRow[]): Fold[] {
  const by = (split: string) => rows.filter((r) => r.split === split);
  return [
    fold(0, 'official', 'test', { train: by('train'), validation: by('dev'), test: by('test') }, "MELD's dev split"),
  ];
}

function paper(rows: ManifestRow[], params: SplitParams): Fold[] {
  const k = params.folds;
  if (rows.length < k) throw new Error(`splits: ${rows.length} utterances cannot fill ${k} folds`);
  const perm = new Rng(params.seed, SPLIT_STREAM, rows.length).permutation(rows.length);
  // Contiguous blocks of the permutation, the first n % k one larger (scikit-learn's KFold sizes).
  const foldOf = new Int32Array(rows.length);
  const base = Math.floor(rows.length / k);
  const larger = rows.length % k;
  let at = 0;
  for (let f = 0; f < k; f++) {
    const size = base + (f < larger ? 1 : 0);
    for (let j = 0; j < size; j++) foldOf[perm[at++]] = f;
  }
  const width = String(k - 1).length;
  return Array.from({ length: k }, (_, f) => {
    const test = rows.filter((_, i) => foldOf[i] === f);
    const train = rows.filter((_, i) => foldOf[i] !== f);
    return fold(
      f,
      `paper-${String(f).padStart(width, '0')}`,
      `fold ${f} of ${k}`,
      { train, validation: test, test },
      'the test fold itself (reference protocol: optimistic)',
      true,
    );
  });
}

/** Throws naming the fold and an utterance if any split shares utterances it must not. */
export function assertNoLeakage(plan: Pick<SplitPlan, 'folds'>): void {
  for (const f of plan.folds) {
    const train = new Set(f.train.utteranceIds);
    if (train.size !== f.train.utteranceIds.length)
      throw new Error(`splits: fold ${f.name} lists a training utterance twice`);
    const leak = (what: string, ids: readonly string[], into: ReadonlySet<string>, intoName: string) => {
      const hit = ids.find((id) => into.has(id));
      if (hit !== undefined) throw new Error(`splits: fold ${f.name}: ${what} utterance ${hit} is also in ${intoName}`);
    };
    leak('validation', f.validation.utteranceIds, train, 'train');
    leak('test', f.test.utteranceIds, train, 'train');
    const sameAsTest =
      f.validation.utteranceIds.length === f.test.utteranceIds.length &&
      f.validation.utteranceIds.every((id, i) => id === f.test.utteranceIds[i]);
    if (f.optimistic) {
      if (!sameAsTest)
        throw new Error(`splits: fold ${f.name} is marked optimistic but validates on other data than its test split`);
    } else {
      leak('validation', f.validation.utteranceIds, new Set(f.test.utteranceIds), 'test');
    }
  }
}

export function buildSplits(input: SplitInput): SplitPlan {
  const params = SplitParamsSchema.parse(input.params);
  const rows = input.rows;
  if (rows.length === 0) throw new Error('splits: the manifest has no rows');
  const { dataset, labelSet } = rows[0];
  const def = labelSetDefinition(labelSet);
  const seen = new Set<string>();
  for (const r of rows) {
    if (r.dataset !== dataset || r.labelSet !== labelSet) {
      throw new Error(
        `splits: row ${r.utteranceId} is ${r.dataset}/${r.labelSet}, the manifest is ${dataset}/${labelSet}`,
      );
    }
    if (seen.has(r.utteranceId)) throw new Error(`splits: utterance ${r.utteranceId} appears twice in the manifest`);
    seen.add(r.utteranceId);
    if (r.labelIndex >= def.classes.length)
      throw new Error(`splits: row ${r.utteranceId} has class ${r.labelIndex}, ${labelSet} has ${def.classes.length}`);
  }
  if (!PROTOCOLS_BY_DATASET[dataset].includes(params.protocol)) {
    throw new Error(
      `splits: protocol ${params.protocol} does not apply to ${dataset} (use ${PROTOCOLS_BY_DATASET[dataset].join(' or ')})`,
    );
  }
  const exclude = new Set(input.exclude ?? []);
  const labelled = rows.filter((r) => r.labelIndex >= 0);
  const used = labelled
    .filter((r) => !exclude.has(r.utteranceId))
    .sort((a, b) => (a.utteranceId < b.utteranceId ? -1 : a.utteranceId > b.utteranceId ? 1 : 0));
  const folds =
    params.protocol === 'loso'
      ? loso(used, params)
      : params.protocol === 's5'
        ? s5(used, params)
        : params.protocol === 'official'
          ? official(used)
          : paper(used, params);
  const plan: SplitPlan = {
    dataset,
    labelSet,
    classes: [...def.classes],
    params,
    optimistic: folds.some((f) => f.optimistic),
    counts: {
      rows: rows.length,
      unlabelled: rows.length - labelled.length,
      excluded: labelled.length - used.length,
      used: used.length,
    },
    folds,
  };
  assertNoLeakage(plan);
  return plan;
}
