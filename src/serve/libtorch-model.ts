// A run folder or checkpoint served with libtorch; the page's in-browser engine gets it exported to ONNX in memory.
import { evalBatch } from '../data/index.js';
import { exportOnnx } from '../export/index.js';
import { noGrad, tidy } from '../torch/index.js';
import { loadModel } from '../train/index.js';
import type { ServedModel } from './models.js';

export function openLibtorchModel(path: string): ServedModel {
  const loaded = loadModel(path);
  const { bytes, info } = exportOnnx(loaded, path);
  return {
    engine: 'libtorch',
    info,
    decode: loaded.decode,
    onnxBytes: bytes,
    probabilities: async (pixels, count) => tidy(() => noGrad(() => loaded.model.forward(evalBatch(pixels, count, loaded.decodeSize, loaded.size)).softmax(1)).data() as Float32Array),
    close: async () => loaded.model.dispose(),
  };
}
