// What the server serves, whichever engine runs it: a run folder or checkpoint (libtorch; exported to ONNX in memory
// for the page's in-browser engine) or an exported model.onnx (ONNX Runtime; libtorch, which loads on the first
// tensor operation, is never loaded).
import type { DecodeOptions } from '../data/decode.js';
import type { ModelInfo } from '../export/info.js';
import { openLibtorchModel } from './libtorch-model.js';
import { OnnxClassifier, softmaxRows } from './onnx-model.js';

export interface ServedModel {
  engine: 'onnx' | 'libtorch';
  info: ModelInfo;
  decode: DecodeOptions;
  /** The ONNX model the page runs in the browser. */
  onnxBytes: Uint8Array;
  /** Class probabilities (count x classes) for decoded images of info.decodeSize px. */
  probabilities(pixels: Uint8Array, count: number): Promise<ArrayLike<number>>;
  close(): Promise<void>;
}

/** Opens `path`: an .onnx file with ONNX Runtime, anything else (run folder, checkpoint) with libtorch. */
export async function openServedModel(path: string): Promise<ServedModel> {
  if (path.endsWith('.onnx')) {
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
  return openLibtorchModel(path);
}
