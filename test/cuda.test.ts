// On a GPU (skipped elsewhere, with a message): every backbone and method trains there in bf16 and fp16 with no
// tensor left on the CPU; the GPU computes what the CPU does; seeded CUDA randomness repeats and its state is saved
// with a snapshot; a run trained on the GPU is a device-free folder that evaluates and resumes on the CPU and back.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import { METHODS, readTerms, SelfDistillationNet } from '../src/dsd/index.js';
import { BACKBONES, createBackbone } from '../src/models/index.js';
import { GradScaler, SGD } from '../src/optim/index.js';
import { cudaIsAvailable, F, manualSeed, randint, randn, requireExplicitDevices, tidy } from '../src/torch/index.js';
import { DEFAULT_CONFIG, resolveConfig, restoreSnapshot, saveSnapshot, train } from '../src/train/index.js';
import { loadModel, scoreImages } from '../src/trained/index.js';
import { makeOptimizer } from '../src/train/optimizer.js';
import { makeDataset } from './support/images.js';

const skip =
  !cudaIsAvailable() && 'no CUDA device: these tests run on a GPU with a CUDA libtorch (scripts/gpu-check.sh)';
const GPU = 'cuda:0' as const;
const scratch = (): string => mkdtempSync(join(tmpdir(), 'dsdnet-cuda-'));
const maxAbsDiff = (a: Float32Array, b: Float32Array): number =>
  a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

test(
  'every backbone x method trains on the GPU in bf16, and in fp16 with the loss scaler, every tensor made there',
  { skip },
  () => {
    for (const backbone of BACKBONES) {
      for (const method of METHODS) {
        tidy(() => {
          manualSeed(1);
          const net = new SelfDistillationNet(createBackbone(backbone, 4), method, { ddimSteps: 2 }).to(GPU);
          const optimizer = makeOptimizer({ ...DEFAULT_CONFIG, data: '', method }, net);
          const scaler = new GradScaler();
          const images = randn([4, 3, 64, 64], { device: GPU });
          const labels = randint(0, 4, [4], { device: GPU });
          requireExplicitDevices(() => {
            const bf16 = net.lossOf(images, labels, 'bf16');
            bf16.loss.backward();
            optimizer.step();
            optimizer.zeroGrad();
            const fp16 = net.lossOf(images, labels, 'fp16');
            scaler.scaleLoss(fp16.loss).backward();
            scaler.step(optimizer);
            optimizer.zeroGrad();
            for (const terms of [bf16.terms, fp16.terms])
              assert.ok(Object.values(readTerms(terms)).every(Number.isFinite), `${backbone} ${method}`);
          });
          assert.ok(
            net.parameters().every((p) => p.device === GPU),
            `${backbone} ${method}: parameters stay on the GPU`,
          );
          net.dispose();
        });
      }
    }
  },
);

test('the GPU computes what the CPU computes: ResNet-18 logits and gradients, fp32', { skip }, () => {
  tidy(() => {
    manualSeed(2);
    const cpu = createBackbone('resnet18', 5);
    const gpu = createBackbone('resnet18', 5);
    gpu.loadStateDict(cpu.stateDict());
    gpu.to(GPU);
    const x = randn([3, 3, 64, 64]);
    const y = randint(0, 5, [3]);
    const run = (model: typeof cpu, device: 'cpu' | typeof GPU): { logits: Float32Array; grad: Float32Array } => {
      const logits = model.forward(x.to(device));
      F.crossEntropy(logits, y.to(device)).backward();
      const grad = model.parameters()[0].grad!;
      return { logits: logits.data() as Float32Array, grad: grad.data() as Float32Array };
    };
    const a = run(cpu, 'cpu');
    const b = run(gpu, GPU);
    // cuDNN may use TF32 for convolutions, as PyTorch allows by default: agreement to about 1e-3 of the values' scale.
    assert.ok(maxAbsDiff(a.logits, b.logits) < 2e-2, `logits differ by ${maxAbsDiff(a.logits, b.logits)}`);
    const gradScale = a.grad.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    assert.ok(
      maxAbsDiff(a.grad, b.grad) < 2e-2 * gradScale,
      `conv1 gradients differ by ${maxAbsDiff(a.grad, b.grad)} (scale ${gradScale})`,
    );
    cpu.dispose();
    gpu.dispose();
  });
});

test('seeded CUDA randomness repeats, and a snapshot saves and restores the GPU generator', { skip }, () => {
  tidy(() => {
    manualSeed(7);
    const first = randn([8], { device: GPU }).data() as Float32Array;
    manualSeed(7);
    assert.deepEqual(randn([8], { device: GPU }).data(), first);

    const model = createBackbone('resnet18', 3).to(GPU);
    const optimizer = new SGD([{ params: model.parameters() }], { lr: 0.1 });
    const root = scratch();
    saveSnapshot(root, ['latest'], {
      model,
      optimizer,
      config: {},
      classNames: ['a', 'b', 'c'],
      epoch: 0,
      iteration: 0,
    });
    const next = randn([8], { device: GPU }).data() as Float32Array;
    randn([100], { device: GPU }); // the stream moves on
    restoreSnapshot(root, { model, optimizer, classNames: ['a', 'b', 'c'] });
    assert.deepEqual(randn([8], { device: GPU }).data(), next, 'the GPU stream continues where the snapshot was taken');
    model.dispose();
  });
});

test(
  'a run trained on the GPU is device-free: it evaluates on the CPU as on the GPU, and resumes on the CPU',
  { skip },
  async () => {
    const data = await makeDataset(8, [40, 40]);
    const config = resolveConfig(
      data,
      {},
      {
        method: 'dsd',
        size: 32,
        batchSize: 6,
        epochs: 2,
        warmupEpochs: 0,
        cycles: 1,
        split: { ratio: 0.5, seed: 1 },
        precision: 'bf16',
      },
    );
    const out = join(scratch(), 'run');
    const first = await train(config, { out, report: 'quiet', stopAfterEpochs: 1, device: GPU });
    assert.equal(first.completed, false);
    const scores = (device: 'cpu' | typeof GPU): Float32Array => {
      const loaded = loadModel(out, { device });
      const pixels = new Uint8Array(2 * loaded.decodeSize ** 2 * 3).map((_, i) => (i * 31) % 256);
      const probabilities = scoreImages(loaded, pixels, 2);
      loaded.model.dispose();
      return probabilities;
    };
    const onCpu = scores('cpu');
    assert.ok(maxAbsDiff(onCpu, scores(GPU)) < 1e-2, 'the same checkpoint scores alike on both devices');
    const resumed = await train(config, { out, resume: true, report: 'quiet', device: 'cpu' });
    assert.equal(resumed.completed, true);
    assert.equal(resumed.epochs.length, 2);
    assert.ok(resumed.epochs.every((e) => Number.isFinite(e.trainLoss)));
  },
);
