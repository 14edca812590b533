/**
 * Manifest parse rate of the acquire stage: `buildIemocapManifest` and `buildMeldManifest` over
 * generated in-memory corpora at full scale (IEMOCAP: ~10,000 evaluated turns in 151 dialogs over 5
 * sessions, with transcriptions and the release's per-turn media and alignment file list; MELD:
 * 13,708 CSV rows over train/dev/test with one clip per row). Reading is from memory, so the figure
 * is the parser's, not the disk's. Reported: utterances/s and MB/s of annotation text actually read,
 * median of a few runs after a warm-up.
 *
 * The generators are exported so other benches (Parquet) can build realistic manifest rows.
 */
import { fileURLToPath } from 'node:url';
import { buildIemocapManifest } from '../../activities/acquire/iemocap.ts';
import { buildMeldManifest } from '../../activities/acquire/meld.ts';
import { mulberry32 } from '../../activities/common/mulberry32.ts';
import type { CorpusFile, ManifestBuildResult, ReadCorpusFile } from '../../activities/acquire/manifest-common.ts';
import type { BenchRow } from '../types.ts';
import { CATEGORICAL_WORD } from '../../cli/synth/iemocap/annotations.ts';

const BENCH = 'acquire/manifest-parse';
const WARMUP = 1;
const TIMED = 5;

export interface GeneratedCorpus {
  files: CorpusFile[];
  read: ReadCorpusFile;
  /** Bytes of the annotation files the parser reads (the rest of `files` are listed media). */
  annotationBytes: number;
  annotationFiles: number;
}

/** A seeded generator, so every run parses exactly the same bytes. */
const rng = mulberry32;

function weighted<T extends string>(rand: () => number, table: ReadonlyArray<readonly [T, number]>): T {
  const total = table.reduce((n, [, w]) => n + w, 0);
  let x = rand() * total;
  for (const [v, w] of table) {
    x -= w;
    if (x < 0) return v;
  }
  return table[table.length - 1][0];
}

const int = (rand: () => number, lo: number, hi: number): number => lo + Math.floor(rand() * (hi - lo + 1));

const WORDS = (
  'i you we they it that what no yes okay well just really know think mean like want need going get ' +
  'tell told said come back here there now then never always maybe sure right fine good great sorry ' +
  'please thank thanks love hate believe wait look listen money job house car time day night week ' +
  'year people friend husband wife baby mom dad guy thing way nothing something everything anything ' +
  "don't can't won't didn't i'm you're it's that's we're they're gonna wanna kind of about with for"
).split(' ');

function sentence(rand: () => number, min: number, max: number): string {
  const n = int(rand, min, max);
  const w: string[] = [];
  for (let i = 0; i < n; i++) w.push(WORDS[int(rand, 0, WORDS.length - 1)]);
  w[0] = w[0][0].toUpperCase() + w[0].slice(1);
  return `${w.join(' ')}${rand() < 0.25 ? '?' : '.'}`;
}

function corpusOf(readable: Map<string, Uint8Array>, listed: CorpusFile[]): GeneratedCorpus {
  let annotationBytes = 0;
  for (const [path, bytes] of readable) {
    listed.push({ path, size: bytes.length });
    annotationBytes += bytes.length;
  }
  const read: ReadCorpusFile = (path) => {
    const b = readable.get(path);
    if (!b) return Promise.reject(new Error(`generated corpus has no readable file ${path}`));
    return Promise.resolve(b);
  };
  return { files: listed, read, annotationBytes, annotationFiles: readable.size };
}

// ---------------------------------------------------------------------------------------------------
// IEMOCAP

// Majority labels in roughly the release's proportions (10,039 turns), 'xxx' (no majority) included.
const IEMOCAP_LABELS = [
  ['xxx', 2507],
  ['fru', 1849],
  ['neu', 1708],
  ['ang', 1103],
  ['sad', 1084],
  ['exc', 1041],
  ['hap', 595],
  ['sur', 107],
  ['fea', 40],
  ['oth', 3],
  ['dis', 2],
] as const;
const CATEGORY_NAME: Record<string, string> = { xxx: 'Other', ...CATEGORICAL_WORD };

