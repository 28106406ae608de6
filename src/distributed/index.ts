// Data-parallel training across processes and machines with torch.distributed's c10d.
export { type GroupOptions, optionsFromEnv, ProcessGroup, type ReduceOp } from './process-group.js';
