import { createReadStream, existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sha256Stream } from '../activities/common/hash-stream.ts';
import { merHome } from '../activities/common/tools.ts';
import { executeRun } from './run-command.ts';
import { serveFiles } from './serve-file.ts';
import { synthesize } from './synth/index.ts';

const ARCHIVES = { iemocap: 'IEMOCAP_full_release.tar.gz', meld: 'MELD.Raw.tar.gz' } as const;

/** The tiny random-weight encoders the tests use (scripts/extract/make_tiny_models.py): the demo needs no download. */
const TINY_MODELS = fileURLToPath(new URL('../test/fixtures/models/', import.meta.url));

/**
 * Finds or makes the synthetic corpus archive for a dataset (deterministic, so made once). Cue corpora:
 * each label leaves a word, a pitch and a colour band, so the demo's model has something to learn.
 */
async function demoArchive(dataset: 'iemocap' | 'meld', dir: string, scale: 'tiny' | 'small'): Promise<string> {
  const out = join(dir, `${dataset}-${scale}-cue`);
  const marker = join(out, 'synth-truth.json');
  if (existsSync(marker)) {
    const found = findArchive(out, ARCHIVES[dataset]);
    if (found) return found;
  }
  console.error(`synthesizing a small ${dataset} corpus in ${out} (ffmpeg)`);
  const r = await synthesize({ dataset, out, archive: true, seed: 1, scale, cue: true });
  if (!r.archive) throw new Error(`synthesize did not produce an archive for ${dataset}`);
  return r.archive;
}

function findArchive(dir: string, name: string): string | null {
  for (const p of [join(dir, name), join(dir, 'archive', name)]) if (existsSync(p)) return p;
  return null;
}

/**
 * `npm run demo`: both corpora in their real archive forms; IEMOCAP as a local archive (as a licensed
 * user would have it), MELD fetched over HTTP from 127.0.0.1 through the resumable downloader (standing
 * in for its public URL), with its sha256 checked. By default the whole pipeline runs, with the tiny
 * encoders, to the evaluation report; `--until acquire` stops early. A second demo reuses everything.
 */
export async function runDemo(opts: {
  fresh: boolean;
  until?: string;
  /** `--seeds N`: every training N times, for the report's intervals and paired tests (issue 18). */
  seeds?: number;
  ablations?: string;
}): Promise<void> {
  const dir = join(merHome(), 'demo');
  const until = opts.until ?? 'evaluate';
  const iemocap = await demoArchive('iemocap', join(dir, 'corpora'), 'small');
  const meld = await demoArchive('meld', join(dir, 'corpora'), 'tiny');
  const meldSha = await sha256Stream(createReadStream(meld));
  const server = await serveFiles([meld]);
  try {
    const store = opts.fresh ? join(dir, `store-${Date.now()}`) : join(dir, 'store');
    // Small corpora and tiny encoders: a higher learning rate and smaller batches than the paper's
    // settings, so a few epochs learn the cues; IEMOCAP uses the 1-fold s5 protocol to keep it short.
    const config = join(dir, 'mer.json');
    await mkdir(dir, { recursive: true });
    const tiny = (name: string) => ({ model: join(TINY_MODELS, name) });
    // With seeds, IEMOCAP takes the paper protocol's 2 random folds: every utterance is tested once per
    // seed, so the paired tests resample all 20 dialogues; s5 tests 4, too few for a dialogue-level test.
    const iemocapSplits = opts.seeds ? { protocol: 'paper', folds: 2 } : { protocol: 's5' };
    await writeFile(
      config,
      JSON.stringify(
        {
          name: 'demo',
          extract: { text: tiny('tiny-bert'), audio: tiny('tiny-wav2vec2'), visual: tiny('tiny-swin') },
          segment: { shardSize: 64 },
          train: {
            lr: 0.001,
            batchSize: 16,
            maxEpochs: 15,
            patience: 5,
            splits: { iemocap: iemocapSplits },
            ...(opts.seeds ? { seeds: opts.seeds } : {}),
            ...(opts.ablations ? { ablations: opts.ablations } : {}),
          },
        },
        null,
        2,
      ),
    );
    const r = await executeRun({
      config,
      iemocap,
      meld: server.urlOf(meld),
      meldSha256: meldSha,
      until,
      store,
      chunkMib: 1,
    });
    if (r) {
      console.log(`\nthe store is ${store}`);
      for (const d of Object.values(r.result.datasets)) console.log(`  manifest ${join(store, d.manifestKey)}`);
      for (const rep of Object.values(r.result.reports ?? {})) console.log(`  report   ${join(store, rep.htmlKey)}`);
      if (r.result.reports) console.log(`fetch a copy with: npx mer report ${r.input.configHash} --open`);
      console.log('the dev server keeps running for the UI (http://localhost:8233); stop it with: npx mer dev --stop');
    }
  } finally {
    await server.close();
  }
}
