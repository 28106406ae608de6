// The engine's public surface: tensors, creation, functional ops, autograd, scopes and runtime controls.
export { Tensor, type Scalar, type Shape, type NestedArray, type MaxMin, type BackwardOptions, schemaOf } from './tensor.js';
export * from './creation.js';
export * from './functions.js';
export * as F from './functional.js';
export { noGrad, enableGrad, isGradEnabled, backward } from './autograd.js';
export { tidy, keep, dispose } from './scope.js';
export * from './runtime.js';
export { type DType, DTYPES } from './dtype.js';
export { type Device } from './device.js';
