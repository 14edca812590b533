import type { AcquireIssue, ManifestRow, RowFlag } from '../../schemas/manifest.ts';
import { mapLimit } from '../common/concurrency.ts';
import { ErrorTypes, MerError } from '../common/errors.ts';
import {
  IEMOCAP_SESSIONS,
  iemocapDialogIdProblem,
  iemocapTurnIdProblem,
  iemocapVideoHalf,
  parseIemocapDialogId,
  parseIemocapEmoEvaluation,
  parseIemocapTranscription,
  parseIemocapTurnId,
} from './iemocap-parse.ts';
import { mapLabel } from './labels.ts';
import type { BuildManifestInput, CorpusFile, ManifestBuildResult } from './manifest-common.ts';

export type { BuildManifestInput, CorpusFile, ManifestBuildResult, ReadCorpusFile } from './manifest-common.ts';
import {
  assertLabelSetFor,
  assertValidRow,
  clip,
  dirName,
  isIgnoredPath,
  preferShallowest,
  readAnnotation,
  storeKey,
  summarise,
} from './manifest-common.ts';

// ---------------------------------------------------------------------------------------------------
// Corpus layout

interface SessionPath {
  /** Path up to and including the SessionN folder (empty when a session folder is the root). */
  root: string;
  /** The SessionN folder name as spelled in the corpus. */
  sessionDir: string;
  sessionNumber: number;
  /** Path below the session folder. */
  rel: string;
}

// Three digits at most: the number is compared and reported, and a longer one is no session folder.
const SESSION_DIR_RE = /^session(\d{1,3})$/i;

/** Locates the (last) SessionN folder in a path, wherever the corpus root is. */
function splitSessionPath(path: string): SessionPath | null {
  const segs = path.split('/');
  for (let k = segs.length - 2; k >= 0; k--) {
    const m = SESSION_DIR_RE.exec(segs[k]);
    if (m) {
      return {
        root: segs.slice(0, k + 1).join('/'),
        sessionDir: segs[k],
        sessionNumber: Number(m[1]),
        rel: segs.slice(k + 1).join('/'),
      };
    }
  }
  return null;
}

const EMO_REL_RE = /^dialog\/EmoEvaluation\/([^/]+)\.txt$/;

interface MediaIndex {
  byPath: Map<string, number>;
  /** `SessionN/<rel>` to the shallowest copy, for corpora whose media sit under another root. */
  bySessionRel: Map<string, CorpusFile>;
}

function lookupMedia(index: MediaIndex, session: SessionPath, rel: string): CorpusFile | null {
  const direct = `${session.root}/${rel}`;
  const size = index.byPath.get(direct);
  if (size !== undefined) return { path: direct, size };
  return index.bySessionRel.get(`${session.sessionDir}/${rel}`) ?? null;
}

// ---------------------------------------------------------------------------------------------------
// Manifest

const READ_CONCURRENCY = 8;

/**
 * Builds the IEMOCAP manifest from the corpus file list. One row per evaluated turn (EmoEvaluation
 * summary line), joined with its transcription; labels outside the label set are kept with index -1
 * so the manifest is the whole corpus and label-set filtering is a later, explicit choice.
 */
