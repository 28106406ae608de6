// Training: configuration and presets, the trainer and its run folder, snapshots for exact resume.
export { readSnapshot, restoreSnapshot, saveSnapshot, type SnapshotParts } from './snapshot.js';
export {
  type ConfigSettings,
  DEFAULT_CONFIG,
  PRECISION_SETTINGS,
  type PrecisionSetting,
  readPreset,
  resolveConfig,
  resolvePrecision,
  validateConfig,
} from './config.js';
export { readRunConfig, train, type TrainOptions, type TrainResult } from './trainer.js';
export { lrScale, makeOptimizer, makeSchedule } from './optimizer.js';
export { summarize } from './report.js';
export { type EpochRecord, NonFiniteLossError } from './loop.js';
export { Reporter, type ReportMode } from './reporter.js';
export { checkRunFolder } from './run-folder.js';
export {
  decodeForModel,
  type DecodedSplit,
  type DecodeSplitOptions,
  runSplit,
  SPLIT_PARTS,
  type SplitPart,
} from './run-data.js';
