// DSDNet: diffusion self-distillation, and its baselines.
export {
  CONDITIONS,
  DEFAULT_METHOD_OPTIONS,
  DISTILL_MODES,
  type LossResult,
  methodOptionProblems,
  METHODS,
  type MethodName,
  type MethodOptions,
  readTerms,
  SelfDistillationNet,
} from './method.js';
export { DiffusionModule, StageHead, TIME_EMBEDDING_ROWS } from './diffusion.js';
export { distillLoss, type DistillMode, entropy, releasedDistill, softCrossEntropy } from './losses.js';
export { DEFAULT_NOISE_SCHEDULE, NoiseSchedule, type NoiseScheduleOptions } from './schedule.js';
