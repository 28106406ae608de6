// Running exported models: ONNX Runtime in Node (no libtorch), the HTTP server and its page, the static site.
export { classifyImages, OnnxClassifier, prepareInput, softmaxRows } from './onnx-model.js';
export { openServedModel, type ServedModel } from './models.js';
export { Batcher, DecodeLimit, QueueFullError } from './batcher.js';
export { createServer, DEFAULT_MAX_PIXELS, DEFAULT_TIMEOUTS_MS, modelDescription, type ServeOptions, UploadError } from './server.js';
export { pickExamples } from './examples.js';
export { writeStaticSite } from './static-site.js';
