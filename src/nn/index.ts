// Modules and layers.
export { Layer, type LoadResult, Module, type StateDict } from './module.js';
export * from './layers.js';
export * as init from './init.js';
export { calibrateBatchNorm } from './calibrate.js';
