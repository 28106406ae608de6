// Training: configuration and presets (and the command line's flags for them), the trainer and its run folder,
// snapshots for exact resume.
export { readSnapshot, restoreSnapshot, saveSnapshot, type SnapshotParts } from './snapshot.js';
export {
  type ConfigSettings,
  DEFAULT_CONFIG,
  PRECISION_SETTINGS,
  type PrecisionSetting,
  readPreset,
  readRunConfig,
  resolveConfig,
  resolvePrecision,
  validateConfig,
} from './config.js';
export { checkMethodFlags, overridesFromFlags, resumeContradictions, type RunFlags } from './run-flags.js';
export { train, type TrainOptions, type TrainResult } from './trainer.js';
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
