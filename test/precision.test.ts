// bfloat16 tensors, autocast regions, channels-last layouts: what they compute, against float32 and hand values.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import { readSafetensors, writeSafetensors } from '../src/io/index.js';
import { type Backbone, createBackbone } from '../src/models/index.js';
import {
  autocast,
  autocastState,
  cat,
  F,
  manualSeed,
  noGrad,
  type Precision,
  randint,
  randn,
  type Tensor,
  tensor,
  tidy,
  withPrecision,
} from '../src/torch/index.js';

/** ||a - b|| / ||b|| over all elements. */
function relativeL2(a: Tensor, b: Tensor): number {
  return tidy(() => a.float().sub(b.float()).norm().item() / b.float().norm().item());
}

test('bfloat16 tensors round to nearest even and read back widened', () => {
  // bf16 keeps 8 significant bits: at 1 the step is 2^-7; 1 + 1.5 steps ties to the even 1 + 2 steps.
  const t = tensor([1 + 2 ** -8, 1 + 3 * 2 ** -8, 3.140625, -2.5e-3], { dtype: 'bfloat16' });
  assert.equal(t.dtype, 'bfloat16');
  assert.deepEqual(Array.from(t.data() as Float32Array), [1, 1.015625, 3.140625, -0.00250244140625]);
  // The raw bits are the top half of the float32: 1.0 is 0x3f80.
  assert.deepEqual(Array.from(tensor([1], { dtype: 'bfloat16' }).bytes()), [0x80, 0x3f]);
});

