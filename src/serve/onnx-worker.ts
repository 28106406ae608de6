// The thread an OnnxClassifier's session runs on. onnxruntime-node's `run` is synchronous: on the main thread a batch
// would hold the event loop (a server's uploads, health checks and metrics; a map's reading of the next windows)
// for its whole duration. Here it prepares the input and runs the model; the main thread only posts pixels.
import { parentPort, workerData } from 'node:worker_threads';

import type * as Ort from 'onnxruntime-node';

import { INPUT_NAME, type ModelInfo, OUTPUT_NAME, PIXELS_NAME } from '../export/index.js';
import { prepareInput } from './shared/preprocess.js';

export interface SessionStart {
  bytes: Uint8Array;
  info: ModelInfo;
  options: Ort.InferenceSession.SessionOptions;
}
export interface RunRequest {
  id: number;
  pixels: Uint8Array;
  count: number;
}
export type WorkerReply =
  { id: 'ready' } | { id: number; logits: Float32Array } | { id: number | 'ready'; error: string };

const port = parentPort;
if (port === null) throw new Error('onnx-worker.js runs as a worker thread (see OnnxClassifier)');
const { bytes, info, options } = workerData as SessionStart;
const { decodeSize: d, inputSize: s } = info;

try {
  const ort = await import('onnxruntime-node');
  const session = await ort.InferenceSession.create(bytes, options);
  port.on('message', (request: RunRequest | 'release') => {
    if (request === 'release') {
      void session.release().finally(() => port.close());
      return;
    }
    const { id, pixels, count } = request;
    const feeds: Record<string, Ort.Tensor> =
      info.input === 'uint8'
        ? { [PIXELS_NAME]: new ort.Tensor('uint8', pixels, [count, d, d, 3]) }
        : { [INPUT_NAME]: new ort.Tensor('float32', prepareInput(pixels, count, info), [count, 3, s, s]) };
    session.run(feeds).then(
      (outputs) => {
        const logits = new Float32Array(outputs[OUTPUT_NAME].data as Float32Array); // its own buffer, moved not copied
        port.postMessage({ id, logits } satisfies WorkerReply, [logits.buffer as ArrayBuffer]);
      },
      (error: unknown) => port.postMessage({ id, error: (error as Error).message ?? String(error) }),
    );
  });
  port.postMessage({ id: 'ready' } satisfies WorkerReply);
} catch (error) {
  port.postMessage({ id: 'ready', error: (error as Error).message ?? String(error) } satisfies WorkerReply);
}
