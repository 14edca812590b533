import type { AcquireIssue, ManifestRow, MeldSplit, RowFlag } from '../../schemas/manifest.ts';
import { MELD_SPLITS } from '../../schemas/manifest.ts';
import { mapLimit } from '../common/concurrency.ts';
import { ErrorTypes, MerError } from '../common/errors.ts';
import { mapLabel } from './labels.ts';
import type { BuildManifestInput, CorpusFile, ManifestBuildResult } from './manifest-common.ts';
import { meldKey, parseMeldCsv } from './meld-csv.ts';

export type { BuildManifestInput, CorpusFile, ManifestBuildResult, ReadCorpusFile } from './manifest-common.ts';
import {
  assertLabelSetFor,
  assertValidRow,
  baseName,
  dirName,
  isIgnoredPath,
  preferShallowest,
  readAnnotation,
  storeKey,
  summarise,
} from './manifest-common.ts';

// ---------------------------------------------------------------------------------------------------
// Corpus layout

export const MELD_CSV_NAMES: Record<MeldSplit, string> = {
  train: 'train_sent_emo.csv',
  dev: 'dev_sent_emo.csv',
  test: 'test_sent_emo.csv',
};

export const MELD_CLIP_DIRS: Record<MeldSplit, string> = {
  train: 'train_splits',
  dev: 'dev_splits_complete',
  test: 'output_repeated_splits_test',
};

const SPLIT_OF_CLIP_DIR = new Map<string, MeldSplit>(MELD_SPLITS.map((s) => [MELD_CLIP_DIRS[s], s]));
// Unbounded digits on purpose: a clip whose number no CSV row can have is still listed as an orphan.
const CLIP_RE = /^dia(\d+)_utt(\d+)\.mp4$/i;

/** How many orphan clip names an orphan issue lists; the count is always complete. */
export const ORPHAN_LIST_CAP = 20;

/**
 * Builds the MELD manifest. CSV copies: when a split's CSV exists at several places, the shallowest
 * path wins, which is the copy at the corpus root (`MELD.Raw/*.csv`): those are the maintained UTF-8
 * files, while the copies inside the split archives are older cp1252 ones. Ignored copies are reported.
 */
