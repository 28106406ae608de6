// The features a trained backbone gives an image: its globally pooled last-stage output, the classifier's input.
import type { DecodedImages } from '../data/index.js';
import { forEachEvalBatch } from '../eval/index.js';
import { type Backbone, globalPool } from '../models/index.js';
import { deviceType, noGrad, type Precision, withPrecision } from '../torch/index.js';
import type { FeatureRows } from './separability.js';

export interface FeatureOptions {
  /** The centre window fed to the network (default: the whole decoded image), as in evaluation. */
  outputSize?: number;
  batchSize?: number;
  precision?: Precision;
}

/** Pooled features (float32, one row per index, in order) of the decoded images, with the test-time transform and no gradients. */
export function poolFeatures(
  model: Backbone,
  images: DecodedImages,
  indices: readonly number[],
  options: FeatureOptions = {},
): FeatureRows {
  const { precision = 'fp32' } = options;
  const dim = model.stageChannels[3];
  const data = new Float32Array(indices.length * dim);
  const wasTraining = model.training;
  model.eval();
  const device = model.device;
  let row = 0;
  forEachEvalBatch(images, indices, device, options, (input) => {
    const pooled = noGrad(() =>
      withPrecision(precision, () => globalPool(model.stages(input)[3]), deviceType(device)).float(),
    );
    const values = pooled.data() as Float32Array;
    data.set(values, row * dim);
    row += values.length / dim;
  });
  model.train(wasTraining);
  return { data, rows: indices.length, dim };
}