export async function buildIemocapManifest(input: BuildManifestInput): Promise<ManifestBuildResult> {
  const { files, read, keyPrefix, labelSet, maxAnnotationBytes } = input;
  assertLabelSetFor('iemocap', labelSet);
  const issues: AcquireIssue[] = [];

  const index: MediaIndex = { byPath: new Map(), bySessionRel: new Map() };
  const emoCandidates = new Map<string, Array<CorpusFile & { session: SessionPath }>>();
  const sessionFolders = new Set<number>();
  for (const f of files) {
    if (isIgnoredPath(f.path)) continue;
    index.byPath.set(f.path, f.size);
    const sp = splitSessionPath(f.path);
    if (!sp) continue;
    sessionFolders.add(sp.sessionNumber);
    const relKey = `${sp.sessionDir}/${sp.rel}`;
    const prior = index.bySessionRel.get(relKey);
    index.bySessionRel.set(relKey, prior ? preferShallowest([prior, f]).chosen : f);
    const emo = EMO_REL_RE.exec(sp.rel);
    if (emo) {
      const list = emoCandidates.get(emo[1]) ?? [];
      list.push({ ...f, session: sp });
      emoCandidates.set(emo[1], list);
    }
  }
  if (emoCandidates.size === 0) {
    throw new MerError(
      ErrorTypes.AnnotationsMissing,
      `no IEMOCAP annotations found among ${files.length} files under ${keyPrefix || '(store root)'}: expected ` +
        'Session1..Session5/dialog/EmoEvaluation/<dialog>.txt (e.g. IEMOCAP_full_release/Session1/dialog/EmoEvaluation/Ses01F_impro01.txt)',
      { dataset: 'iemocap', files: files.length },
    );
  }

  interface DialogSource {
    dialog: string;
    emo: CorpusFile & { session: SessionPath };
    session: number;
  }
  const dialogs: DialogSource[] = [];
  for (const [dialog, copies] of [...emoCandidates].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
    const { chosen, ignored } = preferShallowest(copies);
    for (const other of ignored) {
      issues.push({
        file: other.path,
        reason: `another copy of ${dialog} is used: ${chosen.path}`,
        kind: 'ignored_copy',
      });
    }
    const parsedDialog = parseIemocapDialogId(dialog);
    if (!parsedDialog) {
      const problem = iemocapDialogIdProblem(dialog) ?? 'not an IEMOCAP dialog id';
      issues.push({
        file: chosen.path,
        value: clip(dialog),
        reason: problem.startsWith('not ')
          ? 'file name is not an IEMOCAP dialog id (SesNN[FM]_impro../script..); skipped'
          : `file name: ${problem}; skipped`,
        kind: problem.startsWith('not ') ? 'unrecognised_file' : 'out_of_range',
      });
      continue;
    }
    if (parsedDialog.session !== chosen.session.sessionNumber) {
      issues.push({
        file: chosen.path,
        value: dialog,
        reason: `dialog names session ${parsedDialog.session} but sits in ${chosen.session.sessionDir}; the id's session is used`,
        kind: 'session_mismatch',
      });
    }
    dialogs.push({ dialog, emo: chosen, session: parsedDialog.session });
  }

  const parsed = await mapLimit(dialogs, READ_CONCURRENCY, async ({ dialog, emo }) => {
    const evaluation = parseIemocapEmoEvaluation(await readAnnotation(read, emo, maxAnnotationBytes), emo.path);
    const transcriptRel = `dialog/transcriptions/${dialog}.txt`;
    const transcriptFile = lookupMedia(index, emo.session, transcriptRel);
    const transcription = transcriptFile
      ? parseIemocapTranscription(await readAnnotation(read, transcriptFile, maxAnnotationBytes), transcriptFile.path)
      : null;
    return { evaluation, transcription, transcriptPath: `${emo.session.root}/${transcriptRel}` };
  });

  const rows: ManifestRow[] = [];
  const seen = new Map<string, string>();
  for (let d = 0; d < dialogs.length; d++) {
    const { dialog, emo } = dialogs[d];
    const { evaluation, transcription, transcriptPath } = parsed[d];
    issues.push(...evaluation.issues);
    if (transcription) issues.push(...transcription.issues);
    else
      issues.push({
        file: transcriptPath,
        reason: `transcription of ${dialog} not found; its turns have empty text`,
        kind: 'transcription_missing',
      });
    if (evaluation.turns.length === 0) {
      issues.push({ file: emo.path, reason: 'no [start - end] turn lines found', kind: 'empty_file' });
    }

    for (const turn of evaluation.turns) {
      const id = parseIemocapTurnId(turn.turnId);
      if (!id) {
        const problem = iemocapTurnIdProblem(turn.turnId) ?? 'not an IEMOCAP turn id';
        issues.push({
          file: emo.path,
          line: turn.line,
          field: 'id',
          value: clip(turn.turnId),
          reason: problem.startsWith('not ')
            ? 'not an IEMOCAP turn id (SesNN[FM]_<dialog>_[FM]NNN); skipped'
            : `turn id: ${problem}; skipped`,
          kind: problem.startsWith('not ') ? 'bad_id' : 'out_of_range',
        });
        continue;
      }
      const firstAt = seen.get(id.utteranceId);
      if (firstAt !== undefined) {
        issues.push({
          file: emo.path,
          line: turn.line,
          field: 'id',
          value: id.utteranceId,
          reason: `turn already evaluated in ${firstAt}; this line skipped`,
          kind: 'duplicate_key',
        });
        continue;
      }
      seen.set(id.utteranceId, `${emo.path}:${turn.line}`);

      const flags: RowFlag[] = [];
      if (id.dialogId !== dialog) {
        flags.push('dialog_mismatch');
        issues.push({
          file: emo.path,
          line: turn.line,
          field: 'id',
          value: id.utteranceId,
          reason: `turn belongs to dialog ${id.dialogId}, not ${dialog}; media are looked up under ${id.dialogId}`,
          kind: 'dialog_mismatch',
        });
      }
      if (turn.endSec === turn.startSec) flags.push('zero_duration');
      if (turn.endSec < turn.startSec) {
        flags.push('negative_duration');
        issues.push({
          file: emo.path,
          line: turn.line,
          field: 'time',
          value: `${turn.startSec} - ${turn.endSec}`,
          reason: 'end before start; kept and flagged',
          kind: 'negative_duration',
        });
      }

      const transcript = transcription?.byTurn.get(id.utteranceId);
      if (!transcript) {
        flags.push('text_missing');
        if (transcription) {
          issues.push({
            file: transcriptPath,
            field: 'id',
            value: id.utteranceId,
            reason: 'evaluated turn has no transcription line; text left empty',
            kind: 'text_missing',
          });
        }
      }

      const audio = lookupMedia(index, emo.session, `sentences/wav/${id.dialogId}/${id.utteranceId}.wav`);
      const video = lookupMedia(index, emo.session, `dialog/avi/DivX/${id.dialogId}.avi`);
      const dialogAudio = lookupMedia(index, emo.session, `dialog/wav/${id.dialogId}.wav`);
      if (!audio) flags.push('audio_missing');
      else if (audio.size === 0) flags.push('audio_empty');
      if (!video) flags.push('video_missing');
      else if (video.size === 0) flags.push('video_empty');
      if (!dialogAudio || dialogAudio.size === 0) flags.push('dialog_audio_missing');
      const usable = (f: CorpusFile | null) => (f && f.size > 0 ? storeKey(keyPrefix, f.path) : null);

      const mapped = mapLabel(labelSet, turn.label);
      const row: ManifestRow = {
        utteranceId: id.utteranceId,
        dataset: 'iemocap',
        split: `Session${id.session}`,
        session: id.session,
        dialogueId: id.dialogId,
        speaker: id.speaker,
        gender: id.speaker,
        interaction: id.interaction,
        startSec: turn.startSec,
        endSec: turn.endSec,
        text: transcript?.text ?? '',
        labelNative: turn.label,
        labelSet,
        labelIndex: mapped.labelIndex,
        labelName: mapped.labelName,
        sentiment: null,
        valence: turn.valence,
        arousal: turn.arousal,
        dominance: turn.dominance,
        audioKey: usable(audio),
        videoKey: usable(video),
        dialogAudioKey: usable(dialogAudio),
        videoHalf: iemocapVideoHalf(id),
        season: null,
        episode: null,
        srNo: null,
        utteranceIndex: id.turn,
        flags,
      };
      assertValidRow(row, `${emo.path}:${turn.line}`);
      rows.push(row);
    }
  }

  // Time order within a dialog, so "previous k utterances" context in later stages is the real history.
  rows.sort(
    (a, b) =>
      (a.session ?? 0) - (b.session ?? 0) ||
      (a.dialogueId < b.dialogueId ? -1 : a.dialogueId > b.dialogueId ? 1 : 0) ||
      a.startSec - b.startSec ||
      (a.utteranceId < b.utteranceId ? -1 : a.utteranceId > b.utteranceId ? 1 : 0),
  );
  // Corpus-wide findings go first, so the first lines of `mer status` and `mer manifest` show them.
  const all = [...corpusIssues(dialogs, sessionFolders, issues), ...issues];
  return { rows, issues: all, summary: summarise('iemocap', labelSet, rows, all) };
}

