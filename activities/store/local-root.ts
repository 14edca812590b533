import { realpathSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { storeRootAdvice, systemFolderRefusal } from '../../schemas/store.ts';
import { ErrorTypes, MerError } from '../common/errors.ts';

/**
 * Whether a folder may be a local store's root. The config schema refuses system folders by name
 * (schemas/store.ts); here the path is also resolved the way the kernel will, symlinks and `..`
 * included, so `/tmp/link-to-etc` or `~/../..` is refused as what it really is, and the user's home
 * folder itself is refused too (`mer gc --delete` and deletePrefix would work across it).
 */

/** The path with every symlink of its longest existing ancestor resolved (the rest may not exist yet). */
export function realFolder(path: string): string {
  const abs = resolve(path);
  let head = abs;
  const rest: string[] = [];
  for (;;) {
    try {
      return join(realpathSync(head), ...rest.reverse());
    } catch {
      const up = dirname(head);
      if (up === head) return abs;
      rest.push(basename(head));
      head = up;
    }
  }
}

/** Why `root` cannot be a store root, or null when it may. */
export function localRootRefusal(root: string): string | null {
  const abs = resolve(root);
  const real = realFolder(abs);
  const why = systemFolderRefusal(abs) ?? systemFolderRefusal(real);
  if (why) return real === abs ? why : `${why} (${abs} resolves to ${real})`;
  const home = homedir();
  if (home && (real === realFolder(home) || abs === resolve(home))) return `${abs} is the home folder ${home}`;
  return null;
}

/** Throws a non-retryable MerStoreRootUnusable naming the folder when it cannot be a store root. */
export function assertUsableLocalRoot(root: string): void {
  const why = localRootRefusal(root);
  if (why) {
    throw new MerError(ErrorTypes.StoreRootUnusable, `local store ${resolve(root)}: ${storeRootAdvice(why)}`, {
      root: resolve(root),
    });
  }
}
