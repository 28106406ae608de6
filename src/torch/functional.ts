// Neural-network ops, as torch.nn.functional has them (camelCase names, options objects for the optional arguments).
import { tidy } from './scope.js';
import { op, opInPlace, type Shape, Tensor } from './tensor.js';

export type Pair = number | readonly [number, number];
export type Reduction = 'none' | 'mean' | 'sum';

const REDUCTION: Record<Reduction, number> = { none: 0, mean: 1, sum: 2 };

function reductionCode(reduction: Reduction): number {
  const code = REDUCTION[reduction];
  if (code === undefined) throw new TypeError(`unknown reduction '${reduction}' (expected none, mean or sum)`);
  return code;
}

export interface Conv2dOptions {
  stride?: Pair;
  /** Zero padding per side, or 'same' / 'valid'. */
  padding?: Pair | 'same' | 'valid';
  dilation?: Pair;
  groups?: number;
}

export function conv2d(input: Tensor, weight: Tensor, bias: Tensor | null = null, options: Conv2dOptions = {}): Tensor {
  const { stride = 1, padding = 0, dilation = 1, groups = 1 } = options;
  if (typeof padding === 'string') return op('conv2d.padding', input, weight, bias, stride, padding, dilation, groups);
  return op('conv2d', input, weight, bias, stride, padding, dilation, groups);
}

export function linear(input: Tensor, weight: Tensor, bias: Tensor | null = null): Tensor {
  return op('linear', input, weight, bias);
}

export interface BatchNormOptions {
  weight?: Tensor | null;
  bias?: Tensor | null;
  /** Batch statistics (and running-stat updates) when true; running statistics when false. */
  training?: boolean;
  momentum?: number;
  eps?: number;
}

/** Batch normalisation over dim 1; in training it updates runningMean/runningVar in place, as PyTorch does. */
export function batchNorm(
  input: Tensor,
  runningMean: Tensor | null,
  runningVar: Tensor | null,
  options: BatchNormOptions = {},
): Tensor {
  const { weight = null, bias = null, training = false, momentum = 0.1, eps = 1e-5 } = options;
  return op('batch_norm', input, weight, bias, runningMean, runningVar, training, momentum, eps, true);
}

export function relu(input: Tensor, inplace = false): Tensor {
  if (!inplace) return op('relu', input);
  opInPlace('relu_', input);
  return input;
}

export function relu6(input: Tensor, inplace = false): Tensor {
  // libtorch 1.13 has no bfloat16 backward for hardtanh (PyTorch's MobileNetV2 fails there), and clamp's backward
  // (a comparison then a `where`, both slow in bf16 there) costs more than the rest of the layer. relu(min(x, 6)) with
  // min(x, 6) = -threshold(-x, -6, -6): negation is exact, so the values are hardtanh's, and so is the gradient (zero at
  // 0 and at 6); threshold and neg have fast kernels both ways. Out of place first, so that backward keeps one
  // activation as clamp did (an in-place threshold_ would save a copy of its input), then in place.
  if (input.dtype === 'bfloat16') {
    return tidy(() => {
      const out = op('threshold', input.neg(), -6, -6);
      opInPlace('neg_', out);
      opInPlace('relu_', out);
      return out;
    });
  }
  if (!inplace) return op('hardtanh', input, 0, 6);
  opInPlace('hardtanh_', input, 0, 6);
  return input;
}

export function silu(input: Tensor): Tensor {
  return op('silu', input);
}

export function gelu(input: Tensor, approximate: 'none' | 'tanh' = 'none'): Tensor {
  return op('gelu', input, approximate);
}

export function sigmoid(input: Tensor): Tensor {
  return op('sigmoid', input);
}

export interface PoolOptions {
  /** Defaults to the kernel size. */
  stride?: Pair;
  padding?: Pair;
  ceilMode?: boolean;
}

export function maxPool2d(input: Tensor, kernelSize: Pair, options: PoolOptions & { dilation?: Pair } = {}): Tensor {
  const { stride = kernelSize, padding = 0, dilation = 1, ceilMode = false } = options;
  return op('max_pool2d', input, kernelSize, stride, padding, dilation, ceilMode);
}

export function avgPool2d(
  input: Tensor,
  kernelSize: Pair,
  options: PoolOptions & { countIncludePad?: boolean; divisorOverride?: number } = {},
): Tensor {
  const {
    stride = kernelSize,
    padding = 0,
    ceilMode = false,
    countIncludePad = true,
    divisorOverride = null,
  } = options;
  return op('avg_pool2d', input, kernelSize, stride, padding, ceilMode, countIncludePad, divisorOverride);
}

export function adaptiveAvgPool2d(input: Tensor, outputSize: Pair): Tensor {
  return op('adaptive_avg_pool2d', input, outputSize);
}

/** Zeroes elements with probability p and scales the rest by 1/(1-p) when training; identity otherwise. */
export function dropout(input: Tensor, p = 0.5, training = true): Tensor {
  if (!(p >= 0 && p <= 1)) throw new RangeError(`dropout: p must be in [0, 1], got ${p}`);
  return op('dropout', input, p, training);
}

/** Rows of weight picked by integer indices; rows at paddingIdx get no gradient. */
export function embedding(indices: Tensor, weight: Tensor, paddingIdx: number | null = null): Tensor {
  return op('embedding', weight, indices, paddingIdx ?? -1, false, false);
}

