// dsdnet: remote sensing scene classification on libtorch.
export * as torch from './torch/index.js';
