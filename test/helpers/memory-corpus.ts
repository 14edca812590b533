import type { CorpusFile } from '../../activities/acquire/manifest-common.ts';

/**
 * An in-memory corpus for the manifest builders: string/bytes entries are readable files, numbers are
 * media of that size (listed, never read). `reads` records which files a builder opened.
 */
export function memoryCorpus(entries: Record<string, string | Uint8Array | number>) {
  const files: CorpusFile[] = [];
  const contents = new Map<string, Uint8Array>();
  for (const [path, v] of Object.entries(entries)) {
    if (typeof v === 'number') {
      files.push({ path, size: v });
      continue;
    }
    const bytes = typeof v === 'string' ? Buffer.from(v, 'utf8') : v;
    contents.set(path, bytes);
    files.push({ path, size: bytes.length });
  }
  const reads: string[] = [];
  const read = (path: string): Promise<Uint8Array> => {
    reads.push(path);
    const b = contents.get(path);
    if (!b) return Promise.reject(new Error(`test corpus has no readable file ${path}`));
    return Promise.resolve(b);
  };
  return { files, read, reads };
}
