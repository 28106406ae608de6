// Running exported models: ONNX Runtime in Node (no libtorch), the HTTP server and its page, the static site.
export { classifyImages, OnnxClassifier } from './onnx-model.js';
export { decodeWithVips, NeedsServerDecoderError, prepareInput, softmaxRows } from './shared/preprocess.js';
export { openServedModel } from './models.js';
export type { ServedModel, ServeEngine } from './served-model.js';
export { Batcher, ClientGoneError, DecodeLimit, QueueFullError } from './batcher.js';
export {
  createServer,
  DEFAULT_MAX_BATCH,
  DEFAULT_MAX_PIXELS,
  DEFAULT_MAX_QUEUE,
  DEFAULT_MAX_UPLOAD_BYTES,
  DEFAULT_TIMEOUTS_MS,
  MAX_TIMEOUT_S,
  modelDescription,
  RETRY_AFTER_S,
  type ServeOptions,
} from './server.js';
export { UploadError } from './uploads.js';
export { pickExamples } from './examples.js';
export { writeStaticSite } from './static-site.js';
