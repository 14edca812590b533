import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { encodeWav } from '../../../activities/common/wav.ts';
import { truthHeader } from '../common.ts';
import type { CorpusOptions } from '../common.ts';
import { extractChannel } from '../audio.ts';
import { appleDoubleBytes, mapSettled, writeFileEnsured } from '../output.ts';
import { evaluationFile, writeSideFiles } from './annotations.ts';
import { IEMOCAP_DIR, IEMOCAP_SAMPLE_RATE, fmt4, toSample } from './corpus.ts';
import type { Gender, IemocapTruth, IemocapTruthDialog, IemocapTruthUtterance } from './corpus.ts';
import { dialogAudio, encodeAvi } from './media.ts';
import { planDialogs, sideOf } from './plan.ts';

/** Lays a synthetic IEMOCAP corpus out on disk, as the real release is laid out, and says what it holds. */

/** Writes `<out>/IEMOCAP_full_release/` (replacing an older one) and returns its ground truth. */
export async function synthIemocap(opts: CorpusOptions): Promise<IemocapTruth> {
  const root = join(opts.out, IEMOCAP_DIR);
  await rm(root, { recursive: true, force: true });
  await mkdir(root, { recursive: true });
  const plans = planDialogs(opts.seed, opts.scale, opts.cue);

  const rel = (session: number, ...parts: string[]) => [`Session${session}`, ...parts].join('/');
  const dialogs: IemocapTruthDialog[] = [];
  const utterances: IemocapTruthUtterance[] = [];

  await mapSettled(plans, opts.concurrency, async (plan, di) => {
    const { id, session } = plan.spec;
    const paths = {
      avi: rel(session, 'dialog', 'avi', 'DivX', `${id}.avi`),
      wav: rel(session, 'dialog', 'wav', `${id}.wav`),
      transcription: rel(session, 'dialog', 'transcriptions', `${id}.txt`),
      evaluation: rel(session, 'dialog', 'EmoEvaluation', `${id}.txt`),
    };
    const abs = (p: string) => join(root, ...p.split('/'));
    await writeFileEnsured(abs(paths.transcription), `${plan.transcript.join('\n')}\n`);
    await writeFileEnsured(abs(paths.evaluation), evaluationFile(plan, di === 0 || di === plans.length - 2));
    await writeSideFiles(join(root, `Session${session}`, 'dialog', 'EmoEvaluation'), plan);

    const audio = dialogAudio(plan, opts.seed);
    await writeFileEnsured(abs(paths.wav), encodeWav(audio, IEMOCAP_SAMPLE_RATE, 2));
    for (const t of plan.turns) {
      if (t.missingWav) continue;
      const ch = sideOf(plan.spec, t.speaker) === 'left' ? 0 : 1;
      const cut = extractChannel(audio, 2, ch, toSample(t.start), toSample(t.end));
      await writeFileEnsured(
        abs(rel(session, 'sentences', 'wav', id, `${t.id}.wav`)),
        encodeWav(cut, IEMOCAP_SAMPLE_RATE, 1),
      );
    }
    await mkdir(join(root, `Session${session}`, 'dialog', 'avi', 'DivX'), { recursive: true });
    await encodeAvi(opts.ffmpeg, plan, abs(paths.wav), abs(paths.avi), opts.signal);
  });

  for (const plan of plans) {
    const { id, session, marker, scripted } = plan.spec;
    const other: Gender = marker === 'F' ? 'M' : 'F';
    dialogs.push({
      id,
      session,
      scripted,
      leftSpeaker: marker,
      left: { speaker: marker, rgb: plan.actors[marker].rgb },
      right: { speaker: other, rgb: plan.actors[other].rgb },
      durationSec: plan.totalSamples / IEMOCAP_SAMPLE_RATE,
      avi: rel(session, 'dialog', 'avi', 'DivX', `${id}.avi`),
      wav: rel(session, 'dialog', 'wav', `${id}.wav`),
      transcription: rel(session, 'dialog', 'transcriptions', `${id}.txt`),
      evaluation: rel(session, 'dialog', 'EmoEvaluation', `${id}.txt`),
      wavChannels: 2,
      turns: plan.turns.map((t) => t.id),
      unevaluatedLines: plan.others.map((o) => o.line),
    });
    for (const t of plan.turns) {
      utterances.push({
        id: t.id,
        dialog: id,
        session,
        scripted,
        speaker: t.speaker,
        side: sideOf(plan.spec, t.speaker),
        label: t.label,
        vad: t.vad,
        start: t.start / 10000,
        end: t.end / 10000,
        startText: fmt4(t.start),
        endText: fmt4(t.end),
        text: t.text,
        sentenceWav: rel(session, 'sentences', 'wav', id, `${t.id}.wav`),
        samples: toSample(t.end) - toSample(t.start),
        dialogOffsetSamples: toSample(t.start),
        flags: { missingWav: t.missingWav },
        cue: t.render.cue,
      });
    }
  }

  // macOS residue next to real files, including names that a `*.wav`/`*.txt` glob would pick up.
  const first = (s: number) => plans.find((p) => p.spec.session === s)!;
  const residue = [
    rel(1, 'dialog', 'wav', `._${first(1).spec.id}.wav`),
    rel(2, 'sentences', 'wav', first(2).spec.id, `._${first(2).turns[0].id}.wav`),
    rel(3, 'dialog', 'EmoEvaluation', `._${first(3).spec.id}.txt`),
    rel(4, 'dialog', 'avi', 'DivX', `._${first(4).spec.id}.avi`),
    rel(5, 'dialog', 'transcriptions', `._${first(5).spec.id}.txt`),
    '._Session5',
  ];
  for (const r of residue) await writeFileEnsured(join(root, ...r.split('/')), appleDoubleBytes());

  return {
    dataset: 'iemocap',
    ...truthHeader(opts, IEMOCAP_DIR),
    dialogs,
    utterances,
    residue,
    notes: [
      'Paths are relative to the corpus folder (IEMOCAP_full_release/); archive entries carry that folder as prefix.',
      'EmoEvaluation files are Latin-1; the first dialog and the second-to-last dialog contain a non-ASCII (é, à) comment.',
      'Summary V/A/D values are the means of the A-E lines of the block (self-assessment lines carry no A- votes here).',
      'Transcriptions list XX-id lines and bare `F:`/`M:` lines that are not evaluated turns; unevaluatedLines holds them.',
      "Sentence wavs are the speaking actor's dialog channel, samples [round(start*16000), round(end*16000)).",
      'Turns flagged missingWav have no sentences/wav file; their dialog audio still contains them.',
      'Categorical/, Attribute/ and Self-evaluation/ file names and line shapes are modelled on the real corpus but unverified.',
    ],
  };
}
