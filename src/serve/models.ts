// What the server serves, whichever engine runs it: a run folder or checkpoint (libtorch; exported to ONNX in memory
// for the page's in-browser engine) or an exported model.onnx (ONNX Runtime; libtorch, which loads on the first
// tensor operation, is never loaded).
import type { DecodeOptions } from '../data/decode.js';
import type { ModelInfo } from '../export/info.js';
import type { Device } from '../torch/index.js';
import { openLibtorchModel } from './libtorch-model.js';
import { OnnxClassifier, softmaxRows } from './onnx-model.js';

export interface ServedModel {
  engine: 'onnx' | 'libtorch';
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

/** Opens `path`: an .onnx file with ONNX Runtime (on the CPU), anything else (run folder, checkpoint) with libtorch on the device. */
export async function openServedModel(path: string, device: Device = 'cpu'): Promise<ServedModel> {
  if (path.endsWith('.onnx')) {
    if (device !== 'cpu') throw new Error(`--device ${device} serves a run folder or checkpoint with libtorch; ${path} is served by ONNX Runtime on the CPU`);
    const classifier = await OnnxClassifier.load(path);
    return {
      engine: 'onnx',
      info: classifier.info,
      decode: classifier.decode,
      onnxBytes: classifier.bytes,
      probabilities: async (pixels, count) => softmaxRows(await classifier.logits(pixels, count), classifier.info.classNames.length),
      close: () => classifier.close(),
    };
  }
  return openLibtorchModel(path, device);
}