function iemocapDialogs(): string[] {
  const out: string[] = [];
  for (let s = 1; s <= 5; s++) {
    for (const g of ['F', 'M']) {
      for (let k = 1; k <= 8; k++) {
        const base = `Ses0${s}${g}_impro0${k}`;
        // The release's one split improvisation: 151 dialogs rather than 150.
        if (s === 3 && g === 'M' && k === 5) out.push(`${base}a`, `${base}b`);
        else out.push(base);
      }
      for (const sc of ['01_1', '01_2', '01_3', '02_1', '02_2', '03_1', '03_2']) out.push(`Ses0${s}${g}_script${sc}`);
    }
  }
  return out;
}

const t4 = (x: number): string => x.toFixed(4);
const t3pad = (x: number): string => x.toFixed(4).padStart(8, '0');

export function generateIemocapCorpus(seed = 1): GeneratedCorpus & { turns: number; dialogs: number } {
  const rand = rng(seed);
  const R = 'IEMOCAP_full_release';
  const readable = new Map<string, Uint8Array>();
  const listed: CorpusFile[] = [];
  const dialogs = iemocapDialogs();
  let turns = 0;
  for (const dialog of dialogs) {
    const session = Number(dialog.slice(3, 5));
    const S = `${R}/Session${session}`;
    const n = int(rand, 40, 93);
    const evalLines = ['% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]', ''];
    const transcript: string[] = [];
    const counters = { F: 0, M: 0 };
    let clock = rand() * 5;
    for (let i = 0; i < n; i++) {
      // Mostly alternating, with the occasional run of turns by one speaker.
      const spk = (i % 2 === 0) !== rand() < 0.15 ? 'F' : 'M';
      const id = `${dialog}_${spk}${String(counters[spk]++).padStart(3, '0')}`;
      const start = clock + 0.2 + rand() * 2;
      const end = start + 0.8 + rand() * 7;
      clock = end;
      const label = weighted(rand, IEMOCAP_LABELS);
      const vad = [0, 0, 0].map(() => t4(int(rand, 2, 10) / 2)).join(', ');
      const cat = (): string => CATEGORY_NAME[weighted(rand, IEMOCAP_LABELS)];
      evalLines.push(
        `[${t4(start)} - ${t4(end)}]\t${id}\t${label}\t[${vad}]`,
        `C-E1:\t${cat()};\t()`,
        `C-E2:\t${cat()}; ${cat()};\t()`,
        `C-E4:\t${cat()};\t(annoyed)`,
        `C-F1:\t${cat()};\t()`,
        `A-E1:\tval ${int(rand, 1, 5)}; act ${int(rand, 1, 5)}; dom  ${int(rand, 1, 5)};\t()`,
        `A-E2:\tval ${int(rand, 1, 5)}; act ${int(rand, 1, 5)}; dom  ${int(rand, 1, 5)};\t()`,
        `A-F1:\tval ${int(rand, 1, 5)}; act ${int(rand, 1, 5)}; dom  ${int(rand, 1, 5)};\t()`,
        '',
      );
      const noise = rand() < 0.08 ? ` [${rand() < 0.5 ? 'LAUGHTER' : 'BREATHING'}]` : '';
      transcript.push(`${id} [${t3pad(start)}-${t3pad(end)}]: ${sentence(rand, 1, 22)}${noise}`);
      // Unevaluated overlap turns (XX ids) sit between the evaluated ones, as in the release.
      if (rand() < 0.03)
        transcript.push(
          `${dialog}_${spk === 'F' ? 'M' : 'F'}XX${int(rand, 0, 9)} [${t3pad(end)}-${t3pad(end + 0.5)}]: [LAUGHTER]`,
        );

      const wavBytes = Math.round((end - start) * 32_000) + 44;
      listed.push({ path: `${S}/sentences/wav/${dialog}/${id}.wav`, size: wavBytes });
      for (const ext of ['wdseg', 'phseg', 'syseg'])
        listed.push({ path: `${S}/sentences/ForcedAlignment/${dialog}/${id}.${ext}`, size: int(rand, 400, 6000) });
      for (const mocap of ['MOCAP_rotated', 'MOCAP_head', 'MOCAP_hand']) {
        listed.push({
          path: `${S}/sentences/${mocap}/${dialog}/${id}.txt`,
          size: Math.round((end - start) * 120 * 900),
        });
      }
      turns++;
    }
    readable.set(`${S}/dialog/EmoEvaluation/${dialog}.txt`, Buffer.from(evalLines.join('\n'), 'utf8'));
    readable.set(`${S}/dialog/transcriptions/${dialog}.txt`, Buffer.from(`${transcript.join('\n')}\n`, 'utf8'));
    listed.push(
      { path: `${S}/dialog/avi/DivX/${dialog}.avi`, size: Math.round(clock * 1_100_000) },
      { path: `${S}/dialog/wav/${dialog}.wav`, size: Math.round(clock * 96_000) },
      { path: `${S}/dialog/MOCAP_rotated/${dialog}.txt`, size: Math.round(clock * 120 * 1800) },
      { path: `${S}/dialog/lab/Ses0${session}_F/${dialog}.lab`, size: int(rand, 1000, 4000) },
      { path: `${S}/dialog/lab/Ses0${session}_M/${dialog}.lab`, size: int(rand, 1000, 4000) },
    );
    // Per-evaluator files below EmoEvaluation/: listed, never read (only the summary file is).
    for (const e of ['e1', 'e2', 'e3', 'e4']) {
      listed.push({ path: `${S}/dialog/EmoEvaluation/Categorical/${dialog}_${e}_cat.txt`, size: n * 40 });
      listed.push({ path: `${S}/dialog/EmoEvaluation/Attribute/${dialog}_${e}_atr.txt`, size: n * 45 });
    }
    listed.push({ path: `${S}/dialog/EmoEvaluation/Self-evaluation/${dialog}_self.txt`, size: n * 50 });
  }
  return { ...corpusOf(readable, listed), turns, dialogs: dialogs.length };
}