export interface InterpolateOptions {
  size?: Pair;
  scaleFactor?: number | readonly [number, number];
  mode?: 'nearest' | 'bilinear';
  alignCorners?: boolean;
}

/** Resizes NCHW input to `size` or by `scaleFactor`, as F.interpolate (without recompute_scale_factor). */
export function interpolate(input: Tensor, options: InterpolateOptions): Tensor {
  const { size, scaleFactor, mode = 'nearest', alignCorners = false } = options;
  if ((size === undefined) === (scaleFactor === undefined)) {
    throw new TypeError('interpolate: give exactly one of size and scaleFactor');
  }
  const outputSize = size === undefined ? null : typeof size === 'number' ? [size, size] : size;
  const scales =
    scaleFactor === undefined ? null : typeof scaleFactor === 'number' ? [scaleFactor, scaleFactor] : scaleFactor;
  if (mode === 'bilinear') return op('upsample_bilinear2d.vec', input, outputSize, alignCorners, scales);
  if (mode === 'nearest') {
    if (alignCorners) throw new TypeError("interpolate: alignCorners only applies to mode 'bilinear'");
    return op('upsample_nearest2d.vec', input, outputSize, scales);
  }
  throw new TypeError(`interpolate: unknown mode '${String(mode)}' (expected nearest or bilinear)`);
}

/** Sampling grid [N, H, W, 2] for affine maps theta [N, 2, 3] of output to input normalised coordinates. */
export function affineGrid(theta: Tensor, size: Shape, alignCorners = false): Tensor {
  return op('affine_grid_generator', theta, size, alignCorners);
}

const GRID_MODES = { bilinear: 0, nearest: 1, bicubic: 2 } as const;
const GRID_PADDING = { zeros: 0, border: 1, reflection: 2 } as const;

/** Samples input [N, C, H, W] at grid [N, Ho, Wo, 2] (normalised x, y in [-1, 1]), as F.grid_sample. */
export function gridSample(
  input: Tensor,
  grid: Tensor,
  options: { mode?: keyof typeof GRID_MODES; paddingMode?: keyof typeof GRID_PADDING; alignCorners?: boolean } = {},
): Tensor {
  const { mode = 'bilinear', paddingMode = 'zeros', alignCorners = false } = options;
  const modeCode = GRID_MODES[mode];
  const paddingCode = GRID_PADDING[paddingMode];
  if (modeCode === undefined) throw new TypeError(`gridSample: unknown mode '${mode}'`);
  if (paddingCode === undefined) throw new TypeError(`gridSample: unknown paddingMode '${paddingMode}'`);
  return op('grid_sampler', input, grid, modeCode, paddingCode, alignCorners);
}

/** Pads the last dims: [left, right, top, bottom, ...]; mode constant (with value), reflect, replicate or circular. */
export function pad(
  input: Tensor,
  pads: Shape,
  mode: 'constant' | 'reflect' | 'replicate' | 'circular' = 'constant',
  value = 0,
): Tensor {
  return op('pad', input, pads, mode, mode === 'constant' ? value : null);
}

export function softmax(input: Tensor, dim: number): Tensor {
  return input.softmax(dim);
}

export function logSoftmax(input: Tensor, dim: number): Tensor {
  return input.logSoftmax(dim);
}

export interface LossOptions {
  reduction?: Reduction;
}

export interface ClassLossOptions extends LossOptions {
  /** Per-class weights (length C). */
  weight?: Tensor | null;
  ignoreIndex?: number;
}

/** Cross-entropy of logits (N, C, ...) against class indices (int64) or class probabilities (same shape). */
export function crossEntropy(
  logits: Tensor,
  target: Tensor,
  options: ClassLossOptions & { labelSmoothing?: number } = {},
): Tensor {
  const { weight = null, reduction = 'mean', ignoreIndex = -100, labelSmoothing = 0 } = options;
  if (!(labelSmoothing >= 0 && labelSmoothing <= 1))
    throw new RangeError(`crossEntropy: labelSmoothing must be in [0, 1], got ${labelSmoothing}`);
  return op('cross_entropy_loss', logits, target, weight, reductionCode(reduction), ignoreIndex, labelSmoothing);
}

/** Negative log-likelihood of log-probabilities (N, C, ...) against class indices. */
export function nllLoss(logProbs: Tensor, target: Tensor, options: ClassLossOptions = {}): Tensor {
  const { weight = null, reduction = 'mean', ignoreIndex = -100 } = options;
  return op('nll_loss_nd', logProbs, target, weight, reductionCode(reduction), ignoreIndex);
}

export function mseLoss(input: Tensor, target: Tensor, options: LossOptions = {}): Tensor {
  return op('mse_loss', input, target, reductionCode(options.reduction ?? 'mean'));
}

/**
 * KL divergence with input given as log-probabilities, as F.kl_div: target * (log target - input), reduced.
 * 'batchmean' divides the sum by the batch size (the mathematically correct KL); 'mean' averages over all elements.
 */
export function klDiv(
  input: Tensor,
  target: Tensor,
  options: { reduction?: Reduction | 'batchmean'; logTarget?: boolean } = {},
): Tensor {
  const { reduction = 'mean', logTarget = false } = options;
  if (reduction === 'batchmean') {
    const total = op('kl_div', input, target, REDUCTION.sum, logTarget);
    return input.ndim === 0 ? total : total.div(input.size(0));
  }
  return op('kl_div', input, target, reductionCode(reduction), logTarget);
}
