// Scoring decoded images with a loaded model: class probabilities on the model's device, in a precision.
import { evalBatch, toDevice } from '../data/index.js';
import { deviceType, noGrad, type Precision, tidy, withPrecision } from '../torch/index.js';
import type { LoadedModel } from './load.js';

/** Class probabilities (count x classes) of decoded images, scored on the model's device in the precision. */
export function scoreImages(
  loaded: LoadedModel,
  pixels: Uint8Array,
  count: number,
  precision: Precision = 'fp32',
): Float32Array {
  return tidy(() => {
    const device = loaded.model.device;
    const input = toDevice(evalBatch(pixels, count, loaded.decodeSize, loaded.size), device);
    return noGrad(() =>
      withPrecision(precision, () => loaded.model.forward(input), deviceType(device))
        .float()
        .softmax(1),
    ).data() as Float32Array;
  });
}

/** The model as a scorer of decoded batches (what predictFiles and the server call). */
export function scorer(
  loaded: LoadedModel,
  precision: Precision = 'fp32',
): (pixels: Uint8Array, count: number) => Promise<Float32Array> {
  return async (pixels, count) => scoreImages(loaded, pixels, count, precision);
}
