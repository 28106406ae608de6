// A run folder or checkpoint served with libtorch; the page's in-browser engine gets it exported to ONNX in memory.
import { exportOnnx } from '../export/index.js';
import type { Device } from '../torch/index.js';
import { loadModel, scoreImages } from '../train/index.js';
import type { ServedModel } from './models.js';

/** Scores on the device; the in-browser engine's ONNX copy is exported on the CPU first. */
export function openLibtorchModel(path: string, device: Device = 'cpu'): ServedModel {
  const loaded = loadModel(path);
  const { bytes, info } = exportOnnx(loaded, path);
  loaded.model.to(device);
  return {
    engine: 'libtorch',
    info,
    decode: loaded.decode,
    dataset: loaded.info.config?.data,
    onnxBytes: bytes,
    probabilities: async (pixels, count) => scoreImages(loaded, pixels, count),
    close: async () => loaded.model.dispose(),
  };
}
