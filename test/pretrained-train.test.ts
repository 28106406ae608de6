// `dsdnet train --pretrained` end to end through the CLI, for every kind of source: a torch.save .pth (written by
// test/support/torch-save.ts as a training checkpoint: {'state_dict': ...} with DataParallel's 'module.' prefix), a
// safetensors file, and what `dsdnet weights import` makes of the .pth. With every learning rate 0 the run's saved
// backbone is the source's, bit for bit (the classifier aside, and BatchNorm's running statistics, which training
// updates). Bad sources fail before the run folder is made; `dsdnet weights inspect|import` name the right backbone.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { readSafetensors, writeSafetensors } from '../src/io/index.js';
import { createBackbone } from '../src/models/index.js';
import { Conv2d } from '../src/nn/index.js';
import { readPretrained } from '../src/weights/index.js';
import { manualSeed, noGrad, rand, type Tensor, tidy } from '../src/torch/index.js';
import { makeDataset } from './support/images.js';
import { writeNpy } from './support/npy.js';
import { writeTorchSave } from './support/torch-save.js';

const cli = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const malicious = fileURLToPath(new URL('../../test/fixtures/pth/malicious.pt', import.meta.url));

const dsdnet = (...args: string[]): { status: number | null; stdout: string; stderr: string } =>
  spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });

/** BatchNorm's default momentum: each training step moves a running statistic 10% of the way to the batch's. */
const MOMENTUM = 0.1;
const SOURCE_BATCHES_TRACKED = 12345;

let work: string;
let dataset: string;
let preset: string;
/** The source's tensors under torchvision's names (a seeded 1000-class ResNet-18 with distinctive BatchNorm statistics). */
let source: Map<string, Tensor>;
let pth: string;

test.before(async () => {
  work = mkdtempSync(join(tmpdir(), 'dsdnet-pretrained-train-'));
  dataset = await makeDataset(8, [40, 40]); // --ratio 0.5: 12 training images, 3 steps of 4
  // Every learning rate 0 (warm-up start and cosine floor included), so that training leaves the weights as loaded.
  preset = join(work, 'frozen.json');
  writeFileSync(
    preset,
    JSON.stringify({
      backbone: 'resnet18',
      method: 'plain',
      size: 32,
      batchSize: 4,
      epochs: 1,
      optimizer: 'rmsprop',
      lr: 0,
      headLrMultiplier: 10,
      weightDecay: 0,
      warmupEpochs: 0,
      warmupStartLr: 0,
      cycles: 1,
      minLr: 0,
      augment: 'none',
    }),
  );

  manualSeed(1234);
  const model = createBackbone('resnet18', 1000);
  source = model.stateDict();
  noGrad(() => {
    for (const [key, t] of source) {
      if (key.endsWith('running_var')) tidy(() => t.copy_(rand(t.shape).mul(10).add(50))); // far from a fresh 1
      if (key.endsWith('num_batches_tracked')) t.fill_(SOURCE_BATCHES_TRACKED);
    }
  });
  pth = join(work, 'resnet18-checkpoint.pth');
  writeTorchSave(pth, source, { wrap: 'state_dict', prefix: 'module.', extra: { epoch: 90, arch: 'resnet18' } });
});

/** Arguments of a one-epoch run at 32 px with every learning rate 0. */
const trainArgs = (pretrained: string, out: string): string[] => [
  'train',
  dataset,
  '--preset',
  preset,
  '--backbone',
  'resnet18',
  '--method',
  'plain',
  '--size',
  '32',
  '--epochs',
  '1',
  '--batch-size',
  '4',
  '--lr',
  '0',
  '--ratio',
  '0.5',
  '--seed',
  '0',
  '--quiet',
  '--pretrained',
  pretrained,
  '--out',
  out,
];

const same = (a: Tensor, b: Tensor): boolean =>
  a.dtype === b.dtype && a.shape.join() === b.shape.join() && a.allclose(b, 0, 0);

