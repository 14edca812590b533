/**
 * One download in a fresh process, for download.bench.ts: peak RSS of a process that did nothing else
 * is the download's own footprint (the bench process also runs the HTTP server, which would hide it).
 *
 *   node --import tsx bench/acquire/download-child.ts <url> <storeRoot> <chunkBytes>
 *   node --import tsx bench/acquire/download-child.ts --baseline
 *
 * Prints one JSON line. `--baseline` loads the same modules and downloads nothing: the RSS floor.
 * `process.resourceUsage().maxRSS` is printed too, but the peak reported is VmHWM (see peakRssKiB).
 */
import { peakRssKiB } from '../peak-rss.ts';
import { downloadToStore } from '../../activities/acquire/downloader/resumable-download.ts';
import { LocalStore } from '../../activities/store/local.ts';

export interface DownloadChildResult {
  ms: number;
  /** Peak RSS of this process since exec, KiB: VmHWM on Linux, else `maxRssKiB`. */
  peakRssKiB: number;
  /**
   * process.resourceUsage().maxRSS, KiB. On Linux it starts at the parent's RSS at fork time (the
   * kernel carries the forked copy's high-water mark across exec), so it overstates a small child.
   */
  maxRssKiB: number;
  totalBytes: number;
  parts: number;
  reconnects: number;
}

const [url, storeRoot, chunk] = process.argv.slice(2);
if (url === '--baseline') {
  const out: DownloadChildResult = {
    ms: 0,
    peakRssKiB: peakRssKiB(),
    maxRssKiB: process.resourceUsage().maxRSS,
    totalBytes: 0,
    parts: 0,
    reconnects: 0,
  };
  console.log(JSON.stringify(out));
} else {
  if (!url || !storeRoot || !chunk)
    throw new Error('usage: download-child.ts <url> <storeRoot> <chunkBytes> | --baseline');
  const store = new LocalStore(storeRoot);
  const t0 = performance.now();
  const r = await downloadToStore({ store, url, partsPrefix: 'downloads/bench', chunkBytes: Number(chunk) });
  const ms = performance.now() - t0;
  const out: DownloadChildResult = {
    ms,
    peakRssKiB: peakRssKiB(),
    maxRssKiB: process.resourceUsage().maxRSS,
    totalBytes: r.totalBytes,
    parts: r.parts.length,
    reconnects: r.reconnects,
  };
  console.log(JSON.stringify(out));
}
