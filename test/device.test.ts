// Device correctness without a GPU: every tensor that the model's steps create must name the device of the model
// (requireExplicitDevices makes one that would fall back to the CPU throw), for every backbone and method, in both
// precisions, through the optimizer step and with the fp16 loss scaler; and devices are chosen and refused clearly.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { METHODS, readTerms, SelfDistillationNet } from '../src/dsd/index.js';
import { evaluate } from '../src/eval/index.js';
import { InMemoryImages } from '../src/data/index.js';
import { BACKBONES, createBackbone } from '../src/models/index.js';
import { GradScaler, SGD } from '../src/optim/index.js';
import {
  cudaIsAvailable,
  getRngState,
  manualSeed,
  randint,
  randn,
  requireExplicitDevices,
  resolveDevice,
  tensor,
  tidy,
  zeros,
} from '../src/torch/index.js';
import { DEFAULT_CONFIG } from '../src/train/index.js';
import { makeOptimizer } from '../src/train/optimizer.js';

const cli = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

for (const backbone of BACKBONES) {
  test(`${backbone}: plain, sd and dsd steps (forward, backward, update, loss terms) create every tensor on the model's device`, () => {
    for (const method of METHODS) {
      tidy(() => {
        manualSeed(1);
        const net = new SelfDistillationNet(createBackbone(backbone, 4), method, { ddimSteps: 2 });
        const optimizer = makeOptimizer({ ...DEFAULT_CONFIG, data: '', method }, net);
        const device = net.device;
        const images = randn([2, 3, 32, 32], { device });
        const labels = randint(0, 4, [2], { device });
        for (const precision of ['fp32', 'bf16'] as const) {
          requireExplicitDevices(() => {
            const result = net.lossOf(images, labels, precision);
            result.loss.backward();
            optimizer.step();
            optimizer.zeroGrad();
            assert.ok(
              Object.values(readTerms(result.terms)).every(Number.isFinite),
              `${backbone} ${method} ${precision}`,
            );
          });
        }
        net.dispose();
      });
    }
  });
}

test('the strict mode catches a tensor made without a device, by name', () => {
  assert.throws(
    () => requireExplicitDevices(() => zeros([2])),
    /zeros\(\): no device given, so the tensor would be made on the CPU whatever device the model is on/,
  );
  assert.throws(() => requireExplicitDevices(() => tensor([1, 2])), /tensor\(\): no device given/);
  assert.throws(() => requireExplicitDevices(() => randn([2])), /randn\(\): no device given/);
  tidy(() => requireExplicitDevices(() => zeros([2], { device: 'cpu' })));
  tidy(() => zeros([2])); // outside it, the CPU default stands
});

test("evaluation runs on the model's device", () => {
  const model = createBackbone('resnet18', 3);
  const pixels = new Uint8Array(4 * 32 * 32 * 3).map((_, i) => (i * 37) % 256);
  const images = new InMemoryImages(['a', 'b', 'c', 'd'], Int32Array.from([0, 1, 2, 0]), 32, 'cover', pixels);
  const { predictions } = evaluate(model, images, [0, 1, 2, 3], ['x', 'y', 'z'], { outputSize: 32 });
  assert.equal(predictions.length, 4);
  model.dispose();
});

test('Module.to moves parameters in place: the same tensors, so an optimizer made before stays valid', () => {
  const model = createBackbone('resnet18', 3);
  const before = model.parameters();
  const optimizer = new SGD([{ params: before }], { lr: 0.1 });
  model.to('cpu');
  assert.ok(model.parameters().every((p, i) => p === before[i]));
  assert.equal(optimizer.paramGroups[0].params[0], before[0]);
  assert.equal(model.device, 'cpu');
  model.dispose();
});

test('GradScaler: a step with an overflowed gradient is skipped and the scale halved; good steps unscale and grow it', () => {
  tidy(() => {
    const p = zeros([2]).requiresGrad_(true);
    const optimizer = new SGD([{ params: [p] }], { lr: 1 });
    const scaler = new GradScaler({ initScale: 8, growthInterval: 2 });
    scaler.scaleLoss(p.mul(tensor([1, 1e38], { dtype: 'float32' })).sum()).backward();
    assert.equal(scaler.step(optimizer), false, 'inf gradient: no step');
    assert.deepEqual(Array.from(p.data() as Float32Array), [0, 0]);
    assert.equal(scaler.currentScale, 4);
    for (let i = 0; i < 2; i++) {
      optimizer.zeroGrad();
      scaler.scaleLoss(p.mul(tensor([1, 2], { dtype: 'float32' })).sum()).backward();
      assert.equal(scaler.step(optimizer), true);
    }
    // Two unscaled steps of lr 1 on gradients [1, 2].
    assert.deepEqual(Array.from(p.data() as Float32Array), [-2, -4]);
    assert.equal(scaler.currentScale, 8, 'grown after growthInterval good steps');
  });
});

test(
  "devices: 'auto' is the CPU without a GPU; CUDA is refused clearly, before any work, where libtorch has none",
  { skip: cudaIsAvailable() && 'a GPU is present' },
  () => {
    assert.equal(resolveDevice('auto'), 'cpu');
    assert.throws(
      () => getRngState('cuda'),
      /device 'cuda' is not available: this libtorch \(\S+\) has no CUDA support/,
    );
    const run = spawnSync(process.execPath, [cli, 'train', '/nonexistent-dataset', '--device', 'cuda:1'], {
      encoding: 'utf8',
    });
    assert.equal(run.status, 1);
    assert.match(
      run.stderr,
      /option '--device <device>' argument 'cuda:1' is invalid\. device 'cuda:1' is not available: this libtorch \(\S+\) has no CUDA support or sees no GPU/,
    );
    const tpu = spawnSync(process.execPath, [cli, 'predict', 'x', 'y.png', '--device', 'tpu'], { encoding: 'utf8' });
    assert.match(tpu.stderr, /unknown device 'tpu' \(expected 'cpu', 'cuda' or 'cuda:N'\)/);
    const onnx = spawnSync(
      process.execPath,
      [cli, 'predict', 'model.onnx', 'y.png', '--engine', 'onnx', '--device', 'cuda'],
      { encoding: 'utf8' },
    );
    assert.match(onnx.stderr, /device 'cuda' is not available/);
  },
);

test('fp16 mixed precision is refused on the CPU with what to use instead', () => {
  const out = execFileSync(
    process.execPath,
    [
      '-e',
      `
    import('${new URL('../src/torch/index.js', import.meta.url).href}').then(({ withPrecision }) => {
      try { withPrecision('fp16', () => 0); } catch (e) { console.log(e.message); }
    });`,
    ],
    { encoding: 'utf8' },
  );
  assert.match(out, /fp16 mixed precision runs on CUDA devices \(--device cuda\); on the CPU use bf16/);
});
