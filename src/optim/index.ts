// Optimizers, gradient clipping and learning-rate schedules.
export {
  type GroupOptions,
  type GroupSpec,
  Optimizer,
  type OptimizerSettings,
  type OptimizerState,
  type ParamBatch,
  type ParamGroup,
} from './optimizer.js';
export { SGD, type SgdOptions } from './sgd.js';
export { RMSprop, type RmspropOptions } from './rmsprop.js';
export { Adam, type AdamOptions, AdamW } from './adam.js';
export { clipGradNorm } from './clip.js';
export { GradScaler, type GradScalerOptions, type GradScalerState } from './grad-scaler.js';
export * from './schedules.js';