// ---------------------------------------------------------------------------------------------------
// MELD

const MELD_SPLIT_SIZES = [
  { split: 'train', rows: 9989, dialogues: 1039, csv: 'train_sent_emo.csv', clips: 'train/train_splits' },
  { split: 'dev', rows: 1109, dialogues: 114, csv: 'dev_sent_emo.csv', clips: 'dev/dev_splits_complete' },
  { split: 'test', rows: 2610, dialogues: 280, csv: 'test_sent_emo.csv', clips: 'test/output_repeated_splits_test' },
] as const;
const MELD_EMOTION_WEIGHTS = [
  ['neutral', 47],
  ['joy', 17],
  ['surprise', 12],
  ['anger', 11],
  ['sadness', 7],
  ['disgust', 3],
  ['fear', 3],
] as const;
const SPEAKERS = [
  ['Rachel', 16],
  ['Ross', 15],
  ['Chandler', 14],
  ['Monica', 14],
  ['Joey', 14],
  ['Phoebe', 13],
  ['The Interviewer', 1],
  ['Mr. Geller', 1],
  ['Janice', 1],
  ['Mike', 1],
  ['Emily', 1],
] as const;

function sentimentOf(rand: () => number, emotion: string): string {
  if (emotion === 'neutral') return 'neutral';
  if (emotion === 'joy') return 'positive';
  if (emotion === 'surprise') return rand() < 0.55 ? 'positive' : 'negative';
  return 'negative';
}

function meldTime(sec: number): string {
  const h = Math.floor(sec / 3600);
  const m = Math.floor((sec % 3600) / 60);
  const s = Math.floor(sec % 60);
  const ms = Math.floor((sec % 1) * 1000);
  return `${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}:${String(s).padStart(2, '0')},${String(ms).padStart(3, '0')}`;
}

