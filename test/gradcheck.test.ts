// Every differentiable op's gradient against central finite differences, in float64.
import { test } from 'node:test';

import { arange, cat, F, stack, type Tensor, tensor, where } from '../src/torch/index.js';
import { gradcheck, leaf } from './helpers.js';

const positive = (t: Tensor): Tensor => t.abs().add(0.5);
const awayFromZero = (t: Tensor): Tensor => t.add(t.sign().mul(0.2));

interface Case {
  fn: (...xs: Tensor[]) => Tensor;
  inputs: () => Tensor[];
  seed?: number;
}

const x23 = (seed: number, transform?: (t: Tensor) => Tensor): Tensor => leaf([2, 3], seed, transform);
const img = (seed: number, shape = [2, 4, 5, 5]): Tensor => leaf(shape, seed);

const CASES: Record<string, Case> = {
  add_broadcast: { fn: (a, b) => a.add(b, 0.5), inputs: () => [x23(1), leaf([3], 2)] },
  sub: { fn: (a, b) => a.sub(b), inputs: () => [x23(1), x23(2)] },
  mul: { fn: (a, b) => a.mul(b), inputs: () => [x23(1), leaf([2, 1], 2)] },
  div: { fn: (a, b) => a.div(b), inputs: () => [x23(1), x23(2, positive)] },
  pow_scalar: { fn: (a) => a.pow(2.5), inputs: () => [x23(1, positive)] },
  pow_tensor: { fn: (a, b) => a.pow(b), inputs: () => [x23(1, positive), x23(2)] },
  maximum: { fn: (a, b) => a.maximum(b), inputs: () => [x23(1), x23(2)] },
  clamp: { fn: (a) => a.clamp(-0.5, 0.5), inputs: () => [x23(1, awayFromZero)] },
  abs: { fn: (a) => a.abs(), inputs: () => [x23(1, awayFromZero)] },
  exp: { fn: (a) => a.exp(), inputs: () => [x23(1)] },
  log: { fn: (a) => a.log(), inputs: () => [x23(1, positive)] },
  sqrt: { fn: (a) => a.sqrt(), inputs: () => [x23(1, positive)] },
  rsqrt: { fn: (a) => a.rsqrt(), inputs: () => [x23(1, positive)] },
  sin: { fn: (a) => a.sin(), inputs: () => [x23(1)] },
  cos: { fn: (a) => a.cos(), inputs: () => [x23(1)] },
  sigmoid: { fn: (a) => a.sigmoid(), inputs: () => [x23(1)] },
  tanh: { fn: (a) => a.tanh(), inputs: () => [x23(1)] },
  where: { fn: (a, b) => where(a.gt(0), a, b), inputs: () => [x23(1, awayFromZero), x23(2)] },
  sum_dim: { fn: (a) => a.sum(1, true), inputs: () => [leaf([2, 3, 4], 1)] },
  mean_all: { fn: (a) => a.mean(), inputs: () => [leaf([2, 3, 4], 1)] },
  max_dim: { fn: (a) => a.max(2).values, inputs: () => [leaf([2, 3, 4], 1)] },
  max_all: { fn: (a) => a.max(), inputs: () => [leaf([2, 3, 4], 1)] },
  std: { fn: (a) => a.std(2), inputs: () => [leaf([2, 3, 4], 1)] },
  var_biased: { fn: (a) => a.var([0, 1], { unbiased: false }), inputs: () => [leaf([2, 3, 4], 1)] },
  cumprod: { fn: (a) => a.cumprod(1), inputs: () => [leaf([2, 4], 1, awayFromZero)] },
  logsumexp: { fn: (a) => a.logsumexp(1), inputs: () => [leaf([2, 4], 1)] },
  matmul: { fn: (a, b) => a.matmul(b), inputs: () => [x23(1), leaf([3, 4], 2)] },
  bmm: { fn: (a, b) => a.bmm(b), inputs: () => [leaf([2, 3, 4], 1), leaf([2, 4, 2], 2)] },
  shape_ops: {
    fn: (a) => a.reshape([4, 6]).transpose(0, 1).flatten().view([2, 12]).unsqueeze(0).squeeze(0).permute([1, 0]),
    inputs: () => [leaf([2, 3, 4], 1)],
  },
  cat_stack: { fn: (a, b) => stack([cat([a, b], 1), cat([b, a], 1)], 0), inputs: () => [x23(1), x23(2)] },
  split_chunk_narrow: {
    fn: (a) => {
      const [first, rest] = a.split([1, 3], 1);
      const [half] = rest.chunk(2, 1);
      return cat([first.mul(2), half, a.narrow(1, 2, 2).mul(3)], 1);
    },
    inputs: () => [leaf([2, 4], 1)],
  },
  slice_select: { fn: (a) => a.slice(1, 0, null, 2).mul(a.select(1, 1).unsqueeze(1)), inputs: () => [leaf([2, 5], 1)] },
  index_select: { fn: (a) => a.indexSelect(1, tensor([2, 0, 2])), inputs: () => [x23(1)] },
  gather: {
    fn: (a) =>
      a.gather(
        1,
        tensor([
          [0, 2],
          [1, 1],
        ]),
      ),
    inputs: () => [x23(1)],
  },
  flip_rot90: { fn: (a) => a.flip([0]).rot90(1, [1, 2]), inputs: () => [leaf([2, 3, 4], 1)] },
  pad: {
    fn: (a) => F.pad(F.pad(a, [1, 2, 0, 1], 'constant', 0.3), [1, 1, 1, 1], 'reflect'),
    inputs: () => [leaf([1, 2, 3, 3], 1)],
  },
  expand_repeat: { fn: (a) => a.expand([3, 2, 3]).repeat([1, 2, 1]), inputs: () => [leaf([1, 2, 3], 1)] },
  conv2d: {
    fn: (x, w, b) => F.conv2d(x, w, b, { stride: 2, padding: 1 }),
    inputs: () => [img(1), leaf([3, 4, 3, 3], 2), leaf([3], 3)],
  },
  conv2d_dilation_groups: {
    fn: (x, w) => F.conv2d(x, w, null, { padding: 2, dilation: 2, groups: 2 }),
    inputs: () => [img(1), leaf([4, 2, 3, 3], 2)],
  },
  batch_norm_train: {
    fn: (x, w, b) => F.batchNorm(x, null, null, { weight: w, bias: b, training: true }),
    inputs: () => [img(1, [3, 2, 3, 3]), leaf([2], 2), leaf([2], 3)],
  },
  batch_norm_eval: {
    fn: (x, w, b) =>
      F.batchNorm(x, arange(2, undefined, 1, { dtype: 'float64' }), arange(1, 3, 1, { dtype: 'float64' }), {
        weight: w,
        bias: b,
      }),
    inputs: () => [img(1, [3, 2, 3, 3]), leaf([2], 2), leaf([2], 3)],
  },
  relu: { fn: (a) => F.relu(a), inputs: () => [x23(1, awayFromZero)] },
  relu6: { fn: (a) => F.relu6(a.mul(4)), inputs: () => [leaf([3, 4], 1, awayFromZero)] },
  silu: { fn: (a) => F.silu(a), inputs: () => [x23(1)] },
  gelu: { fn: (a) => F.gelu(a), inputs: () => [x23(1)] },
  max_pool2d: { fn: (x) => F.maxPool2d(x, 3, { stride: 2, padding: 1 }), inputs: () => [img(1)] },
  avg_pool2d: { fn: (x) => F.avgPool2d(x, 2, { stride: 1 }), inputs: () => [img(1)] },
  adaptive_avg_pool2d: { fn: (x) => F.adaptiveAvgPool2d(x, [2, 3]), inputs: () => [img(1)] },
  linear: { fn: (x, w, b) => F.linear(x, w, b), inputs: () => [x23(1), leaf([4, 3], 2), leaf([4], 3)] },
  dropout: { fn: (a) => F.dropout(a, 0.4, true), inputs: () => [leaf([4, 5], 1)], seed: 7 },
  embedding: {
    fn: (w) =>
      F.embedding(
        tensor([
          [3, 0],
          [1, 3],
        ]),
        w,
      ),
    inputs: () => [leaf([4, 3], 1)],
  },
  interpolate_bilinear: {
    fn: (x) => F.interpolate(x, { size: [5, 7], mode: 'bilinear' }),
    inputs: () => [img(1, [1, 2, 3, 4])],
  },
  interpolate_bilinear_ac: {
    fn: (x) => F.interpolate(x, { scaleFactor: 2, mode: 'bilinear', alignCorners: true }),
    inputs: () => [img(1, [1, 2, 3, 4])],
  },
  interpolate_nearest: { fn: (x) => F.interpolate(x, { scaleFactor: 2 }), inputs: () => [img(1, [1, 2, 3, 4])] },
  amax: { fn: (a) => a.amax([1]).add(a.amin(0).sum()), inputs: () => [leaf([3, 4], 1)] },
  affine_grid_sample: {
    fn: (x, theta) => F.gridSample(x, F.affineGrid(theta, [1, 2, 4, 3])),
    inputs: () => [img(1, [1, 2, 4, 5]), leaf([1, 2, 3], 2, (t) => t.mul(0.3))],
  },
  softmax: { fn: (a) => F.softmax(a, 1), inputs: () => [leaf([3, 5], 1)] },
  log_softmax: { fn: (a) => F.logSoftmax(a, 1), inputs: () => [leaf([3, 5], 1)] },
  cross_entropy_smooth: {
    fn: (a) => F.crossEntropy(a, tensor([1, 4, 0]), { labelSmoothing: 0.2 }),
    inputs: () => [leaf([3, 5], 1)],
  },
  cross_entropy_probs: {
    fn: (a, t) => F.crossEntropy(a, F.softmax(t, 1)),
    inputs: () => [leaf([3, 5], 1), leaf([3, 5], 2)],
  },
  nll_loss: { fn: (a) => F.nllLoss(F.logSoftmax(a, 1), tensor([1, 4, 0])), inputs: () => [leaf([3, 5], 1)] },
  mse_loss: { fn: (a, b) => F.mseLoss(a, b), inputs: () => [x23(1), x23(2)] },
  kl_div: {
    fn: (a, t) => F.klDiv(F.logSoftmax(a, 1), F.softmax(t, 1), { reduction: 'batchmean' }),
    inputs: () => [leaf([3, 5], 1), leaf([3, 5], 2)],
  },
};

for (const [name, c] of Object.entries(CASES)) {
  test(`gradient of ${name} matches finite differences`, () => {
    gradcheck(c.fn, c.inputs(), { seed: c.seed });
  });
}
