import { readFile } from 'node:fs/promises';
import { basename, dirname, extname, join } from 'node:path';
import { ErrorTypes, MerError } from '../common/errors.ts';

/**
 * The dialogue context of a clip, for models whose text features were made with previous utterances
 * prepended (`extract.text.contextUtterances` > 0). Without it the text vector is that of a dialogue's
 * first utterance, not of the clip as the model saw such clips: so a missing context is refused unless
 * the user says so (`--no-context`), never silently dropped.
 *
 * Sources: `--context <utterance>` (repeatable, oldest first) for a single clip, or a sidecar
 * `<name>.context.txt` next to each video with one previous utterance per line, oldest first. The last
 * `contextUtterances` of them are used, as in training (activities/extract/shard-input.ts).
 */

/** `dia0_utt3.mp4` -> `dia0_utt3.context.txt` in the same folder. */
export const contextSidecarPath = (videoPath: string): string =>
  join(dirname(videoPath), `${basename(videoPath, extname(videoPath))}.context.txt`);

export interface ContextOptions {
  /** The model's `extract.text.contextUtterances`. */
  utterances: number;
  /** Whether the model reads text (or its VSC guidance does). */
  readsText: boolean;
  /** `--context`: previous utterances of a single clip, oldest first. */
  given?: readonly string[];
  /** `--no-context`: encode each clip as the first utterance of its dialogue. */
  none?: boolean;
  folder: boolean;
}

function inputError(message: string, details: Record<string, unknown> = {}): MerError {
  return new MerError(ErrorTypes.ConfigInvalid, message, details);
}

async function readContextSidecar(path: string): Promise<string[] | null> {
  let raw: string;
  try {
    raw = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw inputError(`${path}: cannot read the context (${(err as Error).message})`, { file: path });
  }
  return raw
    .replace(/^\uFEFF/, '')
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l.length > 0);
}

/** Each clip's context (at most `utterances`, oldest first), in the order of `paths`. */
export async function clipContexts(paths: readonly string[], opts: ContextOptions): Promise<string[][]> {
  const keep = (xs: readonly string[]) => (opts.utterances > 0 ? xs.slice(-opts.utterances) : []);
  if (opts.given !== undefined && opts.given.length > 0) {
    if (opts.folder || paths.length !== 1)
      throw inputError(
        `--context gives the previous utterances of a single clip; for a folder put a <name>.context.txt (one utterance per line, oldest first) next to each video (e.g. ${basename(contextSidecarPath(paths[0] ?? 'clip.mp4'))})`,
      );
    if (opts.none) throw inputError('--context and --no-context contradict each other: give one');
  }
  if (!opts.readsText || opts.utterances === 0) {
    if (opts.given?.length)
      throw inputError(
        opts.readsText
          ? '--context: this model was trained without dialogue context (extract.text.contextUtterances 0); leave --context out'
          : '--context: this model reads no text; leave --context out',
      );
    return paths.map(() => []);
  }
  if (opts.none) return paths.map(() => []);
  if (opts.given?.length) return [keep(opts.given)];
  const out: string[][] = [];
  const missing: string[] = [];
  for (const p of paths) {
    const side = contextSidecarPath(p);
    const ctx = await readContextSidecar(side);
    if (ctx === null) missing.push(p);
    out.push(keep(ctx ?? []));
  }
  if (missing.length) {
    const list = missing.slice(0, 5).join(', ') + (missing.length > 5 ? ` and ${missing.length - 5} more` : '');
    throw inputError(
      `no dialogue context for ${list}: this model's text features were made with the ${opts.utterances} previous utterance(s) of the dialogue prepended (extract.text.contextUtterances ${opts.utterances}); give ${opts.folder ? 'a' : '--context "<utterance>" (repeatable, oldest first) or a'} sidecar ${basename(contextSidecarPath(missing[0]))} (one previous utterance per line, oldest first; an empty file for a dialogue's first utterance), or --no-context to encode each clip without it`,
      { clips: missing },
    );
  }
  return out;
}
