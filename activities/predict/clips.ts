/**
 * The clips `mer predict` reads: one video file or the videos of a folder (not its subfolders), with
 * their transcripts (`--text` for a single clip, else a sidecar `<name>.txt` beside each video).
 */
import { readFile, readdir, stat } from 'node:fs/promises';
import { basename, extname, join, resolve } from 'node:path';
import { ErrorTypes, MerError } from '../common/errors.ts';

export const VIDEO_EXTENSIONS = ['.mp4', '.avi', '.mkv', '.mov', '.webm'] as const;

export interface ClipFile {
  /** File name, what output rows are named by. */
  clip: string;
  /** Absolute path. */
  path: string;
}

export interface ClipInput extends ClipFile {
  /** The transcript, or null when none was given (allowed only where the model does not need one). */
  text: string | null;
  /** Where the transcript came from: `--text`, a sidecar file, or null. */
  textSource: string | null;
}

const isVideo = (name: string) => (VIDEO_EXTENSIONS as readonly string[]).includes(extname(name).toLowerCase());

function inputError(message: string, details: Record<string, unknown> = {}): MerError {
  return new MerError(ErrorTypes.ConfigInvalid, message, details);
}

/** The clips named by `--input`, sorted by file name. */
export async function findClips(input: string): Promise<{ clips: ClipFile[]; folder: boolean }> {
  const path = resolve(input);
  let st;
  try {
    st = await stat(path);
  } catch {
    throw inputError(`--input: ${path} does not exist`, { input: path });
  }
  if (st.isFile()) {
    if (!isVideo(path))
      throw inputError(`--input: ${path} is not a video file (${VIDEO_EXTENSIONS.join(' ')})`, { input: path });
    return { clips: [{ clip: basename(path), path }], folder: false };
  }
  if (!st.isDirectory()) throw inputError(`--input: ${path} is neither a file nor a folder`, { input: path });
  const names = (await readdir(path, { withFileTypes: true }))
    .filter((e) => e.isFile() && isVideo(e.name))
    .map((e) => e.name);
  names.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  if (!names.length)
    throw inputError(
      `--input: the folder ${path} holds no video files (${VIDEO_EXTENSIONS.join(' ')}; subfolders are not searched)`,
      { input: path },
    );
  return { clips: names.map((clip) => ({ clip, path: join(path, clip) })), folder: true };
}

/** `dia0_utt3.mp4` -> `dia0_utt3.txt` in the same folder. */
export const sidecarPath = (videoPath: string): string =>
  videoPath.slice(0, videoPath.length - extname(videoPath).length) + '.txt';

async function readSidecar(path: string): Promise<string | null> {
  try {
    return (await readFile(path, 'utf8')).replace(/^\uFEFF/, '').replace(/\r?\n$/, '');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw inputError(`${path}: cannot read the transcript (${(err as Error).message})`, { file: path });
  }
}

/**
 * Attaches transcripts. With `required` (the model reads text), a clip without one is an error that
 * names it; otherwise a missing transcript is null.
 */
export async function attachTranscripts(
  clips: readonly ClipFile[],
  opts: { text?: string; folder: boolean; required: boolean },
): Promise<ClipInput[]> {
  if (opts.text !== undefined) {
    if (opts.folder || clips.length !== 1) {
      throw inputError(
        `--text gives the transcript of a single clip; for a folder put a <name>.txt next to each video (e.g. ${basename(sidecarPath(clips[0].path))})`,
      );
    }
    return [{ ...clips[0], text: opts.text, textSource: '--text' }];
  }
  const out: ClipInput[] = [];
  const missing: string[] = [];
  for (const c of clips) {
    const side = sidecarPath(c.path);
    const text = await readSidecar(side);
    if (text === null && opts.required) missing.push(c.path);
    out.push({ ...c, text, textSource: text === null ? null : side });
  }
  if (missing.length) {
    const list = missing.slice(0, 5).join(', ') + (missing.length > 5 ? ` and ${missing.length - 5} more` : '');
    throw inputError(
      `no transcript for ${list}: this model reads text, so each clip needs ${opts.folder ? 'a sidecar <name>.txt next to it' : '--text "<words>" or a sidecar <name>.txt next to it'} (e.g. ${sidecarPath(missing[0])})`,
      { clips: missing },
    );
  }
  return out;
}
