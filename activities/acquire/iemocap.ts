import type { AcquireIssue, ManifestRow, RowFlag } from '../../schemas/manifest.ts';
import { ErrorTypes, MerError } from '../common/errors.ts';
import { mapLabel } from './labels.ts';
import type { BuildManifestInput, CorpusFile, ManifestBuildResult, TextEncodingGuess } from './manifest-common.ts';

export type { BuildManifestInput, CorpusFile, ManifestBuildResult, ReadCorpusFile } from './manifest-common.ts';
import {
  assertLabelSetFor,
  assertValidRow,
  clip,
  decodeCorpusText,
  isIgnoredPath,
  mapLimit,
  preferShallowest,
  splitLines,
  storeKey,
  summarise,
} from './manifest-common.ts';

// ---------------------------------------------------------------------------------------------------
// Ids

export type Letter = 'F' | 'M';
export type Interaction = 'improvised' | 'scripted';

export interface IemocapDialogId {
  dialogId: string;
  session: number;
  /** Gender of the actor wearing the motion-capture markers, who sits in the left half of the video. */
  markerGender: Letter;
  interaction: Interaction;
}

export interface IemocapTurnId extends IemocapDialogId {
  utteranceId: string;
  /** The actual speaker of the turn (its gender letter). */
  speaker: Letter;
  turn: number;
}

// Irregular names (Ses03M_impro05a, Ses05M_script01_1b) only add characters after the kind, so the tail
// is left open rather than enumerating the known forms.
const DIALOG_RE = /^Ses(\d{2})([FM])_(impro|script)([0-9A-Za-z_]*)$/;
// The speaker+turn suffix is anchored at the end: scripted dialog names carry their own underscores.
const TURN_RE = /^(.+)_([FM])(\d{3,})$/;

export function parseIemocapDialogId(name: string): IemocapDialogId | null {
  const m = DIALOG_RE.exec(name);
  if (!m) return null;
  return {
    dialogId: name,
    session: Number(m[1]),
    markerGender: m[2] as Letter,
    interaction: m[3] === 'impro' ? 'improvised' : 'scripted',
  };
}

export function parseIemocapTurnId(id: string): IemocapTurnId | null {
  const m = TURN_RE.exec(id);
  if (!m) return null;
  const dialog = parseIemocapDialogId(m[1]);
  if (!dialog) return null;
  return { ...dialog, utteranceId: id, speaker: m[2] as Letter, turn: Number(m[3]) };
}

/** The marker wearer named in the dialog id is filmed on the left; the other actor on the right. */
export function iemocapVideoHalf(turn: Pick<IemocapTurnId, 'markerGender' | 'speaker'>): 'left' | 'right' {
  return turn.speaker === turn.markerGender ? 'left' : 'right';
}

// ---------------------------------------------------------------------------------------------------
// EmoEvaluation

export interface IemocapEvaluatedTurn {
  /** 1-based line in the EmoEvaluation file. */
  line: number;
  turnId: string;
  startSec: number;
  endSec: number;
  /** Majority label, lower-cased (e.g. 'fru', 'xxx'). */
  label: string;
  valence: number | null;
  arousal: number | null;
  dominance: number | null;
}

export interface EmoEvaluationParse {
  turns: IemocapEvaluatedTurn[];
  issues: AcquireIssue[];
  encoding: TextEncodingGuess;
}

const NUM = String.raw`(\d+(?:\.\d*)?|\.\d+)`;
// Tabs separate the fields in the release; any whitespace is accepted so hand-edited copies still parse.
const EVAL_RE = new RegExp(String.raw`^\[\s*${NUM}\s*-\s*${NUM}\s*\]\s+(\S+)\s+(\S+)(?:\s+\[([^\]]*)\])?\s*$`);

/** Parses the per-turn summary lines (`[start - end] id label [v, a, d]`); vote lines are not needed. */
export function parseIemocapEmoEvaluation(input: Uint8Array | string, file: string): EmoEvaluationParse {
  const decoded = typeof input === 'string' ? { text: input, encoding: 'utf-8' as const } : decodeCorpusText(input);
  const turns: IemocapEvaluatedTurn[] = [];
  const issues: AcquireIssue[] = [];
  const lines = splitLines(decoded.text);
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i];
    if (!raw.startsWith('[')) continue;
    const line = i + 1;
    const m = EVAL_RE.exec(raw);
    if (!m) {
      issues.push({
        file,
        line,
        value: clip(raw),
        reason: 'summary line does not read as [start - end] id label [v, a, d]',
        kind: 'bad_line',
      });
      continue;
    }
    const startSec = Number(m[1]);
    const endSec = Number(m[2]);
    let valence: number | null = null;
    let arousal: number | null = null;
    let dominance: number | null = null;
    const vad = m[5]?.split(',').map((s) => s.trim());
    if (vad && vad.length === 3 && vad.every((s) => /^\d+(?:\.\d*)?$/.test(s))) {
      [valence, arousal, dominance] = vad.map(Number);
    } else {
      // The label is what most users need; a turn with unreadable dimensions keeps it and loses only VAD.
      issues.push({
        file,
        line,
        field: 'vad',
        value: clip(m[5] ?? ''),
        reason: 'valence/arousal/dominance not three numbers; kept with null VAD',
        kind: 'bad_field',
      });
    }
    turns.push({ line, turnId: m[3], startSec, endSec, label: m[4].toLowerCase(), valence, arousal, dominance });
  }
  return { turns, issues, encoding: decoded.encoding };
}

