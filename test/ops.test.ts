// Every op against PyTorch's outputs on the same inputs (test/fixtures/ops.json, from generate.py).
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { cat, F, stack, type Tensor, where } from '../src/torch/index.js';
import { assertClose, decode, type EncodedTensor, readFixture } from './helpers.js';

interface OpsFixture {
  cases: Record<string, { inputs: Record<string, EncodedTensor>; outputs: EncodedTensor[] }>;
}

type Inputs = Record<string, Tensor>;

const CASES: Record<string, (t: Inputs) => Tensor | Tensor[]> = {
  add_broadcast: ({ a, b }) => a.add(b),
  add_alpha: ({ a, c }) => a.add(c, 2),
  sub_scalar: ({ a }) => a.sub(1.5),
  mul: ({ a, c }) => a.mul(c),
  div: ({ a, p }) => a.div(p),
  pow_scalar: ({ p }) => p.pow(1.5),
  pow_tensor: ({ p, c }) => p.pow(c),
  maximum: ({ a, c }) => a.maximum(c),
  clamp: ({ a }) => a.clamp(-0.5, 0.5),
  abs: ({ a }) => a.abs(),
  neg: ({ a }) => a.neg(),
  exp: ({ a }) => a.exp(),
  log: ({ p }) => p.log(),
  sqrt: ({ p }) => p.sqrt(),
  rsqrt: ({ p }) => p.rsqrt(),
  sin: ({ a }) => a.sin(),
  cos: ({ a }) => a.cos(),
  sigmoid: ({ a }) => a.sigmoid(),
  tanh: ({ a }) => a.tanh(),
  eq_scalar: ({ a }) => a.mul(0).eq(0),
  lt_tensor: ({ a, c }) => a.lt(c),
  ge_scalar: ({ a }) => a.ge(0.1),
  where: ({ a, c }) => where(a.gt(0), a, c),
  sum_all: ({ m }) => m.sum(),
  sum_dim_keepdim: ({ m }) => m.sum(1, true),
  mean_dims: ({ m }) => m.mean([0, 2]),
  max_dim: ({ m }) => {
    const { values, indices } = m.max(2);
    return [values, indices];
  },
  min_all: ({ m }) => m.min(),
  argmax_dim: ({ m }) => m.argmax(1),
  std_dim: ({ m }) => m.std(2),
  var_biased: ({ m }) => m.var(1, { unbiased: false }),
  cumprod: ({ m }) => m.cumprod(1),
  logsumexp: ({ m }) => m.logsumexp(2),
  matmul: ({ a, m2 }) => a.matmul(m2),
  bmm: ({ m, n }) => m.bmm(n),
  reshape: ({ m }) => m.reshape([4, 6]),
  permute: ({ m }) => m.permute([2, 0, 1]).contiguous(),
  transpose: ({ m }) => m.transpose(0, 2).contiguous(),
  flatten: ({ m }) => m.flatten(1),
  unsqueeze_squeeze: ({ a }) => a.unsqueeze(1).squeeze(1),
  cat: ({ a, c }) => cat([a, c], 1),
  stack: ({ a, c }) => stack([a, c], 0),
  split_sizes: ({ m }) => m.split([1, 3], 2),
  chunk: ({ m }) => m.chunk(2, 2),
  narrow: ({ m }) => m.narrow(2, 1, 2).contiguous(),
  slice_step: ({ m }) => m.slice(2, 0, null, 2).contiguous(),
  index_select: ({ a, idx }) => a.indexSelect(1, idx),
  gather: ({ a, gidx }) => a.gather(1, gidx),
  flip: ({ m }) => m.flip([0, 2]),
  rot90: ({ m }) => m.rot90(1, [1, 2]).contiguous(),
  pad_constant: ({ img }) => F.pad(img, [1, 2, 0, 1], 'constant', 0.5),
  pad_reflect: ({ img }) => F.pad(img, [2, 1, 1, 2], 'reflect'),
  expand: ({ b }) => b.expand([2, 3]).contiguous(),
  repeat: ({ a }) => a.repeat([2, 2]),
  conv2d_stride_pad: ({ img, w, bias }) => F.conv2d(img, w, bias, { stride: 2, padding: 1 }),
  conv2d_dilation_groups: ({ img, wg }) => F.conv2d(img, wg, null, { padding: 2, dilation: 2, groups: 2 }),
  batch_norm_train: ({ img, rm, rv, bw, bb }) => {
    const out = F.batchNorm(img, rm, rv, { weight: bw, bias: bb, training: true, momentum: 0.1, eps: 1e-5 });
    return [out, rm, rv];
  },
  batch_norm_eval: ({ img, rm, rv, bw, bb }) => F.batchNorm(img, rm, rv, { weight: bw, bias: bb, training: false }),
  relu: ({ a }) => F.relu(a),
  relu6: ({ a6 }) => F.relu6(a6),
  silu: ({ a }) => F.silu(a),
  gelu: ({ a }) => F.gelu(a),
  max_pool2d: ({ img }) => F.maxPool2d(img, 3, { stride: 2, padding: 1 }),
  avg_pool2d: ({ img }) => F.avgPool2d(img, 2),
  adaptive_avg_pool2d: ({ img }) => F.adaptiveAvgPool2d(img, [2, 3]),
  linear: ({ a, lw, lb }) => F.linear(a, lw, lb),
  embedding: ({ emb_w, emb_i }) => F.embedding(emb_i, emb_w),
  interp_bilinear_size: ({ img }) => F.interpolate(img, { size: [9, 4], mode: 'bilinear' }),
  interp_bilinear_scale_ac: ({ img }) => F.interpolate(img, { scaleFactor: 2, mode: 'bilinear', alignCorners: true }),
  interp_nearest_scale: ({ img }) => F.interpolate(img, { scaleFactor: 2, mode: 'nearest' }),
  interp_nearest_size: ({ img }) => F.interpolate(img, { size: [4, 9] }),
  softmax: ({ logits }) => F.softmax(logits, 1),
  log_softmax: ({ logits }) => F.logSoftmax(logits, 1),
  cross_entropy: ({ logits, target }) => F.crossEntropy(logits, target),
  cross_entropy_smooth: ({ logits, target }) => F.crossEntropy(logits, target, { labelSmoothing: 0.1 }),
  cross_entropy_probs: ({ logits, probs }) => F.crossEntropy(logits, probs),
  cross_entropy_weight_none: ({ logits, target, cw }) =>
    F.crossEntropy(logits, target, { weight: cw, reduction: 'none' }),
  nll_loss: ({ logits, target }) => F.nllLoss(F.logSoftmax(logits, 1), target),
  mse_loss: ({ a, c }) => F.mseLoss(a, c),
  kl_div_batchmean: ({ logits, probs }) => F.klDiv(F.logSoftmax(logits, 1), probs, { reduction: 'batchmean' }),
  kl_div_none: ({ logits, probs }) => F.klDiv(F.logSoftmax(logits, 1), probs, { reduction: 'none' }),
  amax_amin: ({ m }) => [m.amax([0, 2]), m.amin(1, true)],
  bincount: ({ bins }) => bins.bincount(8),
  affine_grid: ({ theta }) => F.affineGrid(theta, [2, 4, 5, 3]),
  grid_sample_bilinear: ({ img, theta }) => F.gridSample(img, F.affineGrid(theta, [2, 4, 5, 3])),
  grid_sample_nearest_border: ({ img, theta }) =>
    F.gridSample(img, F.affineGrid(theta, [2, 4, 5, 3], true), {
      mode: 'nearest',
      paddingMode: 'border',
      alignCorners: true,
    }),
};

const fixture = readFixture<OpsFixture>('ops.json');

test('the op table and the PyTorch fixture cover the same cases', () => {
  assert.deepEqual(Object.keys(CASES).sort(), Object.keys(fixture.cases).sort());
});

for (const [name, { inputs, outputs }] of Object.entries(fixture.cases)) {
  test(`${name} equals PyTorch`, () => {
    const run = CASES[name];
    assert.ok(run, `no TS case for fixture ${name}`);
    const decoded = Object.fromEntries(Object.entries(inputs).map(([k, v]) => [k, decode(v)]));
    const result = run(decoded);
    const got = Array.isArray(result) ? result : [result];
    assert.equal(got.length, outputs.length, 'number of outputs');
    got.forEach((t, i) => assertClose(t, outputs[i], { rtol: 1e-5, atol: 1e-5, what: `${name} output ${i}` }));
  });
}
