import type { AcquireIssue } from '../../schemas/manifest.ts';
import { clip, decodeCorpusText, splitLines, type TextEncodingGuess } from './manifest-common.ts';

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