// ---------------------------------------------------------------------------------------------------
// Transcriptions

export interface IemocapTranscript {
  line: number;
  startSec: number;
  endSec: number;
  text: string;
}

export interface TranscriptionParse {
  byTurn: Map<string, IemocapTranscript>;
  issues: AcquireIssue[];
  /** Lines that were not evaluated turns (XX ids, comments, other shapes): skipped, listed in issues. */
  skipped: number;
  encoding: TextEncodingGuess;
}

const TRANSCRIPT_RE = new RegExp(String.raw`^(\S+)\s*\[\s*${NUM}\s*-\s*${NUM}\s*\]\s*:\s?(.*)$`);

export function parseIemocapTranscription(input: Uint8Array | string, file: string): TranscriptionParse {
  const decoded = typeof input === 'string' ? { text: input, encoding: 'utf-8' as const } : decodeCorpusText(input);
  const byTurn = new Map<string, IemocapTranscript>();
  const issues: AcquireIssue[] = [];
  let skipped = 0;
  const lines = splitLines(decoded.text);
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i];
    if (raw.trim() === '') continue;
    const line = i + 1;
    const m = TRANSCRIPT_RE.exec(raw);
    if (!m || !parseIemocapTurnId(m[1])) {
      skipped++;
      issues.push({
        file,
        line,
        value: clip(m ? m[1] : raw),
        reason: m
          ? 'transcription id is not an evaluated turn id (e.g. an XX turn); skipped'
          : 'line is not `id [start-end]: text`; skipped',
        kind: 'transcription_skipped',
      });
      continue;
    }
    if (byTurn.has(m[1])) {
      issues.push({
        file,
        line,
        field: 'id',
        value: m[1],
        reason: 'turn transcribed twice; the first is kept',
        kind: 'duplicate_key',
      });
      continue;
    }
    byTurn.set(m[1], { line, startSec: Number(m[2]), endSec: Number(m[3]), text: m[4].trim() });
  }
  return { byTurn, issues, skipped, encoding: decoded.encoding };
}

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

const SESSION_DIR_RE = /^session(\d+)$/i;

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
  const { files, read, keyPrefix, labelSet } = input;
  assertLabelSetFor('iemocap', labelSet);
  const issues: AcquireIssue[] = [];

  const index: MediaIndex = { byPath: new Map(), bySessionRel: new Map() };
  const emoCandidates = new Map<string, Array<CorpusFile & { session: SessionPath }>>();
  for (const f of files) {
    if (isIgnoredPath(f.path)) continue;
    index.byPath.set(f.path, f.size);
    const sp = splitSessionPath(f.path);
    if (!sp) continue;
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
      issues.push({
        file: chosen.path,
        value: dialog,
        reason: 'file name is not an IEMOCAP dialog id (SesNN[FM]_impro../script..); skipped',
        kind: 'unrecognised_file',
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
    dialogs.push({ dialog, emo: chosen });
  }

  const parsed = await mapLimit(dialogs, READ_CONCURRENCY, async ({ dialog, emo }) => {
    const evaluation = parseIemocapEmoEvaluation(await read(emo.path), emo.path);
    const transcriptRel = `dialog/transcriptions/${dialog}.txt`;
    const transcriptFile = lookupMedia(index, emo.session, transcriptRel);
    const transcription = transcriptFile
      ? parseIemocapTranscription(await read(transcriptFile.path), transcriptFile.path)
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
        issues.push({
          file: emo.path,
          line: turn.line,
          field: 'id',
          value: clip(turn.turnId),
          reason: 'not an IEMOCAP turn id (SesNN[FM]_<dialog>_[FM]NNN); skipped',
          kind: 'bad_id',
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
      assertValidRow(row);
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
  return { rows, issues, summary: summarise('iemocap', labelSet, rows, issues) };
}
