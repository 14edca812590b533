import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Every file under `root` (path relative to it, leading `/`) with its modification time: a rewrite of
 * any of them changes the map. `live`: the tree is being written (a store mid-upload), so a folder or
 * file that is not there (yet, or any more) is skipped instead of failing the walk.
 */
export async function fileMtimes(root: string, o: { live?: boolean } = {}): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  const walk = async (d: string): Promise<void> => {
    let entries;
    try {
      entries = await readdir(d, { withFileTypes: true });
    } catch (err) {
      if (o.live) return;
      throw err;
    }
    for (const e of entries) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else {
        try {
          out.set(p.slice(root.length), (await stat(p)).mtimeMs);
        } catch (err) {
          // renamed away under us (an upload finishing)
          if (!o.live) throw err;
        }
      }
    }
  };
  await walk(root);
  return out;
}
