// The workflow bundle's entry point: every workflow type a worker can run.
export { MerPipeline } from './pipeline.ts';
export { AcquireDataset } from './acquire.ts';
export { SegmentDataset } from './segment.ts';
export { ExtractDataset } from './extract.ts';
export { CompressDataset } from './compress.ts';
export { TrainDataset } from './train.ts';
export { EvaluateDataset } from './evaluate.ts';
export { MerSweep } from './sweep.ts';
