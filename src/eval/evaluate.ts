// Evaluating a classifier on decoded images: predictions with the test-time transform, then the metrics.
import { BatchLoader, type DecodedImages, placeBatch } from '../data/index.js';
import type { Backbone } from '../models/index.js';
import { type Device, deviceType, noGrad, type Precision, type Tensor, tidy, withPrecision } from '../torch/index.js';
import { computeMetrics, type Metrics } from './metrics.js';

export interface Evaluation {
  metrics: Metrics;
  /** Predicted label per evaluated image, in the order of `indices`. */
  predictions: number[];
  indices: number[];
}

export interface EvaluateOptions {
  /** The centre window evaluated (default: the whole decoded image). */
  outputSize?: number;
  batchSize?: number;
  precision?: Precision;
}

/**
 * Runs `step` on each test-time batch (the centre window, normalised, on `device`) of the images at `indices`, in
 * order, inside a tidy scope: what evaluation and feature extraction share.
 */
export function forEachEvalBatch(
  images: DecodedImages,
  indices: readonly number[],
  device: Device,
  options: { outputSize?: number; batchSize?: number },
  step: (input: Tensor) => void,
): void {
  const { outputSize = images.size, batchSize = 64 } = options;
  const loader = new BatchLoader(images, indices, {
    batchSize,
    shuffle: false,
    seed: 0,
    dropLast: false,
    augment: null,
    outputSize,
  });
  for (const batch of loader.epoch(0)) {
    tidy(() => {
      step(placeBatch(batch, device).input);
      batch.input.dispose();
      batch.labels.dispose();
    });
  }
}

/** Evaluates on the centre window of each decoded image, with the test-time transform, on the model's device. */
export function evaluate(
  model: Backbone,
  images: DecodedImages,
  indices: readonly number[],
  classNames: readonly string[],
  options: EvaluateOptions = {},
): Evaluation {
  const { precision = 'fp32' } = options;
  const wasTraining = model.training;
  model.eval();
  const predictions: number[] = [];
  const device = model.device;
  forEachEvalBatch(images, indices, device, options, (input) => {
    const predicted = noGrad(() => withPrecision(precision, () => model.forward(input), deviceType(device)).argmax(1));
    for (const p of predicted.data() as BigInt64Array) predictions.push(Number(p));
  });
  model.train(wasTraining);
  const truth = indices.map((i) => images.labels[i]);
  return { metrics: computeMetrics(truth, predictions, classNames), predictions, indices: [...indices] };
}
