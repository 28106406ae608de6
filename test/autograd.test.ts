// Autograd semantics: leaves, backward with and without an explicit gradient, accumulation, clearing, detach,
// no-grad scopes and in-place updates of leaves (what optimizers do).
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { backward, enableGrad, isGradEnabled, noGrad, ones, tensor } from '../src/torch/index.js';

test('backward of a scalar fills the gradients of the leaves', () => {
  const x = tensor([1, 2, 3], { dtype: 'float64', requiresGrad: true });
  const y = x.mul(x).sum();
  assert.equal(x.isLeaf, true);
  assert.equal(y.isLeaf, false);
  assert.equal(y.gradFn, 'SumBackward0');
  y.backward();
  assert.deepEqual(x.grad?.toArray(), [2, 4, 6]);
});

test('backward with an explicit gradient, accumulation, and clearing with null or zero_', () => {
  const x = tensor([1, 2], { dtype: 'float32', requiresGrad: true });
  x.mul(3).backward(tensor([1, 10]));
  assert.deepEqual(x.grad?.toArray(), [3, 30]);
  x.mul(3).backward(tensor([1, 10]));
  assert.deepEqual(x.grad?.toArray(), [6, 60], 'gradients accumulate');
  x.grad?.zero_();
  assert.deepEqual(x.grad?.toArray(), [0, 0]);
  x.grad = null;
  assert.equal(x.grad, null);
  assert.throws(() => x.mul(3).backward(), /grad can be implicitly created only for scalar outputs/);
});

test('backward over several roots and retainGraph', () => {
  const x = tensor([2], { dtype: 'float64', requiresGrad: true });
  const y = x.pow(3);
  backward([y.sum(), x.mul(5).sum()]);
  assert.deepEqual(x.grad?.toArray(), [12 + 5]);
  const z = x.exp().sum();
  z.backward(undefined, { retainGraph: true });
  z.backward();
  assert.ok(Math.abs((x.grad!.toArray() as number[])[0] - (17 + 2 * Math.exp(2))) < 1e-9);
  const w = x.exp().sum();
  w.backward();
  assert.throws(() => w.backward(), /backward through the graph a second time/);
});

test('detach and noGrad stop recording; enableGrad restores it', () => {
  const x = ones([2], { requiresGrad: true });
  assert.equal(x.mul(2).detach().requiresGrad, false);
  assert.equal(isGradEnabled(), true);
  noGrad(() => {
    assert.equal(isGradEnabled(), false);
    assert.equal(x.mul(2).requiresGrad, false);
    assert.equal(
      enableGrad(() => x.mul(2).requiresGrad),
      true,
    );
  });
  assert.equal(isGradEnabled(), true);
  assert.throws(
    () =>
      noGrad(() => {
        throw new Error('inside');
      }),
    /inside/,
  );
  assert.equal(isGradEnabled(), true, 'grad mode is restored after an exception');
});

test('in-place update of a leaf: allowed under noGrad, refused with a clear error otherwise', () => {
  const w = tensor([1, 2], { dtype: 'float32', requiresGrad: true });
  w.mul(w).sum().backward();
  assert.throws(() => w.sub_(w.grad!, 0.1), /leaf Variable that requires grad is being used in an in-place operation/);
  noGrad(() => w.sub_(w.grad!, 0.5));
  assert.deepEqual(w.toArray(), [0, 0]);
  assert.equal(w.requiresGrad, true);
  assert.equal(w.isLeaf, true);
});

test('requiresGrad_ only on floating-point tensors', () => {
  assert.throws(() => tensor([1, 2]).requiresGrad_(), /only floating-point tensors can require gradients, not int64/);
  const t = tensor([1.5]).requiresGrad_();
  assert.equal(t.requiresGrad, true);
  t.requiresGrad_(false);
  assert.equal(t.requiresGrad, false);
});
