// Known values for the ops the PyTorch fixture does not cover: in-place updates, rounding, logic, small reductions.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { manualSeed, ones, tensor, zeros } from '../src/torch/index.js';

test('in-place arithmetic used by optimizers', () => {
  const p = tensor([1, 2, 3], { dtype: 'float64' });
  p.add_(tensor([1, 1, 1], { dtype: 'float64' }), 2)
    .sub_(1)
    .mul_(2)
    .div_(4);
  assert.deepEqual(p.toArray(), [1, 1.5, 2]);
  p.addcmul_(tensor([2, 2, 2], { dtype: 'float64' }), tensor([1, 2, 3], { dtype: 'float64' }), 0.5);
  assert.deepEqual(p.toArray(), [2, 3.5, 5]);
  p.addcdiv_(tensor([4, 4, 4], { dtype: 'float64' }), tensor([2, 4, 8], { dtype: 'float64' }), 2);
  assert.deepEqual(p.toArray(), [6, 5.5, 6]);
  p.lerp_(tensor([0, 1.5, 10], { dtype: 'float64' }), 0.5);
  assert.deepEqual(p.toArray(), [3, 3.5, 8]);
  p.clamp_(3.25, 7).sqrt_();
  assert.deepEqual(p.toArray(), [Math.sqrt(3.25), Math.sqrt(3.5), Math.sqrt(7)]);
  p.copy_(tensor([9, 8, 7], { dtype: 'float64' }));
  assert.deepEqual(p.toArray(), [9, 8, 7]);
  assert.deepEqual(p.fill_(4).toArray(), [4, 4, 4]);
  assert.deepEqual(p.zero_().toArray(), [0, 0, 0]);
  assert.deepEqual(tensor([-1, 2], { dtype: 'float32' }).relu_().toArray(), [0, 2]);
});

test('random in-place fills respect their ranges and the seed', () => {
  manualSeed(3);
  const u = zeros([10000]).uniform_(-2, 3);
  assert.ok(u.min().item() >= -2 && u.max().item() < 3);
  assert.ok(Math.abs(u.mean().item() - 0.5) < 0.05);
  const n = zeros([10000], { dtype: 'float64' }).normal_(5, 2);
  assert.ok(Math.abs(n.mean().item() - 5) < 0.1 && Math.abs(n.std().item() - 2) < 0.1);
  manualSeed(3);
  assert.deepEqual(zeros([4]).uniform_(-2, 3).toArray(), u.slice(0, 0, 4).toArray());
});

test('unary rounding and sign ops, square, reciprocal', () => {
  const x = tensor([-1.5, -0.25, 0.5, 2.5]);
  assert.deepEqual(x.floor().toArray(), [-2, -1, 0, 2]);
  assert.deepEqual(x.round().toArray(), [-2, -0, 0, 2], 'round half to even, as PyTorch');
  assert.deepEqual(x.sign().toArray(), [-1, -1, 1, 1]);
  assert.deepEqual(x.square().toArray(), [2.25, 0.0625, 0.25, 6.25]);
  assert.deepEqual(
    x.reciprocal().toArray(),
    [-1 / 1.5, -4, 2, 0.4].map((v) => Math.fround(v)),
  );
  assert.deepEqual(x.minimum(tensor([0, 0, 0, 0])).toArray(), [-1.5, -0.25, 0, 0]);
});

test('comparisons and logic', () => {
  const a = tensor([1, 2, 3]);
  assert.deepEqual(a.ne(2).toArray(), [true, false, true]);
  assert.deepEqual(a.le(2).toArray(), [true, true, false]);
  assert.deepEqual(a.gt(tensor([0, 2, 4])).toArray(), [true, false, false]);
  assert.deepEqual(
    a
      .eq(tensor([1, 0, 3]))
      .logicalNot()
      .toArray(),
    [false, true, false],
  );
  assert.equal(ones([2]).allclose(tensor([1, 1.000001])), true);
  assert.equal(ones([2]).allclose(tensor([1, 1.1])), false);
  assert.deepEqual(tensor([1, Infinity, NaN]).isfinite().toArray(), [true, false, false]);
  assert.equal(tensor([true, false]).all().item(), 0);
  assert.equal(tensor([true, false]).any().item(), 1);
});

test('min with indices, argmin, cumsum, mm, t, select, expandAs', () => {
  const m = tensor([
    [3, 1, 2],
    [0, 5, -1],
  ]);
  const { values, indices } = m.min(1);
  assert.deepEqual(values.toArray(), [1, -1]);
  assert.deepEqual(indices.toArray(), [1, 2]);
  assert.deepEqual(m.min(0, true).values.toArray(), [[0, 1, -1]]);
  assert.deepEqual(m.argmin().toArray(), 5);
  assert.deepEqual(m.cumsum(1).toArray(), [
    [3, 4, 6],
    [0, 5, 4],
  ]);
  assert.deepEqual(m.mm(m.t()).toArray(), [
    [14, 3],
    [3, 26],
  ]);
  assert.deepEqual(m.select(0, 1).toArray(), [0, 5, -1]);
  assert.deepEqual(
    tensor([[1], [2]])
      .expandAs(m)
      .toArray(),
    [
      [1, 1, 1],
      [2, 2, 2],
    ],
  );
  assert.deepEqual(m.double().dtype, 'float64');
  assert.deepEqual(m.float().long().dtype, 'int64');
});
