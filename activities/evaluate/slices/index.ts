/** Slices of the test predictions (issue 18): computation, report blocks and charts. */
export {
  computeSlices,
  tertileCuts,
  type SliceManifestRow,
  type SliceOptions,
  type SliceVariantInput,
} from './compute.ts';
export { sliceBlocks } from './report.ts';
export { classGainsSvg, sliceIntervalsSvg } from './chart.ts';
export { storedSlices } from './stored.ts';
