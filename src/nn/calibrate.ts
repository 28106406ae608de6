// BatchNorm statistics re-estimated on data without changing what the network computes in eval mode: each layer's
// running mean and variance become those of the inputs it receives, and its affine weight and bias are rescaled so
// that (x - mean) / sqrt(var + eps) * weight + bias is the same function as before. A network whose BatchNorm was
// folded away (identity statistics) then also behaves the same in train mode, where batches are normalised by
// their own statistics, instead of starting from rescaled activations.
import { fromTypedArray, noGrad, type Tensor, tidy } from '../torch/index.js';
import { BatchNorm } from './layers.js';
import type { Module } from './module.js';

/** Averages over batches of each batch's per-channel mean and (biased) variance: what train mode normalises by. */
interface Moments {
  mean: Float64Array;
  variance: Float64Array;
  batches: number;
}

function accumulate(moments: Moments, input: Tensor): void {
  tidy(() => {
    const x = input.detach().to('float64');
    const dims = [0, ...Array.from({ length: x.ndim - 2 }, (_, i) => i + 2)];
    const mean = x.mean(dims).data() as Float64Array;
    const variance = x.var(dims, { unbiased: false }).data() as Float64Array;
    for (let c = 0; c < mean.length; c++) {
      moments.mean[c] += mean[c];
      moments.variance[c] += variance[c];
    }
    moments.batches++;
  });
}

/**
 * Runs `batches` through `model` in eval mode, measuring each BatchNorm layer's input, then moves every layer's
 * statistics to the measured ones while keeping the eval-mode function (up to rounding). Restores the model's mode.
 * Returns the number of layers calibrated.
 */
export function calibrateBatchNorm(
  model: Module & { forward(input: Tensor): Tensor },
  batches: Iterable<Tensor>,
): number {
  const layers = model.namedModules().flatMap(([, m]) => (m instanceof BatchNorm ? [m] : []));
  const moments = new Map<BatchNorm, Moments>(
    layers.map((bn) => [
      bn,
      { mean: new Float64Array(bn.numFeatures), variance: new Float64Array(bn.numFeatures), batches: 0 },
    ]),
  );
  const wasTraining = model.training;
  model.eval();
  try {
    for (const bn of layers) bn.observeInputs((input) => accumulate(moments.get(bn)!, input));
    for (const batch of batches) tidy(() => noGrad(() => model.forward(batch)));
  } finally {
    for (const bn of layers) bn.observeInputs(null);
    model.train(wasTraining);
  }
  for (const bn of layers) {
    const m = moments.get(bn)!;
    if (m.batches === 0)
      throw new Error(
        'calibrateBatchNorm: a BatchNorm layer received no input (no batches, or a branch the forward pass skips)',
      );
    moveStatistics(bn, m);
  }
  return layers.length;
}

function moveStatistics(bn: BatchNorm, m: Moments): void {
  const { weight: weightTensor, bias: biasTensor } = bn;
  if (!weightTensor || !biasTensor)
    throw new Error('calibrateBatchNorm: a BatchNorm layer without affine parameters cannot keep its function');
  const n = bn.numFeatures;
  const oldMean = bn.runningMean.data() as Float32Array;
  const oldVar = bn.runningVar.data() as Float32Array;
  const weight = weightTensor.data() as Float32Array;
  const bias = biasTensor.data() as Float32Array;
  const [mean, variance, newWeight, newBias] = [
    new Float32Array(n),
    new Float32Array(n),
    new Float32Array(n),
    new Float32Array(n),
  ];
  for (let c = 0; c < n; c++) {
    mean[c] = m.mean[c] / m.batches;
    variance[c] = m.variance[c] / m.batches;
    // Same slope (weight / std) and the same output at every x: the intercept moves with the mean.
    const slope = weight[c] / Math.sqrt(oldVar[c] + bn.eps);
    newWeight[c] = slope * Math.sqrt(variance[c] + bn.eps);
    newBias[c] = bias[c] + slope * (mean[c] - oldMean[c]);
  }
  noGrad(() => {
    for (const [target, values] of [
      [bn.runningMean, mean],
      [bn.runningVar, variance],
      [weightTensor, newWeight],
      [biasTensor, newBias],
    ] as const) {
      tidy(() => target.copy_(fromTypedArray(values)));
    }
  });
}