test('weights inspect says the .pth fits resnet18; import with the wrong backbone names the right one', () => {
  const inspect = dsdnet('weights', 'inspect', pth);
  assert.equal(inspect.status, 0, inspect.stderr);
  assert.match(inspect.stdout, new RegExp(`^${pth.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: pytorch, 122 tensors`));
  assert.match(inspect.stdout, /^ {2}state_dict\.module\.conv1\.weight {2}\[64, 3, 7, 7\] {2}float32$/m);
  assert.match(inspect.stdout, /^ {2}state_dict\.module\.bn1\.num_batches_tracked {2}\[\] {2}int64$/m);
  assert.match(inspect.stdout, /^ {2}epoch = 90$/m);
  assert.match(
    inspect.stdout,
    /^ {2}resnet18: fits \(122 keys under 'state_dict'; classifier for 1000 classes, replaced for the dataset's classes\)$/m,
  );
  for (const other of ['resnet34', 'resnet50', 'mobilenet_v2'])
    assert.match(inspect.stdout, new RegExp(`^  ${other}: does not fit`, 'm'));

  const wrongOut = join(work, 'wrong.safetensors');
  const wrong = dsdnet('weights', 'import', pth, '--backbone', 'mobilenet_v2', '-o', wrongOut);
  assert.equal(wrong.status, 1);
  assert.match(
    wrong.stderr,
    /resnet18-checkpoint\.pth: these are resnet18 weights, not mobilenet_v2; choose --backbone resnet18/,
  );
  assert.equal(existsSync(wrongOut), false, 'nothing written');
});

test('train --pretrained from a .pth, a safetensors file and an imported file starts from the source weights', () => {
  const safetensors = join(work, 'resnet18.safetensors');
  writeSafetensors(safetensors, source);
  const imported = join(work, 'imported.safetensors');
  const importRun = dsdnet('weights', 'import', pth, '--backbone', 'resnet18', '-o', imported);
  assert.equal(importRun.status, 0, importRun.stderr);
  assert.match(
    importRun.stdout,
    /imported\.safetensors: 120 tensors of resnet18 from .*resnet18-checkpoint\.pth \(pytorch, torchvision names\); left out: state_dict\.module\.fc\.weight, state_dict\.module\.fc\.bias/,
  );

  // What a run without --pretrained starts from: the trainer seeds, then builds the backbone.
  manualSeed(0);
  const randomInit = createBackbone('resnet18', 3);
  assert.ok(!same(randomInit.stateDict().get('conv1.weight')!, source.get('conv1.weight')!));

  const cases = [
    {
      name: 'pth',
      file: pth,
      kind: 'pytorch',
      entry: 'state_dict',
      replaced: ['state_dict.module.fc.weight', 'state_dict.module.fc.bias'],
    },
    { name: 'safetensors', file: safetensors, kind: 'safetensors', entry: null, replaced: ['fc.weight', 'fc.bias'] },
    { name: 'imported', file: imported, kind: 'safetensors', entry: null, replaced: [] },
  ];
  for (const c of cases) {
    const out = join(work, `run-${c.name}`);
    const run = dsdnet(...trainArgs(c.file, out));
    assert.equal(run.status, 0, `${c.name}: ${run.stderr}`);
    assert.match(run.stdout, /final: OA \d+\.\d+%/);
    const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
    assert.deepEqual(
      report.pretrained,
      { source: c.file, kind: c.kind, layout: 'torchvision', entry: c.entry, replaced: c.replaced },
      c.name,
    );
    assert.equal(JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')).pretrained, c.file);

    const latest = join(out, 'checkpoints', 'latest');
    const steps = JSON.parse(readFileSync(join(latest, 'checkpoint.json'), 'utf8')).iteration as number;
    assert.equal(steps, 3);
    const { tensors: saved } = readSafetensors(join(latest, 'model.safetensors'));
    assert.deepEqual([...saved.keys()].sort(), [...randomInit.stateDict().keys()].sort());
    assert.deepEqual(saved.get('fc.weight')!.shape, [3, 512], 'the classifier is made for the dataset');
    assert.ok(
      same(saved.get('fc.weight')!, randomInit.stateDict().get('fc.weight')!),
      'the classifier keeps its fresh initialisation',
    );
    for (const [key, expected] of source) {
      const got = saved.get(key)!;
      if (key.startsWith('fc.') || key.endsWith('running_mean')) continue;
      if (key.endsWith('num_batches_tracked')) {
        assert.equal(got.item(), SOURCE_BATCHES_TRACKED + steps, `${c.name}: ${key} continues from the source's count`);
      } else if (key.endsWith('running_var')) {
        // (1 - m)^steps of the source's variance plus batch variances (>= 0): far above a fresh 1.
        const floor = tidy(() =>
          got
            .sub(expected.mul((1 - MOMENTUM) ** steps))
            .min()
            .item(),
        );
        assert.ok(floor > -1e-3, `${c.name}: ${key} starts from the source's statistics (${floor})`);
      } else {
        assert.ok(same(got, expected), `${c.name}: ${key} is the source's`);
        if (key === 'conv1.weight')
          assert.ok(!same(got, randomInit.stateDict().get(key)!), `${c.name}: not the random initialisation`);
      }
    }
    for (const t of saved.values()) t.dispose();
  }
  randomInit.dispose();
});

test('train --pretrained from an earlier run folder starts from its latest model', () => {
  const earlier = join(work, 'run-pth'); // made by the test above
  const out = join(work, 'run-from-run');
  const run = dsdnet(...trainArgs(earlier, out));
  assert.equal(run.status, 0, run.stderr);
  const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
  assert.match(report.pretrained.source, /run-pth\/checkpoints\/latest\/model\.safetensors$/);
  const { tensors: before } = readSafetensors(join(earlier, 'checkpoints', 'latest', 'model.safetensors'));
  const { tensors: after } = readSafetensors(join(out, 'checkpoints', 'latest', 'model.safetensors'));
  assert.ok(same(after.get('layer4.1.conv2.weight')!, before.get('layer4.1.conv2.weight')!));
});

test('a run killed before its first checkpoint resumes from its pretrained weights, not from random ones', () => {
  // What a kill during decoding leaves: config.json and split.json, no checkpoint.
  const earlier = join(work, 'run-pth'); // made by the first test
  const out = join(work, 'run-killed-early');
  mkdirSync(out);
  for (const file of ['config.json', 'split.json']) writeFileSync(join(out, file), readFileSync(join(earlier, file)));
  const run = dsdnet('train', '--resume', '--out', out, '--quiet');
  assert.equal(run.status, 0, run.stderr);
  assert.equal(JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')).pretrained.source, pth);
  const { tensors: saved } = readSafetensors(join(out, 'checkpoints', 'latest', 'model.safetensors'));
  assert.ok(same(saved.get('conv1.weight')!, source.get('conv1.weight')!), 'starts from the source weights');
});

test('train --pretrained from a folder of folded .npy convolutions unfolds BatchNorm and calibrates it on training batches', () => {
  // A MobileNetV2 in the ONNX Model Zoo's layout: conv_N_weight.npy / conv_N_bias.npy in network order (N with gaps).
  manualSeed(7);
  const model = createBackbone('mobilenet_v2', 1000);
  const folder = join(work, 'folded');
  mkdirSync(folder);
  const convs = model.namedModules().flatMap(([, m]) => (m instanceof Conv2d ? [m] : []));
  convs.forEach((conv, i) => {
    writeNpy(join(folder, `conv_${2 * i}_weight.npy`), conv.weight);
    tidy(() => writeNpy(join(folder, `conv_${2 * i}_bias.npy`), rand([conv.weight.shape[0]]).sub(0.5)));
  });
  const out = join(work, 'run-folded');
  const args = trainArgs(folder, out);
  args[args.indexOf('resnet18')] = 'mobilenet_v2';
  const run = dsdnet(...args);
  assert.equal(run.status, 0, run.stderr);
  const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
  assert.equal(report.pretrained.layout, 'npy-folded');
  assert.equal(report.pretrained.batchNormCalibratedOn, 12, 'calibrated on the 3 training batches of 4');
  assert.match(
    readFileSync(join(out, 'report.md'), 'utf8'),
    /Initialisation: .*folded \(npy-folded, npy-folded names, BatchNorm calibrated on 12 training images\)/,
  );
  const { tensors: saved } = readSafetensors(join(out, 'checkpoints', 'latest', 'model.safetensors'));
  assert.ok(same(saved.get('features.0.0.weight')!, convs[0].weight), "the convolutions are the source's");
  assert.ok(same(saved.get('features.18.0.weight')!, convs[51].weight));
  // Calibration rescales BatchNorm's weight from the identity's 1 to the measured standard deviation.
  assert.ok(tidy(() => saved.get('features.0.1.weight')!.sub(1).abs().max().item()) > 0.01, 'BatchNorm was calibrated');
  for (const t of saved.values()) t.dispose();

  // Imported to safetensors, the folded origin travels in the metadata: training from that file calibrates too.
  const imported = join(work, 'folded.safetensors');
  const importRun = dsdnet('weights', 'import', folder, '--backbone', 'mobilenet_v2', '-o', imported);
  assert.equal(importRun.status, 0, importRun.stderr);
  assert.match(
    importRun.stdout,
    /312 tensors of mobilenet_v2 .*\(npy-folded, npy-folded names\); BatchNorm is folded: training calibrates it/,
  );
  const target = createBackbone('mobilenet_v2', 3);
  const again = readPretrained(imported, target, 'mobilenet_v2');
  assert.equal(again.foldedBatchNorm, true);
  assert.ok(same(again.state.get('features.0.0.weight')!, convs[0].weight));
  target.dispose();
  model.dispose();
});

test('bad pretrained sources fail with a clear error and leave no run folder', () => {
  manualSeed(5);
  const mobilenet = createBackbone('mobilenet_v2', 1000);
  const mobilenetFile = join(work, 'mobilenet_v2.pth');
  writeTorchSave(mobilenetFile, mobilenet.stateDict());
  mobilenet.dispose();
  const bytes = readFileSync(pth);
  const truncated = join(work, 'truncated.pth');
  writeFileSync(truncated, bytes.subarray(0, Math.floor(bytes.length / 2)));
  const noWeights = join(work, 'no-weights');
  mkdirSync(noWeights);
  writeFileSync(join(noWeights, 'README.txt'), 'not weights');

  const cases: [string, string, RegExp][] = [
    [
      'another architecture',
      mobilenetFile,
      /mobilenet_v2\.pth: these are mobilenet_v2 weights, not resnet18; choose --backbone mobilenet_v2/,
    ],
    ['a truncated .pth', truncated, /truncated\.pth: not a readable zip archive: truncated or damaged/],
    ['a malicious pickle', malicious, /malicious\.pt: .*refuses the global 'posix\.system'/],
    [
      'a missing path',
      join(work, 'absent.pth'),
      /pretrained must be 'imagenet' or an existing file or folder, got ".*absent\.pth"/,
    ],
    [
      'a folder without weights',
      noWeights,
      /no-weights: a folder of weights must be a dsdnet run or checkpoint \(model\.safetensors\) or hold the ONNX Model Zoo's conv_N_weight\.npy/,
    ],
  ];
  for (const [what, file, message] of cases) {
    const out = join(work, 'failed', what.replace(/ /g, '-'));
    const run = dsdnet(...trainArgs(file, out));
    assert.equal(run.status, 1, `${what}: ${run.stdout}`);
    assert.match(run.stderr, /^dsdnet: /, what);
    assert.match(run.stderr, message, what);
    assert.equal(existsSync(out), false, `${what}: no run folder`);
  }
  assert.equal(existsSync(join(work, 'failed')), false);
});
