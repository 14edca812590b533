import type { AcquireIssue } from '../../schemas/manifest.ts';
import {
  clip,
  decodeCorpusText,
  numberIssue,
  readSeconds,
  splitLines,
  stripNul,
  type ReadNumber,
  type TextEncodingGuess,
} from './manifest-common.ts';
import { IEMOCAP_NATIVE_LABELS } from './labels.ts';

/** IEMOCAP's names and annotation files: turn and dialog ids, EmoEvaluation summaries, transcriptions. */

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

/** IEMOCAP has sessions 1..5; a dialog numbered otherwise is not from it. */
export const IEMOCAP_SESSIONS = 5;
/** Turn numbers run to about 120 per dialog; the bound only keeps them far inside the int32 column. */
export const MAX_IEMOCAP_TURN = 99_999;

/** Why a name is not a usable dialog id (null when it is one). */
export function iemocapDialogIdProblem(name: string): string | null {
  const m = DIALOG_RE.exec(name);
  if (!m) return 'not an IEMOCAP dialog id (SesNN[FM]_impro../script..)';
  const session = Number(m[1]);
  if (session < 1 || session > IEMOCAP_SESSIONS)
    return `session ${m[1]} is outside IEMOCAP's sessions 1..${IEMOCAP_SESSIONS}`;
  return null;
}

/** Why an id is not a usable turn id (null when it is one): its shape, its session or its turn number. */
export function iemocapTurnIdProblem(id: string): string | null {
  const m = TURN_RE.exec(id);
  if (!m) return 'not an IEMOCAP turn id (SesNN[FM]_<dialog>_[FM]NNN)';
  const dialog = iemocapDialogIdProblem(m[1]);
  if (dialog) return dialog.startsWith('not ') ? 'not an IEMOCAP turn id (SesNN[FM]_<dialog>_[FM]NNN)' : dialog;
  if (!(Number(m[3]) <= MAX_IEMOCAP_TURN))
    return `turn number ${clip(m[3], 24)} is above ${MAX_IEMOCAP_TURN}, the largest accepted`;
  return null;
}

export function parseIemocapDialogId(name: string): IemocapDialogId | null {
  const m = DIALOG_RE.exec(name);
  if (!m || iemocapDialogIdProblem(name)) return null;
  return {
    dialogId: name,
    session: Number(m[1]),
    markerGender: m[2] as Letter,
    interaction: m[3] === 'impro' ? 'improvised' : 'scripted',
  };
}

export function parseIemocapTurnId(id: string): IemocapTurnId | null {
  const m = TURN_RE.exec(id);
  if (!m || iemocapTurnIdProblem(id)) return null;
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

// Tabs separate the fields in the release; any whitespace is accepted so hand-edited copies still parse.
// The times are taken loosely here and checked one by one, so a bad one is named as a field.
const EVAL_RE = /^\[([^\]]*)\]\s+(\S+)\s+(\S+)(?:\s+\[([^\]]*)\])?\s*$/;
const TIMES_RE = /^\s*(\S+?)\s*-\s*(\S+)\s*$/;
/** Dimensional ratings are means of 1-5 votes. */
const VAD_MIN = 1;
const VAD_MAX = 5;
const KNOWN_LABELS: ReadonlySet<string> = new Set(IEMOCAP_NATIVE_LABELS);

/** Start and end of a `start - end` span, each checked; the first problem as an issue otherwise. */
function readSpan(
  span: string,
  file: string,
  line: number,
  consequence: string,
): { startSec: number; endSec: number } | { issue: AcquireIssue } {
  const t = TIMES_RE.exec(span);
  if (!t) {
    return {
      issue: {
        file,
        line,
        field: 'time',
        value: clip(span),
        reason: `times not \`start - end\`; ${consequence}`,
        kind: 'bad_field',
      },
    };
  }
  const start = readSeconds(t[1]);
  if (!('value' in start)) return { issue: numberIssue(file, line, 'start', t[1], start, consequence) };
  const end = readSeconds(t[2]);
  if (!('value' in end)) return { issue: numberIssue(file, line, 'end', t[2], end, consequence) };
  return { startSec: start.value, endSec: end.value };
}

function readVad(text: string | undefined): ReadNumber[] | null {
  const parts = text?.split(',').map((s) => s.trim());
  if (!parts || parts.length !== 3 || !parts.every((s) => /^\d+(?:\.\d*)?$/.test(s))) return null;
  return parts.map((p) => {
    const v = Number(p);
    return v >= VAD_MIN && v <= VAD_MAX
      ? { value: v }
      : { reason: `${clip(p, 24)} is outside the ${VAD_MIN}-${VAD_MAX} rating scale`, outOfRange: true };
  });
}

