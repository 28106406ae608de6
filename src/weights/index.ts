// Pretrained weights: reading what users bring (PyTorch, safetensors, folded .npy), mapping names, checking the fit.
export { disposeWeights, readWeights, type SourceKind, type WeightSet } from './sources.js';
export { fromTimmMobileNetV2, selectStateDict, unfoldBatchNorm } from './layouts.js';
export { checkFit, type Fit, fitOf, identifyBackbone } from './match.js';
export {
  applyPretrained,
  IMPORT_FORMAT,
  type Layout,
  mapToBackbone,
  type MappedState,
  pretrainedBackboneOptions,
  type PretrainedWeights,
  readPretrained,
} from './pretrained.js';
export { imagenetWeights, type KnownWeights, type ResolvedSource, resolveSource } from './catalog.js';
export { checkFinite, describeCounts, nonFiniteCounts } from './finite.js';
