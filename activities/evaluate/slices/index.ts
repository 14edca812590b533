/** Slices of the test predictions (issue 18): computation, report blocks and chart. */
export {
  computeSlices,
  tertileCuts,
  type SliceManifestRow,
  type SliceOptions,
  type SliceVariantInput,
} from './compute.ts';
