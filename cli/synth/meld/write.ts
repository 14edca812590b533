import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { truthHeader } from '../common.ts';
import type { CorpusOptions } from '../common.ts';
import { mapSettled, packTarGz } from '../output.ts';
import { MELD_DIR, MELD_SPLITS, MELD_SPLIT_FILES, SPEAKERS } from './corpus.ts';
import type {
  MeldCsvEncoding,
  MeldSplit,
  MeldTruth,
  MeldTruthCsv,
  MeldTruthExtraClip,
  MeldTruthUtterance,
} from './corpus.ts';
import { csvBytes } from './csv.ts';
import { encodeClip } from './media.ts';
import { clipJob, planSplit } from './plan.ts';
import type { ClipJob } from './plan.ts';

/** Lays a synthetic MELD.Raw out on disk (split archives and CSV copies) and says what it holds. */

/** CSV copy written as raw cp1252 (all others are UTF-8 with C1 characters). */
const CP1252_SPLIT: MeldSplit = 'dev';

/** Writes `<out>/MELD.Raw/` (split archives + CSVs, replacing an older one) and returns its ground truth. */
export async function synthMeld(opts: CorpusOptions): Promise<MeldTruth> {
  const root = join(opts.out, MELD_DIR);
  await rm(root, { recursive: true, force: true });
  await mkdir(root, { recursive: true });
  const staging = await mkdtemp(join(opts.out, '.meld-clips-'));
  const utterances: MeldTruthUtterance[] = [];
  const extraClips: MeldTruthExtraClip[] = [];
  const csv: MeldTruthCsv[] = [];
  try {
    const plans = MELD_SPLITS.map((split) => ({ split, ...planSplit(split, opts.seed, opts.scale, opts.cue) }));
    const jobs: { job: ClipJob; path: string }[] = [];
    for (const p of plans) {
      const dir = join(staging, MELD_SPLIT_FILES[p.split].folder);
      await mkdir(dir, { recursive: true });
      for (const row of p.rows) {
        const job = clipJob(row);
        if (job) jobs.push({ job, path: join(dir, job.name) });
      }
      for (const job of p.extras) jobs.push({ job, path: join(dir, job.name) });
    }
    // Longest first keeps both workers busy to the end.
    const order = [...jobs].sort((a, b) => b.job.frames - a.job.frames || (a.path < b.path ? -1 : 1));
    await mapSettled(order, opts.concurrency, async ({ job, path }) => {
      if (job.kind !== 'corrupt') return encodeClip(opts.ffmpeg, job, path, opts.seed, opts.signal);
      // Like train dia125_utt3: a real encode cut short; the index (moov) sits at the end and is lost.
      const tmp = `${path}.full.mp4`;
      await encodeClip(opts.ffmpeg, job, tmp, opts.seed, opts.signal);
      const full = await readFile(tmp);
      await writeFile(path, full.subarray(0, Math.floor(full.length * 0.4)));
      await rm(tmp);
    });

    for (const p of plans) {
      const files = MELD_SPLIT_FILES[p.split];
      const dir = join(staging, files.folder);
      for (const name of p.prefixed) {
        const copy = `final_videos_test${name}`;
        await writeFile(join(dir, copy), await readFile(join(dir, name)));
        extraClips.push({
          split: p.split,
          entry: `${files.folder}/${copy}`,
          kind: 'prefixed-duplicate',
          duplicateOf: `${files.folder}/${name}`,
        });
      }
      for (const job of p.extras)
        extraClips.push({ split: p.split, entry: `${files.folder}/${job.name}`, kind: 'orphan', duplicateOf: null });
      await packTarGz(dir, files.folder, join(root, files.archive));

      const encoding: MeldCsvEncoding = p.split === CP1252_SPLIT ? 'cp1252' : 'utf8-c1';
      const { bytes, crlf, lf } = csvBytes(p.rows, encoding);
      await writeFile(join(root, files.csv), bytes);
      csv.push({ split: p.split, file: files.csv, encoding, rows: p.rows.length, crlfLines: crlf, lfLines: lf });

      for (const row of p.rows) {
        const job = clipJob(row);
        const csvSec = (row.endMs - row.startMs) / 1000;
        utterances.push({
          id: `${row.split}/dia${row.dialogueId}_utt${row.utteranceId}`,
          split: row.split,
          dialogueId: row.dialogueId,
          utteranceId: row.utteranceId,
          srNo: row.srNo,
          speaker: row.speaker,
          text: row.source.replace(/\u00a0/g, ' '),
          emotion: row.emotion,
          label: row.emotion,
          sentiment: row.sentiment,
          season: row.season,
          episode: row.episode,
          startTime: row.startTime,
          endTime: row.endTime,
          start: row.startMs / 1000,
          end: row.endMs / 1000,
          clipArchive: files.archive,
          clip: `${files.folder}/dia${row.dialogueId}_utt${row.utteranceId}.mp4`,
          clipDurationSec: job ? Math.round(job.durationSec * 1e6) / 1e6 : null,
          clipFrames: job ? job.frames : null,
          flags: {
            missing: row.clipKind === 'missing',
            corrupt: row.clipKind === 'corrupt',
            overlong: job !== null && csvSec > 0 && job.durationSec > 3 * csvSec,
            twoFrame: row.clipKind === 'two-frame',
            zeroDuration: csvSec === 0,
          },
          quirks: row.quirks,
          cue: row.render.cue,
        });
      }
    }
  } finally {
    await rm(staging, { recursive: true, force: true });
  }

  return {
    dataset: 'meld',
    ...truthHeader(opts, MELD_DIR),
    splits: MELD_SPLITS.map((split) => ({ split, ...MELD_SPLIT_FILES[split] })),
    csv,
    speakers: structuredClone(SPEAKERS),
    utterances,
    extraClips,
    notes: [
      'clipArchive is relative to MELD.Raw/; clip is the entry path inside that archive.',
      `${MELD_SPLIT_FILES[CP1252_SPLIT].csv} is raw cp1252 (not valid UTF-8); the other CSVs are UTF-8 holding cp1252 bytes decoded as Latin-1 (U+0085/91-94/96/97/A0), except rows with quirk utf8-curly, which carry proper UTF-8 curly punctuation.`,
      'text maps the C1 characters back to … ‘ ’ “ ” – — and U+00A0 to a space; double spaces are kept as in the CSV.',
      'The header line ends in CRLF; rows end in CRLF except those with quirk lf-ending.',
      'Sr No. repeats on rows with quirk dup-sr-no; key rows by (split, Dialogue_ID, Utterance_ID).',
      'flags.overlong is set only where the CSV duration is positive; zero-duration rows have a 1 s clip.',
      'The corrupt clip is the first 40% of a real encode (no moov atom); ffprobe fails on it.',
    ],
  };
}
