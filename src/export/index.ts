// Export: trained classifiers as ONNX models (traced forward pass, op mapping, BatchNorm folding, metadata).
export { type TracedArg, type TracedGraph, type TracedNode, traceForward } from './trace.js';
export { foldBatchNorm } from './fold.js';
export { DEFAULT_OPSET, MIN_OPSET, writeOnnx, type OnnxWriteOptions } from './onnx.js';
export { INPUT_NAME, OUTPUT_NAME, PIXELS_NAME } from './names.js';
export { type ExportOptions, exportOnnx, modelInfo } from './model.js';
export { fixedInputBatch, METADATA_KEY, type ModelInfo, ONNX_FORMAT, onnxMetadata, readModelInfo } from './info.js';
