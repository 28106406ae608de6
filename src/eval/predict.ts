// Prediction on image files with a loaded libtorch model.
import type { Precision } from '../torch/index.js';
import { type LoadedModel, scorer } from '../trained/index.js';
import { type Prediction, type PredictFilesOptions, predictFiles } from './predict-files.js';

export interface PredictOptions extends PredictFilesOptions {
  precision?: Precision;
}

/** Top-k classes for each image file (resized and centre-cropped as in evaluation), decoded a batch at a time. */
export async function predict(
  loaded: LoadedModel,
  files: readonly string[],
  options: PredictOptions = {},
): Promise<Prediction[]> {
  return predictFiles(files, loaded, scorer(loaded, options.precision ?? 'fp32'), options);
}
