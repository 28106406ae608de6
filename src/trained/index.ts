// A trained model: the settings its file records (checked like flags), the run configuration and checkpoint info
// it was saved with, loading it (with an sd/dsd run's stage heads), scoring decoded images with it.
export { AUXILIARY_PREFIX, checkClassNames, SNAPSHOT_FORMAT, type SnapshotInfo } from './checkpoint-info.js';
export { type LoadedModel, loadModel } from './load.js';
export { AUGMENTS, decodeSize, OPTIMIZERS, type TrainConfig } from './run-config.js';
export { scoreImages, scorer } from './score.js';
export { decodeProblems, MIN_SIZE, type ModelSettings, modelSettingsProblems } from './settings.js';
