// A run folder or checkpoint served with libtorch (or exported on start for ONNX Runtime); the page's in-browser
// engine gets it exported to ONNX in memory, taking decoded pixels (preprocessing in the graph).
import { exportOnnx } from '../export/index.js';
import type { Device } from '../torch/index.js';
import { loadModel, scorer } from '../trained/index.js';
import type { ServedModel } from './served-model.js';

/** The run's model as ONNX (uint8 pixels in), with its metadata, and the dataset it was trained on. */
export function exportRun(path: string): { bytes: Uint8Array; dataset?: string } {
  const loaded = loadModel(path);
  try {
    return { bytes: exportOnnx(loaded, path, { input: 'uint8' }).bytes, dataset: loaded.info.config?.data };
  } finally {
    loaded.model.dispose();
  }
}

/** Scores on the device; the in-browser engine's ONNX copy is exported on the CPU first. */
export function openLibtorchModel(path: string, device: Device = 'cpu'): ServedModel {
  const loaded = loadModel(path);
  const { bytes, info } = exportOnnx(loaded, path, { input: 'uint8' });
  loaded.model.to(device);
  return {
    engine: 'libtorch',
    info,
    decode: loaded.decode,
    dataset: loaded.info.config?.data,
    onnxBytes: bytes,
    probabilities: scorer(loaded),
    close: async () => loaded.model.dispose(),
  };
}
