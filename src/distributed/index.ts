// Data-parallel training across processes and machines with torch.distributed's c10d.
export {
  type Backend,
  backends,
  type GroupOptions,
  optionsFromEnv,
  ProcessGroup,
  type ReduceOp,
} from './process-group.js';
export { DataParallel, type DataParallelOptions } from './data-parallel.js';
export { GradientReducer, type ReducerOptions } from './reducer.js';
export { syncBatchNorm } from './sync-batchnorm.js';
