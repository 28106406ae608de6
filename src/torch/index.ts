// The engine's public surface: tensors, creation, functional ops, autograd, scopes, runtime controls and settings.
export {
  Tensor,
  type MemoryFormat,
  type Scalar,
  type Shape,
  type NestedArray,
  type MaxMin,
  type BackwardOptions,
  schemaOf,
  observeOps,
  type OpArg,
  type OpObserver,
} from './tensor.js';
export * from './creation.js';
export * from './functions.js';
export * as F from './functional.js';
export * as foreach from './foreach.js';
export { noGrad, enableGrad, isGradEnabled, backward } from './autograd.js';
export {
  autocast,
  autocastState,
  type AutocastOptions,
  type AutocastDevice,
  PRECISIONS,
  type Precision,
  withPrecision,
} from './autocast.js';
export { tidy, keep, dispose } from './scope.js';
export * from './runtime.js';
export {
  configureEngine,
  CPU_CAPABILITIES,
  type CpuCapabilityName,
  engineDefaults,
  type EngineSettings,
} from './engine.js';
export { cpuHasNativeBf16, preferredCpuCapability } from './cpu.js';
export {
  type AnyTypedArray,
  type DType,
  DTYPE_BYTES,
  DTYPES,
  type HalfDType,
  isFloating,
  isHalf,
  typedArrayOf,
} from './dtype.js';
export { type Device, deviceType, resolveDevice } from './device.js';
export { packageRoot, sharedDir } from './package-root.js';
