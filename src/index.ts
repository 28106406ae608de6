// dsdnet: remote sensing scene classification on libtorch.
export * as torch from './torch/index.js';
export * as nn from './nn/index.js';
export * as models from './models/index.js';
export * as optim from './optim/index.js';
export * as io from './io/index.js';
export * as trained from './trained/index.js';
export * as train from './train/index.js';
export * as data from './data/index.js';
export * as dsd from './dsd/index.js';
export * as evaluation from './eval/index.js';