export async function buildMeldManifest(input: BuildManifestInput): Promise<ManifestBuildResult> {
  const { files, read, keyPrefix, labelSet, maxAnnotationBytes } = input;
  assertLabelSetFor('meld', labelSet);
  const issues: AcquireIssue[] = [];

  const csvCandidates = new Map<MeldSplit, CorpusFile[]>();
  const clipCandidates = new Map<string, CorpusFile[]>();
  for (const f of files) {
    if (isIgnoredPath(f.path)) continue;
    const name = baseName(f.path);
    for (const split of MELD_SPLITS) {
      if (name === MELD_CSV_NAMES[split]) {
        const list = csvCandidates.get(split) ?? [];
        list.push(f);
        csvCandidates.set(split, list);
      }
    }
    const split = SPLIT_OF_CLIP_DIR.get(baseName(dirName(f.path)));
    if (!split || name.startsWith('final_videos_test')) continue;
    const m = CLIP_RE.exec(name);
    if (!m) continue;
    const dia = Number(m[1]);
    const utt = Number(m[2]);
    // A number past 2^53 is not exact: such clips (no CSV row can name them) keep their own key, so two
    // of them are never taken for copies of one clip.
    const key =
      Number.isSafeInteger(dia) && Number.isSafeInteger(utt) ? meldKey(split, dia, utt) : `${split}/${f.path}`;
    const list = clipCandidates.get(key) ?? [];
    list.push(f);
    clipCandidates.set(key, list);
  }
  if (csvCandidates.size === 0) {
    throw new MerError(
      ErrorTypes.AnnotationsMissing,
      `no MELD annotations found among ${files.length} files under ${keyPrefix || '(store root)'}: expected ` +
        `${MELD_SPLITS.map((s) => MELD_CSV_NAMES[s]).join(', ')} (normally at MELD.Raw/)`,
      { dataset: 'meld', files: files.length },
    );
  }

  const clips = new Map<string, CorpusFile>();
  for (const [key, copies] of clipCandidates) {
    const { chosen, ignored } = preferShallowest(copies);
    clips.set(key, chosen);
    for (const other of ignored)
      issues.push({
        file: other.path,
        reason: `another copy of this clip is used: ${chosen.path}`,
        kind: 'ignored_copy',
      });
  }

  const csvs: Array<{ split: MeldSplit; file: CorpusFile }> = [];
  for (const split of MELD_SPLITS) {
    const copies = csvCandidates.get(split);
    if (!copies) {
      issues.push({
        file: MELD_CSV_NAMES[split],
        reason: `no ${MELD_CSV_NAMES[split]} found; the ${split} split has no rows`,
        kind: 'annotation_missing',
      });
      continue;
    }
    const { chosen, ignored } = preferShallowest(copies);
    for (const other of ignored) {
      issues.push({
        file: other.path,
        reason: `the copy nearest the corpus root is used: ${chosen.path}`,
        kind: 'ignored_copy',
      });
    }
    csvs.push({ split, file: chosen });
  }

  const parsed = await mapLimit(csvs, 3, async ({ split, file }) =>
    parseMeldCsv(await readAnnotation(read, file, maxAnnotationBytes), file.path, split),
  );

  const rows: ManifestRow[] = [];
  const rowKeys = new Set<string>();
  for (let k = 0; k < csvs.length; k++) {
    const { split, file } = csvs[k];
    const parse = parsed[k];
    issues.push(...parse.issues);
    for (const r of parse.rows) {
      const key = meldKey(split, r.dialogueId, r.utteranceId);
      rowKeys.add(key);
      const clipFile = clips.get(key);
      const flags: RowFlag[] = [...r.flags];
      if (!clipFile) flags.push('video_missing');
      else if (clipFile.size === 0) flags.push('video_empty');
      const native = labelSet === 'sentiment3' ? r.sentiment : r.emotion;
      const mapped = mapLabel(labelSet, native);
      const row: ManifestRow = {
        utteranceId: `meld_${split}_dia${r.dialogueId}_utt${r.utteranceId}`,
        dataset: 'meld',
        split,
        session: null,
        dialogueId: `${split}_dia${r.dialogueId}`,
        speaker: r.speaker,
        gender: null,
        interaction: null,
        startSec: r.startSec,
        endSec: r.endSec,
        text: r.utterance,
        labelNative: r.emotion,
        labelSet,
        labelIndex: mapped.labelIndex,
        labelName: mapped.labelName,
        sentiment: r.sentiment,
        valence: null,
        arousal: null,
        dominance: null,
        audioKey: null,
        videoKey: clipFile && clipFile.size > 0 ? storeKey(keyPrefix, clipFile.path) : null,
        dialogAudioKey: null,
        videoHalf: null,
        season: r.season,
        episode: r.episode,
        srNo: r.srNo,
        utteranceIndex: r.utteranceId,
        flags,
      };
      assertValidRow(row, `${file.path}:${r.line}`);
      rows.push(row);
    }
  }

  // One issue per clip folder: a split without usable CSV rows would otherwise add thousands of lines.
  const orphansByDir = new Map<string, { split: MeldSplit; names: string[] }>();
  for (const [key, file] of clips) {
    if (rowKeys.has(key)) continue;
    const dir = dirName(file.path);
    const entry = orphansByDir.get(dir) ?? { split: key.slice(0, key.indexOf('/')) as MeldSplit, names: [] };
    entry.names.push(baseName(file.path));
    orphansByDir.set(dir, entry);
  }
  for (const [dir, { split, names }] of [...orphansByDir].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
    names.sort(compareClipNames);
    const listed = names.slice(0, ORPHAN_LIST_CAP).join(', ');
    const more = names.length > ORPHAN_LIST_CAP ? ` and ${names.length - ORPHAN_LIST_CAP} more` : '';
    issues.push({
      file: dir,
      value: String(names.length),
      reason: `${names.length} ${split} clip(s) have no CSV row and are not used: ${listed}${more}`,
      kind: 'orphan_clip',
    });
  }

  const splitOrder = new Map<string, number>(MELD_SPLITS.map((s, i) => [s, i]));
  rows.sort(
    (a, b) =>
      (splitOrder.get(a.split) ?? 0) - (splitOrder.get(b.split) ?? 0) ||
      dialogueNumber(a) - dialogueNumber(b) ||
      a.utteranceIndex - b.utteranceIndex,
  );
  // A split without its CSV is a corpus-wide finding: first, where `mer status` and `mer manifest` show it.
  const ordered = [
    ...issues.filter((i) => i.kind === 'annotation_missing'),
    ...issues.filter((i) => i.kind !== 'annotation_missing'),
  ];
  return { rows, issues: ordered, summary: summarise('meld', labelSet, rows, ordered) };
}

function dialogueNumber(row: ManifestRow): number {
  return Number(row.dialogueId.slice(row.dialogueId.lastIndexOf('dia') + 3));
}

function compareClipNames(a: string, b: string): number {
  const ma = CLIP_RE.exec(a);
  const mb = CLIP_RE.exec(b);
  if (ma && mb) return Number(ma[1]) - Number(mb[1]) || Number(ma[2]) - Number(mb[2]);
  return a < b ? -1 : a > b ? 1 : 0;
}
