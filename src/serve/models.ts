// What the server serves, whichever engine runs it. On the CPU every model runs in ONNX Runtime, which batches and
// computes off the event loop: an exported model.onnx as it is, a run folder or checkpoint exported on start (in
// memory, taking decoded pixels). `--engine libtorch` (and any GPU) scores run folders with libtorch instead.
import type { DecodeOptions } from '../data/decode.js';
import type { ModelInfo } from '../export/info.js';
import type { Device } from '../torch/index.js';
import { exportRun, openLibtorchModel } from './libtorch-model.js';
import { OnnxClassifier } from './onnx-model.js';
import { softmaxRows } from './shared/preprocess.js';

export type ServeEngine = 'onnx' | 'libtorch';

export interface ServedModel {
  engine: ServeEngine;
  info: ModelInfo;
  decode: DecodeOptions;
  /** The dataset folder of the run it was trained on, from the run's own config (a run folder or checkpoint). */
  dataset?: string;
  /** The ONNX model the page runs in the browser. */
  onnxBytes: Uint8Array;
  /** Class probabilities (count x classes) for decoded images of info.decodeSize px. */
  probabilities(pixels: Uint8Array, count: number): Promise<ArrayLike<number>>;
  close(): Promise<void>;
}

function onnxServed(classifier: OnnxClassifier, dataset?: string): ServedModel {
  return {
    engine: 'onnx',
    dataset,
    info: classifier.info,
    decode: classifier.decode,
    onnxBytes: classifier.bytes,
    probabilities: async (pixels, count) => softmaxRows(await classifier.logits(pixels, count), classifier.info.classNames.length),
    close: () => classifier.close(),
  };
}

/**
 * Opens `path`: an .onnx file with ONNX Runtime (on the CPU); a run folder or checkpoint with ONNX Runtime on the CPU
 * (exported on start) unless the engine is libtorch or the device is a GPU.
 */
export async function openServedModel(path: string, device: Device = 'cpu', engine: ServeEngine = device === 'cpu' ? 'onnx' : 'libtorch'): Promise<ServedModel> {
  if (engine === 'onnx' && device !== 'cpu') throw new Error(`--device ${device}: ONNX Runtime serves on the CPU; a run folder or checkpoint is served on a GPU with --engine libtorch`);
  if (path.endsWith('.onnx')) {
    if (engine !== 'onnx') throw new Error(`--engine ${engine} serves a run folder or checkpoint; ${path} is served by ONNX Runtime on the CPU`);
    return onnxServed(await OnnxClassifier.load(path));
  }
  if (engine === 'onnx') {
    const { bytes, dataset } = exportRun(path);
    return onnxServed(await OnnxClassifier.fromBytes(bytes, path), dataset);
  }
  return openLibtorchModel(path, device);
}
