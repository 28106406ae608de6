// Training: configuration and presets, the trainer and its run folder, snapshots for exact resume, loading models.
export { checkClassNames, readSnapshot, restoreSnapshot, saveSnapshot, SNAPSHOT_FORMAT, type SnapshotInfo, type SnapshotParts } from './snapshot.js';
export { AUGMENTS, type ConfigSettings, decodeSize, DEFAULT_CONFIG, OPTIMIZERS, PRECISION_SETTINGS, type PrecisionSetting, readPreset, resolveConfig, resolvePrecision, type TrainConfig, validateConfig } from './config.js';
export { LIGHT_AUGMENT, lrScale, readRunConfig, summarize, train, type TrainOptions, type TrainResult } from './trainer.js';
export { type EpochRecord, NonFiniteLossError } from './loop.js';
export { type LoadedModel, loadModel, predict, type PredictOptions, scoreImages } from './model.js';
export { Reporter, type ReportMode } from './reporter.js';
export { checkRunFolder } from './run-folder.js';
export { decodeForModel, type DecodedSplit, type DecodeSplitOptions, runSplit, SPLIT_PARTS, type SplitPart } from './run-data.js';
export { MIN_SIZE, modelSettingsProblems, type ModelSettings } from './model-settings.js';
