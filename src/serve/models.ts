// Opening what the server serves. On the CPU every model runs in ONNX Runtime, a batch of requests at a time (the
// fastest engine here): an exported model.onnx as it is, a run folder or checkpoint exported on start (in
// memory, taking decoded pixels). `--engine libtorch` (and any GPU) scores run folders with libtorch instead.
import type { Device } from '../torch/index.js';
import { exportRun, openLibtorchModel } from './libtorch-model.js';
import { OnnxClassifier } from './onnx-model.js';
import type { ServedModel, ServeEngine } from './served-model.js';
import { softmaxRows } from './shared/preprocess.js';

function onnxServed(classifier: OnnxClassifier, dataset?: string): ServedModel {
  return {
    engine: 'onnx',
    dataset,
    info: classifier.info,
    decode: classifier.decode,
    onnxBytes: classifier.bytes,
    probabilities: async (pixels, count) =>
      softmaxRows(await classifier.logits(pixels, count), classifier.info.classNames.length),
    close: () => classifier.close(),
  };
}

/**
 * Opens `path`: an .onnx file with ONNX Runtime (on the CPU); a run folder or checkpoint with ONNX Runtime on the CPU
 * (exported on start) unless the engine is libtorch or the device is a GPU.
 */
export async function openServedModel(
  path: string,
  device: Device = 'cpu',
  engine: ServeEngine = device === 'cpu' ? 'onnx' : 'libtorch',
): Promise<ServedModel> {
  if (engine === 'onnx' && device !== 'cpu')
    throw new Error(
      `--device ${device}: ONNX Runtime serves on the CPU; a run folder or checkpoint is served on a GPU with --engine libtorch`,
    );
  if (path.endsWith('.onnx')) {
    if (engine !== 'onnx')
      throw new Error(
        `--engine ${engine} serves a run folder or checkpoint; ${path} is served by ONNX Runtime on the CPU`,
      );
    return onnxServed(await OnnxClassifier.load(path));
  }
  if (engine === 'onnx') {
    const { bytes, dataset } = exportRun(path);
    return onnxServed(await OnnxClassifier.fromBytes(bytes, path), dataset);
  }
  return openLibtorchModel(path, device);
}
