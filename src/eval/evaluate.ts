// Evaluating a classifier on decoded images: predictions with the test-time transform, then the metrics.
import { BatchLoader, type DecodedImages } from '../data/index.js';
import type { Backbone } from '../models/index.js';
import { noGrad, tidy } from '../torch/index.js';
import { computeMetrics, type Metrics } from './metrics.js';

export interface Evaluation {
  metrics: Metrics;
  /** Predicted label per evaluated image, in the order of `indices`. */
  predictions: number[];
  indices: number[];
}

/** Evaluates on the centre `outputSize` window of each decoded image (default: the whole decoded image). */
export function evaluate(model: Backbone, images: DecodedImages, indices: readonly number[], classNames: readonly string[], outputSize = images.size, batchSize = 64): Evaluation {
  const wasTraining = model.training;
  model.eval();
  const loader = new BatchLoader(images, indices, { batchSize, shuffle: false, seed: 0, dropLast: false, augment: null, outputSize });
  const predictions: number[] = [];
  for (const batch of loader.epoch(0)) {
    tidy(() => {
      const predicted = noGrad(() => model.forward(batch.input).argmax(1));
      for (const p of predicted.data() as BigInt64Array) predictions.push(Number(p));
      batch.input.dispose();
      batch.labels.dispose();
    });
  }
  model.train(wasTraining);
  const truth = indices.map((i) => images.labels[i]);
  return { metrics: computeMetrics(truth, predictions, classNames), predictions, indices: [...indices] };
}
