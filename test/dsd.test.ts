// DSDNet's pieces against the specification: schedule constants, the released distillation defect, detached
// teachers, the parameter budget, and an inference model that is exactly the plain backbone.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { NoiseSchedule, releasedDistill, SelfDistillationNet, softCrossEntropy } from '../src/dsd/index.js';
import { createBackbone } from '../src/models/index.js';
import { F, manualSeed, randint, randn, tidy } from '../src/torch/index.js';

test('noise schedule: alpha_bar at the DDIM timesteps (values from PyTorch, float64)', () => {
  const schedule = new NoiseSchedule();
  assert.deepEqual(schedule.timesteps, [400, 300, 200, 100, 0]);
  const pinned: Record<number, number> = {
    400: 0.19357200966664667,
    300: 0.39401112252338205,
    200: 0.6563470055193468,
    100: 0.8951415908975365,
    0: 0.9999,
  };
  for (const [t, value] of Object.entries(pinned))
    assert.ok(Math.abs(schedule.alphaBarAt(Number(t)) - value) < 1e-12, `alpha_bar(${t})`);
  assert.equal(schedule.alphaBarAt(-100), 1);
  assert.deepEqual(
    new NoiseSchedule({ trainSteps: 1000, betaStart: 1e-4, betaEnd: 0.02, gridSteps: 10, usedSteps: 3 }).timesteps,
    [200, 100, 0],
  );
  assert.throws(
    () => new NoiseSchedule({ trainSteps: 1000, betaStart: 1e-4, betaEnd: 0.02, gridSteps: 10, usedSteps: 11 }),
    /usedSteps must be in 1\.\.10/,
  );
});

test("'released' distillation equals cross-entropy to the uniform distribution and ignores the teacher", () => {
  manualSeed(0);
  const output = randn([6, 5]).requiresGrad_();
  const uniformCe = F.logSoftmax(output, 1).mean(1).mean().neg();
  const teacherA = randn([6, 5]).requiresGrad_();
  const a = releasedDistill(output, teacherA);
  assert.ok(Math.abs(a.item() - uniformCe.item()) < 1e-6);
  assert.ok(Math.abs(releasedDistill(output, randn([6, 5]).mul(10)).item() - a.item()) < 1e-6);
  a.backward();
  assert.ok(teacherA.grad === null || teacherA.grad.abs().max().item() < 1e-7, 'no gradient reaches the teacher');
  assert.ok(
    Math.abs(softCrossEntropy(output, teacherA).item() - a.item()) > 1e-3,
    'soft-ce does depend on the teacher',
  );
});

// Data-parallel training's reducer (find_unused_parameters off) relies on it: an unreached parameter would fail the step after.
test('every parameter of every method variant gets a gradient from the loss', () => {
  const variants: [
    string,
    ConstructorParameters<typeof SelfDistillationNet>[1],
    ConstructorParameters<typeof SelfDistillationNet>[2],
  ][] = [
    ['plain', 'plain', {}],
    ['sd', 'sd', {}],
    ['dsd', 'dsd', {}],
    ['dsd released', 'dsd', { distill: 'released' }],
    ['dsd without entropy', 'dsd', { entropyWeight: 0 }],
    ['dsd student condition', 'dsd', { condition: 'student' }],
  ];
  for (const [label, method, options] of variants) {
    tidy(() => {
      manualSeed(3);
      const net = new SelfDistillationNet(createBackbone('mobilenet_v2', 5), method, options);
      net.lossOf(randn([4, 3, 32, 32]), randint(0, 5, [4])).loss.backward();
      const missing = net
        .namedParameters()
        .filter(([, p]) => p.grad === null)
        .map(([name]) => name);
      assert.deepEqual(missing, [], `${label}: parameters without a gradient`);
      net.dispose();
    });
  }
});

test('teachers are detached: the main head is trained by its cross-entropy and entropy terms only', () => {
  tidy(() => {
    manualSeed(1);
    const net = new SelfDistillationNet(createBackbone('resnet18', 7), 'dsd');
    const images = randn([4, 3, 32, 32]);
    const labels = randint(0, 7, [4]);
    manualSeed(2);
    net.lossOf(images, labels).loss.backward();
    const fromFull = net.backbone.classifierParameters().map((p) => p.grad!.clone());
    net.zeroGrad();
    manualSeed(2);
    const stages = net.backbone.stages(images);
    const z4 = net.backbone.classify(stages[3]);
    const entropy = F.softmax(z4, 1).mul(F.logSoftmax(z4, 1)).sum(1).mean().neg();
    F.crossEntropy(z4, labels).sub(entropy.mul(0.5)).backward();
    net.backbone
      .classifierParameters()
      .forEach((p, i) => assert.ok(p.grad!.allclose(fromFull[i], 1e-4, 1e-6), `main head parameter ${i}`));
    net.dispose();
  });
});

test('every method trains end to end; the deployed model is the plain backbone', () => {
  const plainKeys = [...createBackbone('resnet18', 5).stateDict().keys()];
  for (const method of ['plain', 'sd', 'dsd'] as const) {
    tidy(() => {
      manualSeed(3);
      const net = new SelfDistillationNet(createBackbone('resnet18', 5), method, {
        distill: 'released',
        condition: 'student',
        ddimSteps: 2,
      });
      const { loss, logits, terms: parts } = net.lossOf(randn([3, 3, 32, 32]), randint(0, 5, [3]));
      loss.backward();
      assert.deepEqual(logits.shape, [3, 5]);
      assert.ok(Number.isFinite(loss.item()), method);
      assert.deepEqual(
        Object.keys(parts).sort(),
        method === 'plain'
          ? ['ce']
          : method === 'sd'
            ? ['ce', 'distill', 'entropy']
            : ['ce', 'diffusion', 'distill', 'entropy'],
      );
      assert.deepEqual([...net.backbone.stateDict().keys()], plainKeys, `${method}: deployable state dict`);
      assert.equal(net.backbone.numParameters(), createBackbone('resnet18', 5).numParameters());
      net.dispose();
    });
  }
});

test('training-only parameters follow the specification (K = 45, ResNet-50: about 0.8 M extra in the modules)', () => {
  const k = 45;
  const net = new SelfDistillationNet(createBackbone('resnet50', k), 'dsd');
  const epsLinear = net.diffusion[0].epsNet.layers
    .namedParameters()
    .filter(([n]) => n.endsWith('weight') && !/^[146]\./.test(n));
  assert.equal(
    epsLinear.reduce((s, [, p]) => s + p.numel, 0),
    56 * k * k,
    'eps-net Linear weights: 56 K^2',
  );
  assert.equal(net.diffusion[0].epsNet.timeEmbedding.weight.numel, 1280 * 2 * k);
  const modules = net.diffusion.reduce((s, m) => s + m.numParameters(), 0);
  assert.ok(modules > 0.7e6 && modules < 0.9e6, `${modules} parameters in the three diffusion modules`);
  net.dispose();
});