/** A NUL in a line is removed and reported; the cleaned line is parsed. */
function withoutNul(raw: string, file: string, line: number, field: string, issues: AcquireIssue[]): string {
  const { text, removed } = stripNul(raw);
  if (removed)
    issues.push({
      file,
      line,
      field,
      value: String(removed),
      reason: `${removed} NUL character(s) removed`,
      kind: 'nul_removed',
    });
  return text;
}

/** Parses the per-turn summary lines (`[start - end] id label [v, a, d]`); vote lines are not needed. */
export function parseIemocapEmoEvaluation(input: Uint8Array | string, file: string): EmoEvaluationParse {
  const decoded = typeof input === 'string' ? { text: input, encoding: 'utf-8' as const } : decodeCorpusText(input);
  const turns: IemocapEvaluatedTurn[] = [];
  const issues: AcquireIssue[] = [];
  const lines = splitLines(decoded.text);
  for (let i = 0; i < lines.length; i++) {
    const line = i + 1;
    const raw = lines[i].includes('\0') ? withoutNul(lines[i], file, line, 'line', issues) : lines[i];
    if (!raw.startsWith('[')) continue;
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
    const span = readSpan(m[1], file, line, 'turn skipped');
    if ('issue' in span) {
      issues.push(span.issue);
      continue;
    }
    const label = m[3].toLowerCase();
    if (!KNOWN_LABELS.has(label)) {
      issues.push({
        file,
        line,
        field: 'label',
        value: clip(m[3]),
        reason: `label ${JSON.stringify(clip(m[3], 40))} is not an IEMOCAP code (${IEMOCAP_NATIVE_LABELS.join(', ')}); kept outside the label set`,
        kind: 'unknown_label',
      });
    }
    let valence: number | null = null;
    let arousal: number | null = null;
    let dominance: number | null = null;
    const vad = readVad(m[4]);
    const bad = vad?.find((v) => !('value' in v));
    if (vad && !bad) {
      [valence, arousal, dominance] = vad.map((v) => ('value' in v ? v.value : null));
    } else {
      // The label is what most users need; a turn with unreadable dimensions keeps it and loses only VAD.
      issues.push({
        file,
        line,
        field: 'vad',
        value: clip(m[4] ?? ''),
        reason:
          bad && 'reason' in bad
            ? `valence/arousal/dominance ${bad.reason}; kept with null VAD`
            : 'valence/arousal/dominance not three numbers; kept with null VAD',
        kind: bad ? 'out_of_range' : 'bad_field',
      });
    }
    turns.push({
      line,
      turnId: m[2],
      startSec: span.startSec,
      endSec: span.endSec,
      label,
      valence,
      arousal,
      dominance,
    });
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

const NUM = String.raw`(\d+(?:\.\d*)?|\.\d+)`;
const TRANSCRIPT_RE = new RegExp(String.raw`^(\S+)\s*\[\s*${NUM}\s*-\s*${NUM}\s*\]\s*:\s?(.*)$`);

export function parseIemocapTranscription(input: Uint8Array | string, file: string): TranscriptionParse {
  const decoded = typeof input === 'string' ? { text: input, encoding: 'utf-8' as const } : decodeCorpusText(input);
  const byTurn = new Map<string, IemocapTranscript>();
  const issues: AcquireIssue[] = [];
  let skipped = 0;
  const lines = splitLines(decoded.text);
  for (let i = 0; i < lines.length; i++) {
    const line = i + 1;
    // A NUL is reported against the text when it sits there, else against the line.
    const close = lines[i].indexOf(']');
    const nulField = close >= 0 && lines[i].lastIndexOf('\0') > close ? 'text' : 'line';
    const raw = lines[i].includes('\0') ? withoutNul(lines[i], file, line, nulField, issues) : lines[i];
    if (raw.trim() === '') continue;
    const m = TRANSCRIPT_RE.exec(raw);
    const idProblem = m ? iemocapTurnIdProblem(m[1]) : null;
    if (!m || idProblem) {
      skipped++;
      issues.push({
        file,
        line,
        value: clip(m ? m[1] : raw),
        reason: !m
          ? 'line is not `id [start-end]: text`; skipped'
          : idProblem!.startsWith('not ')
            ? 'transcription id is not an evaluated turn id (e.g. an XX turn); skipped'
            : `transcription id: ${idProblem}; skipped`,
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
    const span = readSpan(`${m[2]} - ${m[3]}`, file, line, 'transcription line skipped');
    if ('issue' in span) {
      skipped++;
      issues.push(span.issue);
      continue;
    }
    byTurn.set(m[1], { line, startSec: span.startSec, endSec: span.endSec, text: m[4].trim() });
  }
  return { byTurn, issues, skipped, encoding: decoded.encoding };
}