/** The utterance as the maintained CSVs spell it: curly apostrophes, ellipses, quoted when needed. */
function meldUtterance(rand: () => number): string {
  let text = sentence(rand, 1, 24).replace(/'/g, '’');
  if (rand() < 0.2) text = text.replace(' ', ', ');
  if (rand() < 0.08) text = text.replace(/[.?]$/, '…');
  if (rand() < 0.03) text = `“${text}”`;
  if (rand() < 0.02) text = `He said "${text}"`;
  if (rand() < 0.002) text = `${text}\n${sentence(rand, 1, 6)}`;
  if (rand() < 0.01) text = text.replace(' ', '  ');
  return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** Splits `total` into `parts` positive counts around the mean. */
function partition(rand: () => number, total: number, parts: number): number[] {
  const mean = total / parts;
  const counts = Array.from({ length: parts }, () => Math.max(1, Math.round(mean * (0.3 + rand() * 1.4))));
  let sum = counts.reduce((a, b) => a + b, 0);
  while (sum !== total) {
    const k = int(rand, 0, parts - 1);
    if (sum > total && counts[k] > 1) {
      counts[k]--;
      sum--;
    } else if (sum < total) {
      counts[k]++;
      sum++;
    }
  }
  return counts;
}

export function generateMeldCorpus(seed = 2): GeneratedCorpus & { csvRows: number } {
  const rand = rng(seed);
  const R = 'MELD.Raw';
  const header = 'Sr No.,Utterance,Speaker,Emotion,Sentiment,Dialogue_ID,Utterance_ID,Season,Episode,StartTime,EndTime';
  const readable = new Map<string, Uint8Array>();
  const listed: CorpusFile[] = [];
  let csvRows = 0;
  for (const spec of MELD_SPLIT_SIZES) {
    const lines = [header];
    let sr = 1;
    const counts = partition(rand, spec.rows, spec.dialogues);
    for (let d = 0; d < spec.dialogues; d++) {
      const season = int(rand, 1, 9);
      const episode = int(rand, 1, 24);
      let clock = rand() * 1200;
      for (let u = 0; u < counts[d]; u++) {
        const start = clock + rand() * 2;
        const end = start + 0.5 + rand() * 6;
        clock = end;
        const emotion = weighted(rand, MELD_EMOTION_WEIGHTS);
        const speaker = weighted(rand, SPEAKERS);
        lines.push(
          `${sr++},${meldUtterance(rand)},${speaker},${emotion},${sentimentOf(rand, emotion)},${d},${u},${season},${episode},"${meldTime(start)}","${meldTime(end)}"`,
        );
        // A handful of clips are missing from the release; the rest are listed with mp4-like sizes.
        if (rand() > 0.001)
          listed.push({ path: `${R}/${spec.clips}/dia${d}_utt${u}.mp4`, size: Math.round((end - start) * 180_000) });
        csvRows++;
      }
    }
    const bom = spec.split === 'train' ? '\ufeff' : '';
    readable.set(`${R}/${spec.csv}`, Buffer.from(`${bom}${lines.join('\r\n')}\r\n`, 'utf8'));
  }
  return { ...corpusOf(readable, listed), csvRows };
}

// ---------------------------------------------------------------------------------------------------

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

async function timeBuild(
  build: () => Promise<ManifestBuildResult>,
): Promise<{ ms: number; result: ManifestBuildResult }> {
  let result = await build();
  for (let i = 1; i < WARMUP; i++) result = await build();
  const times: number[] = [];
  for (let i = 0; i < TIMED; i++) {
    const t0 = performance.now();
    result = await build();
    times.push(performance.now() - t0);
  }
  return { ms: median(times), result };
}

export default async function run(): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const iemocap = generateIemocapCorpus();
  const cases = [
    {
      name: 'IEMOCAP',
      corpus: iemocap,
      labelSet: '6class' as const,
      build: buildIemocapManifest,
      shape: `${iemocap.dialogs} dialogs in 5 sessions`,
    },
    {
      name: 'MELD',
      corpus: generateMeldCorpus(),
      labelSet: 'meld7' as const,
      build: buildMeldManifest,
      shape: '3 CSVs (train/dev/test, CRLF, quoted fields, curly punctuation)',
    },
  ];
  for (const c of cases) {
    const { files, read, annotationBytes, annotationFiles } = c.corpus;
    const { ms, result } = await timeBuild(() =>
      c.build({ files, read, keyPrefix: 'raw/files', labelSet: c.labelSet }),
    );
    const utterances = result.rows.length;
    const mb = annotationBytes / 1e6;
    const common =
      `${utterances} rows from ${c.shape}; ${annotationFiles} annotation files (${mb.toFixed(2)} MB) read from memory, ` +
      `${files.length} files listed; ${result.issues.length} issues; median of ${TIMED} runs after ${WARMUP} warm-up, ${ms.toFixed(0)} ms per build incl. row validation`;
    rows.push({
      bench: BENCH,
      metric: `${c.name} manifest utterances/s`,
      value: (utterances / ms) * 1000,
      unit: 'utt/s',
      notes: common,
    });
    rows.push({
      bench: BENCH,
      metric: `${c.name} annotation text MB/s`,
      value: mb / (ms / 1000),
      unit: 'MB/s',
      notes: 'MB = 10^6 bytes of annotation text read',
    });
  }
  return rows;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  for (const row of await run()) console.log(JSON.stringify(row));
}