/**
 * Whole-corpus findings: a session of IEMOCAP's five with no annotated dialog (a partial copy or an
 * archive cut short reads as a smaller corpus otherwise), and label words outside IEMOCAP's codes.
 */
function corpusIssues(
  dialogs: ReadonlyArray<{ emo: { session: SessionPath }; session: number }>,
  sessionFolders: ReadonlySet<number>,
  issues: readonly AcquireIssue[],
): AcquireIssue[] {
  const out: AcquireIssue[] = [];
  const present = new Set(dialogs.map((d) => d.session));
  const corpusRoot = dialogs.length ? dirName(dialogs[0].emo.session.root) : '';
  const have = [...present].sort((a, b) => a - b).map((n) => `Session${n}`);
  for (let n = 1; n <= IEMOCAP_SESSIONS && present.size > 0; n++) {
    if (present.has(n)) continue;
    const folder = corpusRoot ? `${corpusRoot}/Session${n}` : `Session${n}`;
    out.push({
      file: folder,
      value: `Session${n}`,
      reason: sessionFolders.has(n)
        ? `Session${n} has no dialog/EmoEvaluation/<dialog>.txt annotations: its turns are not in the manifest`
        : `Session${n} is missing (the corpus has ${have.join(', ')}): an incomplete copy or an archive cut short? Its turns are not in the manifest`,
      kind: 'session_missing',
    });
  }
  const unknown = new Map<string, { count: number; first: AcquireIssue }>();
  for (const i of issues) {
    if (i.kind !== 'unknown_label') continue;
    const word = i.value ?? '';
    const u = unknown.get(word);
    if (u) u.count++;
    else unknown.set(word, { count: 1, first: i });
  }
  if (unknown.size) {
    const words = [...unknown].map(
      ([w, u]) => `${JSON.stringify(w)} x${u.count} (first ${u.first.file}:${u.first.line})`,
    );
    const total = [...unknown.values()].reduce((n, u) => n + u.count, 0);
    out.push({
      file: corpusRoot || '.',
      value: clip([...unknown.keys()].join(', ')),
      reason: `${total} turn(s) carry label words that are not IEMOCAP codes: ${clip(words.join(', '), 400)}; kept outside the label set`,
      kind: 'unknown_labels',
    });
  }
  return out;
}
