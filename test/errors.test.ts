// Bad input becomes a JS Error with a clear message; nothing a caller passes crashes the process.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { F, ones, randn, schemaOf, Tensor, tensor, zeros } from '../src/torch/index.js';
import { binding } from '../src/torch/native.js';

test('libtorch errors carry libtorch messages', () => {
  assert.throws(() => ones([2, 3]).add(ones([4])), /The size of tensor a \(3\) must match the size of tensor b \(4\)/);
  assert.throws(() => ones([2, 3]).matmul(ones([2, 3])), /cannot be multiplied/);
  assert.throws(() => ones([2, 3]).reshape([5]), /shape '\[5\]' is invalid for input of size 6/);
  assert.throws(
    () => ones([2, 3]).indexSelect(1, tensor([7])),
    /INDICES element is out of DATA bounds, id=7 axis_dim=3/,
  );
  assert.throws(() => ones([2, 3]).gather(1, tensor([[0.5]])), /gather\(\): Expected dtype int64 for index/);
  assert.throws(
    () => F.conv2d(ones([1, 3, 8, 8]), ones([4, 2, 3, 3])),
    /expected input\[1, 3, 8, 8\] to have 2 channels/i,
  );
  assert.throws(() => F.crossEntropy(ones([2, 3]), tensor([0, 5])), /out of bounds|Target 5 is out of bounds/);
  assert.throws(() => ones([2]).item(), /a Tensor with 2 elements cannot be converted to Scalar/);
});

test('bad arguments are refused at the boundary with the argument named', () => {
  const call = (name: string, ...args: unknown[]): unknown =>
    (binding.call as (...a: unknown[]) => unknown)(binding.findOp(...splitName(name)), ...args);
  assert.throws(
    () => call('aten::conv2d', ones([1, 1, 3, 3]).handle, ones([1, 1, 1, 1]).handle, null, 'x'),
    /aten::conv2d: argument 'stride' expects int\[\], got the string 'x'/,
  );
  assert.throws(
    () => call('aten::add.Tensor', ones([1]).handle, {}),
    /argument 'other' expects a tensor, got an object/,
  );
  assert.throws(() => call('aten::add.Tensor', ones([1]).handle), /argument 'other' expects Tensor, got undefined/);
  assert.throws(() => call('aten::zeros', [1.5]), /argument 'size' expects an integer, got the number 1.5/);
  assert.throws(() => call('aten::relu', ones([1]).handle, 1, 2), /takes 1 arguments, got 3/);
  assert.throws(() => binding.findOp('aten::no_such_op', ''), /libtorch has no operator aten::no_such_op/);
  assert.throws(() => binding.call(99999), /unknown operator id 99999/);
  assert.throws(() => binding.shape({} as never), /shape: expected a tensor/);
  assert.throws(() => binding.fromBuffer(new Float32Array(3), [2, 2], 6), /12 bytes given for a tensor of 16 bytes/);
  assert.throws(() => binding.fromBuffer(new Float32Array(3), [-1], 6), /non-negative integers/);
  assert.throws(() => binding.fromBuffer(new Float32Array(3), [3], 99), /unknown scalar type code 99/);
  assert.match(schemaOf('conv2d'), /^aten::conv2d\(Tensor input, Tensor weight/);
});

function splitName(name: string): [string, string] {
  const [op, overload = ''] = name.split('.');
  return [op, overload];
}

test('API-level checks name the value', () => {
  assert.throws(() => zeros([2, -1]), /zeros: shape must be an array of non-negative integers, got \[2,-1\]/);
  assert.throws(() => ones([2]).to('float8' as never), /to\('float8'\): neither a dtype \(.*bfloat16\) nor a device/);
  assert.throws(() => tensor([[1, 2], [3]]), /ragged nested array/);
  assert.throws(() => tensor(['a'] as never), /elements must be numbers, booleans or bigints, got string/);
  assert.throws(() => tensor([1.5], { dtype: 'int64' }), /1.5 is not an integer for int64/);
  assert.throws(() => F.dropout(ones([2]), 1.5), /dropout: p must be in \[0, 1\], got 1.5/);
  assert.throws(() => F.interpolate(ones([1, 1, 2, 2]), {}), /exactly one of size and scaleFactor/);
  assert.throws(
    () => F.crossEntropy(ones([2, 3]), tensor([0, 1]), { reduction: 'avg' as never }),
    /unknown reduction 'avg'/,
  );
});

test('a disposed tensor refuses further use, and disposal is idempotent', () => {
  const t = randn([3]);
  t.dispose();
  t.dispose();
  assert.equal(t.isDisposed, true);
  assert.throws(() => t.shape, /this tensor was disposed/);
  assert.equal(String(t), 'tensor(<disposed>)');
  const handle = ones([1]).handle;
  binding.dispose(handle);
  assert.throws(() => binding.shape(handle), /the tensor was disposed/);
  assert.throws(() => new Tensor(handle).add(1), /disposed/);
});

test(
  'CUDA devices are refused clearly when libtorch has none',
  { skip: binding.cudaDeviceCount() > 0 && 'a GPU is present' },
  () => {
    assert.throws(
      () => ones([2], { device: 'cuda:0' }),
      /device 'cuda:0' is not available: this libtorch \(\d+\.\d+\.\d+\) has no CUDA support/,
    );
    assert.throws(() => ones([2]).to('cuda'), /device 'cuda' is not available/);
    assert.throws(() => ones([2], { device: 'tpu' as never }), /unknown device 'tpu'/);
  },
);
