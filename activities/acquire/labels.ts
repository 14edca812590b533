import type { LabelSetName, ManifestDataset } from '../../schemas/manifest.ts';

/**
 * Label sets. The order of `classes` is the class index used by training and evaluation, so it must
 * never change for an existing label set (cached models and reports depend on it).
 */

/** IEMOCAP majority-vote codes as they appear in EmoEvaluation files. */
export const IEMOCAP_NATIVE_LABELS = [
  'neu',
  'fru',
  'ang',
  'sad',
  'exc',
  'hap',
  'sur',
  'fea',
  'oth',
  'dis',
  'xxx',
] as const;

/** The paper's six classes, in its order. */
export const IEMOCAP_6CLASS = ['hap', 'sad', 'neu', 'ang', 'exc', 'fru'] as const;

/** The common four-class protocol: excitement is merged into happiness. */
export const IEMOCAP_4CLASS = ['neu', 'hap', 'ang', 'sad'] as const;

export const MELD_EMOTIONS = ['neutral', 'joy', 'surprise', 'anger', 'sadness', 'disgust', 'fear'] as const;
export const MELD_SENTIMENTS = ['neutral', 'positive', 'negative'] as const;

export interface LabelSetDefinition {
  name: LabelSetName;
  dataset: ManifestDataset;
  classes: readonly string[];
  /** Native label (lower case) to class index; natives not listed are outside the set. */
  indexOf: ReadonlyMap<string, number>;
}

function identity(classes: readonly string[]): Map<string, number> {
  return new Map(classes.map((c, i) => [c, i]));
}

export const LABEL_SET_DEFINITIONS: Readonly<Record<LabelSetName, LabelSetDefinition>> = {
  '6class': { name: '6class', dataset: 'iemocap', classes: IEMOCAP_6CLASS, indexOf: identity(IEMOCAP_6CLASS) },
  '4class': {
    name: '4class',
    dataset: 'iemocap',
    classes: IEMOCAP_4CLASS,
    indexOf: new Map([...identity(IEMOCAP_4CLASS), ['exc', IEMOCAP_4CLASS.indexOf('hap')]]),
  },
  meld7: { name: 'meld7', dataset: 'meld', classes: MELD_EMOTIONS, indexOf: identity(MELD_EMOTIONS) },
  sentiment3: { name: 'sentiment3', dataset: 'meld', classes: MELD_SENTIMENTS, indexOf: identity(MELD_SENTIMENTS) },
};

export function labelSetDefinition(name: LabelSetName): LabelSetDefinition {
  const def = LABEL_SET_DEFINITIONS[name];
  if (!def)
    throw new Error(`unknown label set ${String(name)}; known: ${Object.keys(LABEL_SET_DEFINITIONS).join(', ')}`);
  return def;
}

export interface MappedLabel {
  /** -1 when the native label is outside the label set. */
  labelIndex: number;
  labelName: string | null;
}

/**
 * Maps a native label into a label set. Matching ignores case and surrounding space because the
 * corpora are not consistent about either; the returned name is the canonical class name.
 */
export function mapLabel(labelSet: LabelSetName, native: string): MappedLabel {
  const def = labelSetDefinition(labelSet);
  const index = def.indexOf.get(native.trim().toLowerCase());
  if (index === undefined) return { labelIndex: -1, labelName: null };
  return { labelIndex: index, labelName: def.classes[index] };
}
