import { join } from 'node:path';
import { synthesize, type SynthResult, type SynthScale } from '../../cli/synth/index.ts';

/** How a test hands a corpus to the pipeline: its real archive (the folder exists too), or the folder only. */
export type CorpusForm = 'archive' | 'folder';

export interface CorporaOptions {
  /** Same seed and scale: byte-identical corpora, so a test's numbers are stable. */
  seed: number;
  /** Default 'tiny'. */
  scale?: SynthScale;
  /** Label cues in text, audio and video (the train tests' learnable corpus). */
  cue?: boolean;
  /** Which corpora, in which form. */
  iemocap?: CorpusForm;
  meld?: CorpusForm;
}

export interface Corpora {
  iemocap?: SynthResult<'iemocap'>;
  meld?: SynthResult<'meld'>;
}

/** The synthetic corpora a pipeline test runs on, side by side in `dir/iemocap/` and `dir/meld/`. */
export async function synthCorpora(dir: string, o: CorporaOptions): Promise<Corpora> {
  const common = { seed: o.seed, scale: o.scale ?? 'tiny', ...(o.cue ? { cue: true } : {}) };
  const [iemocap, meld] = await Promise.all([
    o.iemocap
      ? synthesize({ dataset: 'iemocap', out: join(dir, 'iemocap'), archive: o.iemocap === 'archive', ...common })
      : undefined,
    o.meld
      ? synthesize({ dataset: 'meld', out: join(dir, 'meld'), archive: o.meld === 'archive', ...common })
      : undefined,
  ]);
  return { ...(iemocap ? { iemocap } : {}), ...(meld ? { meld } : {}) };
}

/** The archive of a corpus synthesized in archive form. */
export function archiveOf(corpora: Corpora, dataset: keyof Corpora): string {
  const a = corpora[dataset]?.archive;
  if (!a) throw new Error(`the test synthesized no ${dataset} archive`);
  return a;
}

/** The corpus folder (IEMOCAP_full_release/ or MELD.Raw/). */
export function folderOf(corpora: Corpora, dataset: keyof Corpora): string {
  const r = corpora[dataset]?.root;
  if (!r) throw new Error(`the test synthesized no ${dataset} corpus`);
  return r;
}
