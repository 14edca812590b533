import { join } from 'node:path';
import { writeFileEnsured } from '../output.ts';
import { fmt4 } from './corpus.ts';
import type { VotedLabel } from './corpus.ts';
import type { DialogPlan } from './plan.ts';

/** The annotation files of a dialog as the real corpus spells them: EmoEvaluation, Categorical, Attribute, Self-evaluation. */

const VOTE_WORD: Record<VotedLabel, string> = {
  neu: 'Neutral',
  fru: 'Frustration',
  ang: 'Anger',
  sad: 'Sadness',
  exc: 'Excited',
  hap: 'Happiness',
  sur: 'Surprise',
  fea: 'Fear',
  oth: 'Other',
  dis: 'Disgust',
};
/** Categorical/ files spell a few categories differently from EmoEvaluation's C- lines. */
export const CATEGORICAL_WORD: Record<VotedLabel, string> = { ...VOTE_WORD, neu: 'Neutral state' };
/** Latin-1 only (é, à): the real files are not UTF-8 and readers must decode tolerantly. */
const LATIN1_COMMENT = '(d\u00e9j\u00e0 vu, caf\u00e9 scene)';

export function evaluationFile(plan: DialogPlan, withLatin1: boolean): Buffer {
  const blocks = plan.turns.map((t, i) => {
    const lines = [
      `[${fmt4(t.start)} - ${fmt4(t.end)}]\t${t.id}\t${t.label}\t[${t.vad.map((x) => x.toFixed(4)).join(', ')}]`,
    ];
    for (const [j, c] of t.categorical.entries()) {
      const comment = withLatin1 && i === 0 && j === 0 ? LATIN1_COMMENT : c.comment;
      lines.push(`C-${c.evaluator}:\t${c.words.map((w) => `${VOTE_WORD[w]};`).join(' ')}\t${comment}`);
    }
    if (t.label !== 'xxx') lines.push(`C-${t.speaker}1:\t${VOTE_WORD[t.label]};\t()`);
    for (const a of t.attributes) lines.push(`A-${a.evaluator}:\tval ${a.v}; act ${a.a}; dom  ${a.d};\t${a.comment}`);
    return `${lines.join('\n')}\n`;
  });
  const text = `% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\n\n${blocks.join('\n')}\n`;
  return Buffer.from(text, 'latin1');
}

export async function writeSideFiles(dir: string, plan: DialogPlan): Promise<void> {
  const id = plan.spec.id;
  const byEval = new Map<string, string[]>();
  for (const t of plan.turns) {
    for (const c of t.categorical) {
      const list = byEval.get(c.evaluator) ?? [];
      list.push(`${t.id} :${c.words.map((w) => `${CATEGORICAL_WORD[w]};`).join(' ')} ${c.comment}`);
      byEval.set(c.evaluator, list);
    }
  }
  for (const [e, lines] of byEval) {
    await writeFileEnsured(join(dir, 'Categorical', `${id}_${e.toLowerCase()}_cat.txt`), `${lines.join('\n')}\n`);
  }
  const byRater = new Map<string, string[]>();
  for (const t of plan.turns) {
    for (const a of t.attributes) {
      const list = byRater.get(a.evaluator) ?? [];
      list.push(`${t.id} :act ${a.a}; val ${a.v}; dom  ${a.d}; ${a.comment}`);
      byRater.set(a.evaluator, list);
    }
  }
  for (const [e, lines] of byRater) {
    await writeFileEnsured(join(dir, 'Attribute', `${id}_${e.toLowerCase()}_atr.txt`), `${lines.join('\n')}\n`);
  }
  const self = plan.turns
    .filter((t) => t.label !== 'xxx')
    .map((t) => `${t.id} :${CATEGORICAL_WORD[t.label as VotedLabel]}; ()`);
  await writeFileEnsured(join(dir, 'Self-evaluation', `${id}_self.txt`), `${self.join('\n')}\n`);
}
