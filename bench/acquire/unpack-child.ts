/**
 * One unpacking in a fresh process, for unpack.bench.ts: peak RSS of a process that did nothing else
 * is the unpacking's own footprint, which the bench process (holding generators and results) would hide.
 *
 *   node --import tsx bench/acquire/unpack-child.ts <archive> <storeRoot>
 *   node --import tsx bench/acquire/unpack-child.ts --baseline
 *
 * Prints one JSON line. `--baseline` loads the same modules and unpacks nothing: the RSS floor.
 * `process.resourceUsage().maxRSS` is printed too, but the peak reported is VmHWM (see peakRssKiB).
 */
import { peakRssKiB } from '../peak-rss.ts';
import { basename } from 'node:path';
import { unpackToStore } from '../../activities/acquire/archive/unpacker.ts';
import { LocalStore } from '../../activities/store/local.ts';

export interface UnpackChildResult {
  ms: number;
  /** Peak RSS of this process since exec, KiB: VmHWM on Linux, else `maxRssKiB`. */
  peakRssKiB: number;
  /**
   * process.resourceUsage().maxRSS, KiB. On Linux it starts at the parent's RSS at fork time (the
   * kernel carries the forked copy's high-water mark across exec), so it overstates a small child.
   */
  maxRssKiB: number;
  bytesIn: number;
  bytesOut: number;
  files: number;
  entries: number;
  sha256: string;
}

const [archive, storeRoot] = process.argv.slice(2);
if (archive === '--baseline') {
  const out: UnpackChildResult = {
    ms: 0,
    peakRssKiB: peakRssKiB(),
    maxRssKiB: process.resourceUsage().maxRSS,
    bytesIn: 0,
    bytesOut: 0,
    files: 0,
    entries: 0,
    sha256: '',
  };
  console.log(JSON.stringify(out));
} else {
  if (!archive || !storeRoot) throw new Error('usage: unpack-child.ts <archive> <storeRoot> | --baseline');
  const store = new LocalStore(storeRoot);
  const t0 = performance.now();
  const r = await unpackToStore({
    store,
    input: { kind: 'file', path: archive },
    archiveName: basename(archive),
    destPrefix: 'raw/files',
  });
  const ms = performance.now() - t0;
  const out: UnpackChildResult = {
    ms,
    peakRssKiB: peakRssKiB(),
    maxRssKiB: process.resourceUsage().maxRSS,
    bytesIn: r.bytesIn,
    bytesOut: r.bytesOut,
    files: r.files.length,
    entries: r.entries,
    sha256: r.sha256,
  };
  console.log(JSON.stringify(out));
}
