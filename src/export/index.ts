// Export: trained classifiers as ONNX models (traced forward pass, op mapping, BatchNorm folding, metadata).
export { type TracedArg, type TracedGraph, type TracedNode, traceForward } from './trace.js';
export { foldBatchNorm } from './fold.js';
export { DEFAULT_OPSET, INPUT_NAME, MIN_OPSET, onnxMetadata, OUTPUT_NAME, writeOnnx, type OnnxWriteOptions } from './onnx.js';
export { type ExportOptions, exportOnnx, METADATA_KEY, type ModelInfo, modelInfo, ONNX_FORMAT } from './model.js';
