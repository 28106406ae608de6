// Running exported models: ONNX Runtime in Node (no libtorch).
export { classifyImages, OnnxClassifier, prepareInput, softmaxRows } from './onnx-model.js';
