// The four backbones against torchvision: state-dict layout, parameter counts, stage outputs and logits with the
// same deterministic weights (fixtures/models.json, from generate_models.py).
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { BACKBONES, type Backbone, createBackbone } from '../src/models/index.js';
import { arange, manualSeed, noGrad, rand, randn, type Tensor, tidy, zeros } from '../src/torch/index.js';
import { readFixture } from './helpers.js';

interface StageStat {
  shape: number[];
  mean: number;
  meanAbs: number;
}

interface ModelCase {
  keys: [string, number[]][];
  numParameters: number;
  evalLogits: number[];
  stages: StageStat[];
  trainStages: StageStat[];
}

const fixture = readFixture<{ numClasses: number; models: Record<string, ModelCase> }>('models.json');

/** Mirrors deterministic_value() in generate_models.py: libtorch's generator seeded per tensor. */
function deterministicState(model: Backbone): Map<string, Tensor> {
  const state = new Map<string, Tensor>();
  [...model.stateDict()].forEach(([name, value], ordinal) => {
    const shape = value.shape;
    manualSeed(ordinal);
    let v: Tensor;
    if (name.endsWith('num_batches_tracked')) v = zeros(shape, { dtype: 'int64' });
    else if (name.endsWith('running_var')) v = rand(shape).mul(0.5).add(1);
    else if (name.endsWith('running_mean') || name.endsWith('bias')) v = rand(shape).sub(0.5).mul(0.2);
    else if (shape.length === 1) v = rand(shape).mul(0.4).add(0.8);
    else v = randn(shape).mul(Math.sqrt(2 / (value.numel / shape[0])));
    state.set(name, v);
  });
  return state;
}

function input(): Tensor {
  return arange(2 * 3 * 64 * 64, undefined, 1, { dtype: 'float64' }).mul(0.05).sin().float().reshape([2, 3, 64, 64]);
}

function assertNumbersClose(actual: number[], expected: number[], what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  const scale = Math.max(...expected.map(Math.abs));
  actual.forEach((a, i) => {
    assert.ok(Math.abs(a - expected[i]) <= 1e-4 * Math.max(Math.abs(expected[i]), scale * 1e-2), `${what}[${i}]: ${a} vs torchvision ${expected[i]}`);
  });
}

function checkStages(model: Backbone, x: Tensor, expected: StageStat[], mode: string): void {
  model.stages(x).slice(0, expected.length).forEach((s, i) => {
    const e = expected[i];
    assert.deepEqual(s.shape, e.shape, `${mode} stage ${i + 1} shape`);
    assert.equal(model.stageChannels[i], e.shape[1], `stage ${i + 1} channels`);
    assertNumbersClose([s.double().mean().item(), s.double().abs().mean().item()], [e.mean, e.meanAbs], `${mode} stage ${i + 1} statistics`);
  });
}

for (const name of BACKBONES) {
  test(`${name}: layout, parameter count, stages and logits equal torchvision's`, () => {
    const expected = fixture.models[name];
    const model = createBackbone(name, fixture.numClasses);
    tidy(() => {
      assert.deepEqual([...model.stateDict()].map(([k, t]) => [k, t.shape]), expected.keys, 'state dict names, order and shapes');
      assert.equal(model.numParameters(), expected.numParameters);
      model.loadStateDict(deterministicState(model));
      const x = input();
      model.eval();
      noGrad(() => {
        assertNumbersClose(Array.from(model.forward(x).data() as Float32Array), expected.evalLogits, 'eval logits');
        checkStages(model, x, expected.stages, 'eval');
        // Train mode: BatchNorm on batch statistics (stage 4 is left out, see generate_models.py).
        model.train();
        checkStages(model, x, expected.trainStages, 'train');
      });
    });
    model.dispose();
  });
}

test('parameter counts for 1000 classes equal torchvision', () => {
  const expected = { resnet18: 11_689_512, resnet34: 21_797_672, resnet50: 25_557_032, mobilenet_v2: 3_504_872 };
  for (const [name, count] of Object.entries(expected)) {
    const model = createBackbone(name, 1000);
    assert.equal(model.numParameters(), count, name);
    model.dispose();
  }
  assert.throws(() => createBackbone('vgg16', 10), /unknown backbone 'vgg16' \(expected one of resnet18, resnet34, resnet50, mobilenet_v2\)/);
});
