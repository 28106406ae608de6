// The four backbones against torchvision: state-dict layout, parameter counts, stage outputs and logits with the
// same deterministic weights (fixtures/models.json, from generate_models.py); ResNet-50 in both stride placements.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { type Layer, runChain } from '../src/nn/index.js';
import { BACKBONES, type Backbone, type BackboneOptions, createBackbone, type ResNet } from '../src/models/index.js';
import { arange, Generator, manualSeed, noGrad, randn, type Tensor, tidy } from '../src/torch/index.js';
import { deterministicState } from './support/deterministic.js';
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

function input(): Tensor {
  return arange(2 * 3 * 64 * 64, undefined, 1, { dtype: 'float64' })
    .mul(0.05)
    .sin()
    .float()
    .reshape([2, 3, 64, 64]);
}

function assertNumbersClose(actual: number[], expected: number[], what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  const scale = Math.max(...expected.map(Math.abs));
  actual.forEach((a, i) => {
    assert.ok(
      Math.abs(a - expected[i]) <= 1e-4 * Math.max(Math.abs(expected[i]), scale * 1e-2),
      `${what}[${i}]: ${a} vs torchvision ${expected[i]}`,
    );
  });
}

function checkStages(model: Backbone, x: Tensor, expected: StageStat[], mode: string): void {
  model
    .stages(x)
    .slice(0, expected.length)
    .forEach((s, i) => {
      const e = expected[i];
      assert.deepEqual(s.shape, e.shape, `${mode} stage ${i + 1} shape`);
      assert.equal(model.stageChannels[i], e.shape[1], `stage ${i + 1} channels`);
      assertNumbersClose(
        [s.double().mean().item(), s.double().abs().mean().item()],
        [e.mean, e.meanAbs],
        `${mode} stage ${i + 1} statistics`,
      );
    });
}

/** The fixture's cases: [its name, backbone, options]. */
const CASES: [string, string, BackboneOptions][] = [
  ...BACKBONES.map((name): [string, string, BackboneOptions] => [name, name, {}]),
  ['resnet50 stride 1x1', 'resnet50', { bottleneckStride: '1x1' }],
];

for (const [caseName, name, options] of CASES) {
  test(`${caseName}: layout, parameter count, stages and logits equal torchvision's`, () => {
    const expected = fixture.models[caseName];
    const model = createBackbone(name, fixture.numClasses, options);
    tidy(() => {
      assert.deepEqual(
        [...model.stateDict()].map(([k, t]) => [k, t.shape]),
        expected.keys,
        'state dict names, order and shapes',
      );
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
  assert.throws(
    () => createBackbone('vgg16', 10),
    /unknown backbone 'vgg16' \(expected one of resnet18, resnet34, resnet50, mobilenet_v2\)/,
  );
});

test("the stride placement is ResNet-50's only, and one of two", () => {
  assert.throws(
    () => createBackbone('resnet18', 10, { bottleneckStride: '1x1' }),
    /bottleneckStride '1x1' applies to resnet50's bottleneck blocks only, not to resnet18/,
  );
  assert.throws(
    () => createBackbone('resnet50', 10, { bottleneckStride: '5x5' as '1x1' }),
    /bottleneckStride must be '3x3' \(torchvision's ResNet v1.5\) or '1x1' \(the original ResNet v1\), got "5x5"/,
  );
});

test("ResNet pools before its stem's ReLU: torchvision's values and gradients, bit for bit", () => {
  manualSeed(5);
  const model = createBackbone('resnet18', 10) as ResNet;
  model.loadStateDict(deterministicState(model));
  tidy(() => {
    // From BatchNorm's output on: about half of it negative, so some 3x3 windows have no positive value.
    const stage1 = (stem: Layer[]): [number[], number[]] => {
      const normalized = randn([2, 64, 32, 32], { generator: new Generator(9) }).requiresGrad_();
      const out = model.layer1.forward(runChain(stem, normalized.mul(1))); // the in-place ReLU needs a non-leaf
      // Weights that differ per element, so that a gradient routed to the wrong position would show.
      out.mul(arange(out.numel).reshape(out.shape).mul(1e-3).sin()).sum().backward();
      return [Array.from(out.data() as Float32Array), Array.from(normalized.grad!.data() as Float32Array)];
    };
    const [expectedOut, expectedGrad] = stage1([model.relu, model.maxpool]);
    const [out, grad] = stage1([model.maxpool, model.relu]);
    assert.ok(
      expectedGrad.some((g) => g !== 0) && expectedGrad.some((g) => g === 0),
      'some positions pass a gradient and some do not',
    );
    assert.deepEqual(out, expectedOut);
    assert.deepEqual(grad, expectedGrad);
    // The model's own stage 1 is torchvision's.
    const x = randn([2, 3, 64, 64]);
    assert.deepEqual(
      Array.from(model.stages(x)[0].data() as Float32Array),
      Array.from(
        model.layer1.forward(runChain([model.conv1, model.bn1, model.relu, model.maxpool], x)).data() as Float32Array,
      ),
    );
  });
  model.dispose();
});