test('safetensors writes bfloat16 as BF16 and reads it back widened, bit for bit', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dsdnet-bf16-'));
  try {
    const t = randn([3, 5]).to('bfloat16');
    writeSafetensors(join(dir, 'w.safetensors'), new Map([['w', t]]));
    const back = readSafetensors(join(dir, 'w.safetensors'));
    assert.equal(back.widened.get('w'), 'bfloat16');
    assert.deepEqual(Array.from(back.tensors.get('w')!.data() as Float32Array), Array.from(t.data() as Float32Array));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('autocast runs convolutions and linear layers in bfloat16, keeps the loss in float32, and restores the state', () => {
  const x = randn([2, 3, 8, 8]);
  const w = randn([4, 3, 3, 3]);
  assert.equal(autocastState().enabled, false);
  autocast({ dtype: 'bfloat16' }, () => {
    assert.deepEqual(autocastState(), { enabled: true, dtype: 'bfloat16' });
    const y = F.conv2d(x, w);
    assert.equal(y.dtype, 'bfloat16');
    assert.equal(F.linear(y.flatten(1), randn([5, 144])).dtype, 'bfloat16');
    assert.equal(F.crossEntropy(randn([2, 5]).to('bfloat16'), randint(0, 5, [2])).dtype, 'float32');
    // A nested region switched off computes in float32.
    autocast({ enabled: false }, () => assert.equal(F.conv2d(x, w).dtype, 'float32'));
    assert.equal(autocastState().enabled, true);
  });
  assert.equal(F.conv2d(x, w).dtype, 'float32');
  assert.throws(
    () =>
      autocast({}, () => {
        throw new Error('inside');
      }),
    /inside/,
  );
  assert.equal(autocastState().enabled, false, 'an exception leaves autocast switched off');
  assert.throws(() => withPrecision('fp8' as Precision, () => 0), /unknown precision 'fp8'/);
});

/** Logits and parameter gradients of one training step of the backbone, in a precision. */
function step(model: Backbone, x: Tensor, y: Tensor, precision: Precision): { logits: Tensor; grads: Tensor[] } {
  model.zeroGrad();
  const logits = withPrecision(precision, () => model.forward(x)).float();
  F.crossEntropy(logits, y).backward();
  return { logits: logits.detach(), grads: model.parameters().map((p) => p.grad!) };
}

for (const name of ['resnet18', 'mobilenet_v2'] as const) {
  test(`${name}: a bf16 training step (backward included) agrees with float32 to bfloat16 precision`, () => {
    manualSeed(0);
    const model = createBackbone(name, 10);
    model.eval(); // batch statistics of tiny batches would amplify rounding differences; eval keeps the comparison about precision
    const x = randn([4, 3, 64, 64]);
    const y = randint(0, 10, [4]);
    tidy(() => {
      const full = step(model, x, y, 'fp32');
      const half = step(model, x, y, 'bf16');
      for (const g of half.grads) assert.equal(g.dtype, 'float32', 'gradients of float32 weights stay float32');
      // PyTorch's bf16 autocast on the same network and data (python3-torch 1.13, ResNet-18) is off by the same: logits
      // 0.0053, all gradients 0.063, the first layer's 0.168. MobileNetV2 (deeper; PyTorch 1.13 cannot run it): 0.145.
      const logitError = relativeL2(half.logits, full.logits);
      const flat = (gs: Tensor[]): Tensor => cat(gs.map((g) => g.flatten()));
      const gradError = relativeL2(flat(half.grads), flat(full.grads));
      assert.ok(logitError > 0, 'bf16 must actually change the arithmetic');
      assert.ok(logitError < 0.02, `logits differ by ${logitError}`);
      assert.ok(gradError < 0.2, `gradients differ by ${gradError}`);
    });
    model.dispose();
  });
}

test('ReLU6 in bf16: the values and gradient of hardtanh(0, 6), in place or not', () => {
  // Edges (0 and 6 exactly), both sides of them, small values that a subtraction in bf16 would round away, and large.
  const values = [-7, -1e-3, 0, 1e-3, 0.1, 2.5, 5.96875, 6, 6.0625, 100];
  for (const inplace of [false, true]) {
    tidy(() => {
      const leaf = tensor(values, { dtype: 'bfloat16' }).requiresGrad_();
      const input = leaf.mul(1); // in-place ops need a non-leaf, as in a network
      const out = F.relu6(input, inplace);
      assert.equal(out.dtype, 'bfloat16');
      assert.deepEqual(
        out.toArray(),
        tensor([0, 0, 0, 1e-3, 0.1, 2.5, 5.96875, 6, 6, 6], { dtype: 'bfloat16' }).toArray(),
        `values (inplace ${inplace})`,
      );
      out.backward(tensor([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], { dtype: 'bfloat16' }));
      // hardtanh passes the gradient strictly inside (0, 6) only.
      // (Above 6 the gradient comes back through a negation as -0, which equals 0: + 0 makes it +0 for deepEqual.)
      assert.deepEqual(
        (leaf.grad!.toArray() as number[]).map((g) => g + 0),
        [0, 0, 0, 4, 5, 6, 7, 0, 0, 0],
        `gradient (inplace ${inplace})`,
      );
    });
  }
});

test('BatchNorm in bf16 training keeps float32 running statistics and updates them like float32 does', () => {
  const stats = (precision: Precision): Tensor => {
    manualSeed(3);
    const model = createBackbone('resnet18', 4);
    tidy(() => void withPrecision(precision, () => model.forward(randn([4, 3, 32, 32]))));
    const mean = model.stateDict().get('bn1.running_mean')!;
    assert.equal(mean.dtype, 'float32');
    return mean;
  };
  const full = stats('fp32');
  const half = stats('bf16');
  assert.ok(full.abs().sum().item() > 0, 'the statistics moved');
  assert.ok(relativeL2(half, full) < 0.02, `bf16 statistics differ by ${relativeL2(half, full)}`);
});

test('channels-last: the same function and gradients as row-major, weights and gradients stored NHWC, state dicts row-major', () => {
  manualSeed(1);
  const reference = createBackbone('resnet18', 7);
  const model = createBackbone('resnet18', 7);
  model.loadStateDict(reference.stateDict());
  model.toMemoryFormat('channelsLast');
  // Eval-mode BatchNorm: batch statistics of two 1-pixel maps would amplify summation-order differences.
  reference.eval();
  model.eval();
  const conv = model.stateDict().get('conv1.weight')!;
  assert.ok(conv.isContiguous('channelsLast'), 'weights are channels-last');
  assert.ok(!conv.isContiguous(), 'and no longer row-major');
  const x = randn([2, 3, 32, 32]);
  const y = randint(0, 7, [2]);
  tidy(() => {
    const a = step(reference, x, y, 'fp32');
    const b = step(model, x, y, 'fp32');
    assert.ok(relativeL2(b.logits, a.logits) < 1e-5, `logits differ by ${relativeL2(b.logits, a.logits)}`);
    assert.ok(model.parameters()[0].grad!.isContiguous('channelsLast'), 'the gradient follows the weight layout');
    a.grads.forEach((g, i) => assert.ok(relativeL2(b.grads[i], g) < 1e-4, `gradient ${i}`));
  });
  // Saved bytes are row-major: a model that never changed layout reads them as the same weights.
  const bytes = conv.bytes();
  const rowMajor = noGrad(() => conv.contiguous());
  assert.deepEqual(bytes, rowMajor.bytes());
  reference.dispose();
  model.dispose();
});
