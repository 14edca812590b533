import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { ffmpegPath, ffmpegVersion } from '../../activities/common/ffmpeg.ts';
import type { SynthScale } from './common.ts';
import { cueSettings } from './cues.ts';
import type { CueOption } from './cues.ts';
import { IEMOCAP_ARCHIVE, IEMOCAP_DIR } from './iemocap/corpus.ts';
import type { IemocapTruth } from './iemocap/corpus.ts';
import { synthIemocap } from './iemocap/write.ts';
import { MELD_ARCHIVE, MELD_DIR } from './meld/corpus.ts';
import type { MeldTruth } from './meld/corpus.ts';
import { synthMeld } from './meld/write.ts';
import { defaultConcurrency, packTarGz } from './output.ts';

/**
 * Synthetic IEMOCAP and MELD corpora in the real on-disk layouts, for tests and demos.
 *
 * Output under `out`:
 *   IEMOCAP_full_release/ or MELD.Raw/   the corpus folder (always written)
 *   IEMOCAP_full_release.tar.gz / MELD.Raw.tar.gz   with `archive: true`, next to the folder, holding it
 *   synth-truth.json   ground truth of that corpus (use one `out` per dataset)
 */

export type { Rgb, SynthScale } from './common.ts';
export type { CueOption, CueSettings, CueTruth } from './cues.ts';
export type { IemocapLabel, IemocapTruth, IemocapTruthDialog, IemocapTruthUtterance } from './iemocap/corpus.ts';
export type {
  MeldCsvEncoding,
  MeldEmotion,
  MeldQuirk,
  MeldSentiment,
  MeldSplit,
  MeldTruth,
  MeldTruthCsv,
  MeldTruthExtraClip,
  MeldTruthUtterance,
} from './meld/corpus.ts';
export { IEMOCAP_ARCHIVE, IEMOCAP_DIR, IEMOCAP_LABELS, IEMOCAP_PANELS } from './iemocap/corpus.ts';
export { MELD_ARCHIVE, MELD_DIR, MELD_EMOTIONS, MELD_HEADER, MELD_SPLIT_FILES, MELD_SPLITS } from './meld/corpus.ts';

export type SynthDataset = 'iemocap' | 'meld';
export type SynthTruth = IemocapTruth | MeldTruth;
export type TruthFor<D extends SynthDataset> = D extends 'iemocap' ? IemocapTruth : MeldTruth;

export interface SynthOptions<D extends SynthDataset = SynthDataset> {
  dataset: D;
  /** Parent folder; the corpus folder, archive and truth file are created inside it. */
  out: string;
  /** Also pack the corpus folder into its real archive form next to it. */
  archive?: boolean;
  /** Default 1. Same seed and scale → byte-identical annotations. */
  seed?: number;
  /** Default 'tiny'. */
  scale?: SynthScale;
  /** Label cues in text/audio/video (each present in a fraction of utterances); off by default. */
  cue?: CueOption;
  /** Parallel ffmpeg processes; default min(4, cores). */
  concurrency?: number;
  signal?: AbortSignal;
}

export interface SynthResult<D extends SynthDataset = SynthDataset> {
  dataset: D;
  /** Absolute path of the corpus folder (IEMOCAP_full_release/ or MELD.Raw/). */
  root: string;
  /** Absolute path of the archive when requested. */
  archive?: string;
  /** Absolute path of synth-truth.json. */
  truthPath: string;
  truth: TruthFor<D>;
  elapsedMs: number;
}

/**
 * Ground truth of the last corpus synthesized into an `out` folder (the `dataset` field says which):
 * use one `out` per dataset, as a second dataset in the same folder replaces the file.
 */
export const TRUTH_FILE = 'synth-truth.json';

export async function readTruthFile(out: string): Promise<SynthTruth> {
  const path = join(out, TRUTH_FILE);
  const parsed = JSON.parse(await readFile(path, 'utf8')) as Partial<SynthTruth>;
  if (parsed.dataset !== 'iemocap' && parsed.dataset !== 'meld')
    throw new Error(`${path}: not a synthetic corpus truth file`);
  return parsed as SynthTruth;
}

export async function synthesize<D extends SynthDataset>(opts: SynthOptions<D>): Promise<SynthResult<D>> {
  const started = performance.now();
  const out = resolve(opts.out);
  const seed = opts.seed ?? 1;
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff)
    throw new Error(`seed must be an integer in [0, 2^32), got ${seed}`);
  const scale = opts.scale ?? 'tiny';
  if (scale !== 'tiny' && scale !== 'small') throw new Error(`scale must be 'tiny' or 'small', got ${String(scale)}`);
  const dataset: SynthDataset = opts.dataset;
  if (dataset !== 'iemocap' && dataset !== 'meld')
    throw new Error(`dataset must be 'iemocap' or 'meld', got ${String(dataset)}`);
  await mkdir(out, { recursive: true });

  const common = {
    out,
    seed,
    scale,
    cue: cueSettings(opts.cue),
    ffmpeg: await ffmpegPath(),
    ffmpegVersion: await ffmpegVersion({ signal: opts.signal }),
    concurrency: opts.concurrency ?? defaultConcurrency(),
    signal: opts.signal,
  };
  const dirName = dataset === 'iemocap' ? IEMOCAP_DIR : MELD_DIR;
  const archiveName = dataset === 'iemocap' ? IEMOCAP_ARCHIVE : MELD_ARCHIVE;
  const archivePath = join(out, archiveName);
  // A stale archive next to a regenerated folder would describe a different corpus.
  await rm(archivePath, { force: true });

  const truth: SynthTruth = dataset === 'iemocap' ? await synthIemocap(common) : await synthMeld(common);
  const root = join(out, dirName);
  if (opts.archive) {
    await packTarGz(root, dirName, archivePath);
    truth.archive = archiveName;
  }

  const truthPath = join(out, TRUTH_FILE);
  await writeFile(truthPath, `${JSON.stringify(truth, null, 2)}\n`);

  const result: SynthResult<D> = {
    dataset: opts.dataset,
    root,
    truthPath,
    truth: truth as TruthFor<D>,
    elapsedMs: Math.round(performance.now() - started),
  };
  if (opts.archive) result.archive = archivePath;
  return result;
}

async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      dataset: { type: 'string' },
      out: { type: 'string' },
      seed: { type: 'string', default: '1' },
      scale: { type: 'string', default: 'tiny' },
      archive: { type: 'boolean', default: false },
      cue: { type: 'boolean', default: false },
    },
  });
  if (!values.out || (values.dataset !== 'iemocap' && values.dataset !== 'meld' && values.dataset !== 'both')) {
    process.stderr.write(
      'usage: synth --dataset iemocap|meld|both --out DIR [--seed N] [--scale tiny|small] [--archive] [--cue]\n',
    );
    process.exitCode = 2;
    return;
  }
  const datasets: SynthDataset[] = values.dataset === 'both' ? ['iemocap', 'meld'] : [values.dataset];
  for (const dataset of datasets) {
    const r = await synthesize({
      dataset,
      out: datasets.length > 1 ? join(values.out, dataset) : values.out,
      seed: Number(values.seed),
      scale: values.scale as SynthScale,
      archive: values.archive,
      cue: values.cue,
    });
    process.stdout.write(
      `${dataset}: ${r.truth.utterances.length} utterances in ${r.elapsedMs} ms → ${r.root}${r.archive ? ` + ${r.archive}` : ''}\n`,
    );
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  });
}
