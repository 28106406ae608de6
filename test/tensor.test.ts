// Tensor basics: dtypes, devices, creation, conversion to JS, metadata, strides and contiguity, scopes.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  arange,
  dispose,
  DTYPES,
  empty,
  eye,
  fromTypedArray,
  full,
  keep,
  linspace,
  liveTensors,
  ones,
  rand,
  randint,
  randn,
  randperm,
  tensor,
  tidy,
  zeros,
} from '../src/torch/index.js';

test('every dtype round-trips through typed arrays and nested arrays', () => {
  for (const dtype of DTYPES) {
    const t = tensor(
      [
        [1, 0],
        [3, 1],
      ],
      { dtype },
    );
    assert.equal(t.dtype, dtype);
    assert.deepEqual(t.shape, [2, 2]);
    const expected =
      dtype === 'bool'
        ? [
            [true, false],
            [true, true],
          ]
        : [
            [1, 0],
            [3, 1],
          ];
    assert.deepEqual(t.toArray(), expected, dtype);
  }
  assert.deepEqual(Array.from(fromTypedArray(new BigInt64Array([5n, -7n])).data() as BigInt64Array), [5n, -7n]);
  assert.deepEqual(fromTypedArray(new Float64Array([1, 2, 3, 4, 5, 6]), [3, 2]).toArray(), [
    [1, 2],
    [3, 4],
    [5, 6],
  ]);
});

test('dtype inference from JS values follows Python: integers int64, fractions float32, booleans bool', () => {
  assert.equal(tensor([1, 2]).dtype, 'int64');
  assert.equal(tensor([1, 2.5]).dtype, 'float32');
  assert.equal(tensor([true, false]).dtype, 'bool');
  assert.equal(tensor(3.5).ndim, 0);
  assert.equal(tensor(3.5).item(), 3.5);
  assert.equal(arange(5).dtype, 'int64');
  assert.equal(arange(0, 1, 0.25).dtype, 'float32');
  assert.equal(tensor([1, 2]).add(0.5).dtype, 'float32');
  assert.equal(tensor([1, 2]).mul(2).dtype, 'int64');
});

test('creation functions', () => {
  assert.deepEqual(zeros([2, 2]).toArray(), [
    [0, 0],
    [0, 0],
  ]);
  assert.deepEqual(ones([3], { dtype: 'int32' }).toArray(), [1, 1, 1]);
  assert.deepEqual(full([2], 7.5).toArray(), [7.5, 7.5]);
  assert.deepEqual(empty([4, 0]).shape, [4, 0]);
  assert.deepEqual(arange(2, 8, 2).toArray(), [2, 4, 6]);
  assert.deepEqual(linspace(0, 1, 5).toArray(), [0, 0.25, 0.5, 0.75, 1]);
  assert.deepEqual(eye(2, 3).toArray(), [
    [1, 0, 0],
    [0, 1, 0],
  ]);
  const u = rand([1000]);
  assert.ok(u.min().item() >= 0 && u.max().item() < 1);
  const n = randn([20000], { dtype: 'float64' });
  assert.ok(Math.abs(n.mean().item()) < 0.05 && Math.abs(n.std().item() - 1) < 0.05);
  const r = randint(3, 6, [1000]);
  assert.equal(r.dtype, 'int64');
  assert.ok(r.min().item() === 3 && r.max().item() === 5);
  assert.deepEqual((randperm(6).toArray() as number[]).sort(), [0, 1, 2, 3, 4, 5]);
});

test('to(), strides, contiguity and views', () => {
  const t = arange(6).reshape([2, 3]);
  assert.deepEqual(t.strides(), [3, 1]);
  const tt = t.t();
  assert.deepEqual(tt.strides(), [1, 3]);
  assert.equal(tt.isContiguous(), false);
  assert.equal(tt.contiguous().isContiguous(), true);
  assert.deepEqual(tt.contiguous().toArray(), [
    [0, 3],
    [1, 4],
    [2, 5],
  ]);
  assert.equal(t.to('float64').dtype, 'float64');
  assert.equal(t.to({ dtype: 'float32', device: 'cpu' }).device, 'cpu');
  const view = t.view([3, 2]);
  view.fill_(1);
  assert.deepEqual(
    t.toArray(),
    [
      [1, 1, 1],
      [1, 1, 1],
    ],
    'a view shares storage',
  );
  const copy = t.clone();
  copy.fill_(2);
  assert.deepEqual(
    t.toArray(),
    [
      [1, 1, 1],
      [1, 1, 1],
    ],
    'a clone does not',
  );
  assert.equal(t.size(-1), 3);
  assert.equal(t.numel, 6);
  assert.match(String(t), /tensor\(\[\[1,1,1\],\[1,1,1\]\], shape=\[2, 3\], dtype=int64\)/);
});

test('tidy disposes what the function created but returns; keep and nested scopes', () => {
  const before = liveTensors();
  const outer = ones([2]);
  const kept = tidy(() => {
    const a = ones([2]).mul(3);
    keep(a);
    const inner = tidy(() => {
      const b = a.add(1);
      ones([100]);
      return { b, list: [b.mul(2)] };
    });
    assert.equal(inner.b.isDisposed, false);
    return [a, inner.list[0]];
  });
  assert.deepEqual(kept[1].toArray(), [8, 8]);
  assert.equal(liveTensors(), before + 3, 'outer, kept a and the returned product remain');
  dispose(kept, outer);
  assert.equal(liveTensors(), before);
  assert.throws(() => outer.add(1), /disposed/);
  assert.throws(() => tidy(() => Promise.resolve(1)), /Promise/);
});
