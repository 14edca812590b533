import { createReadStream, existsSync } from 'node:fs';
import { join } from 'node:path';
import { sha256Stream } from '../activities/common/hash-stream.ts';
import { merHome } from '../activities/common/tools.ts';
import { executeRun } from './run-command.ts';
import { serveFiles } from './serve-file.ts';
import { synthesize } from './synth/index.ts';

const ARCHIVES = { iemocap: 'IEMOCAP_full_release.tar.gz', meld: 'MELD.Raw.tar.gz' } as const;

/** Finds or makes the synthetic corpus archive for a dataset (deterministic, so made once). */
async function demoArchive(dataset: 'iemocap' | 'meld', dir: string): Promise<string> {
  const out = join(dir, dataset);
  const marker = join(out, 'synth-truth.json');
  if (existsSync(marker)) {
    const found = await findArchive(out, ARCHIVES[dataset]);
    if (found) return found;
  }
  console.error(`synthesizing a small ${dataset} corpus in ${out} (ffmpeg)`);
  const r = await synthesize({ dataset, out, archive: true, seed: 1, scale: 'tiny' });
  if (!r.archive) throw new Error(`synthesize did not produce an archive for ${dataset}`);
  return r.archive;
}

async function findArchive(dir: string, name: string): Promise<string | null> {
  for (const p of [join(dir, name), join(dir, 'archive', name)]) if (existsSync(p)) return p;
  return null;
}

/**
 * `npm run demo`: both corpora in their real archive forms; IEMOCAP as a local archive (as a licensed
 * user would have it), MELD fetched over HTTP from 127.0.0.1 through the resumable downloader (standing
 * in for its public URL), with its sha256 checked. A second demo reuses everything from the store.
 */
export async function runDemo(opts: { fresh: boolean }): Promise<void> {
  const dir = join(merHome(), 'demo');
  const iemocap = await demoArchive('iemocap', join(dir, 'corpora'));
  const meld = await demoArchive('meld', join(dir, 'corpora'));
  const meldSha = await sha256Stream(createReadStream(meld));
  const server = await serveFiles([meld]);
  try {
    const store = opts.fresh ? join(dir, `store-${Date.now()}`) : join(dir, 'store');
    const r = await executeRun({
      iemocap,
      meld: server.urlOf(meld),
      meldSha256: meldSha,
      until: 'acquire',
      store,
      chunkMib: 1,
    });
    if (r) {
      console.log(`\nmanifests are in the store at ${store}:`);
      for (const d of Object.values(r.result.datasets)) console.log(`  ${join(store, d.manifestKey)}`);
      console.log('inspect one with: npx mer manifest --dataset meld --source', meld, '--store', store, '--json');
      console.log('the dev server keeps running for the UI; stop it with: npx mer dev --stop');
    }
  } finally {
    await server.close();
  }
}
