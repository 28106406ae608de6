// Where does a trainer step's time go? The trainer's plain step on UC Merced (cpu preset), split into phases, next
// to a bare step (forward, loss, backward, optimizer) on one fixed batch in the same process.
// Usage: node dist/bench/trainer-phases.js [DATASET_DIR] [--steps 40] [--method plain]
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { BatchLoader, loadDecoded, makeSplit, RECIPE_AUGMENT, scanDataset } from '../src/data/index.js';
import { type MethodName, SelfDistillationNet } from '../src/dsd/index.js';
import { createBackbone } from '../src/models/index.js';
import { RMSprop } from '../src/optim/index.js';
import { keep, manualSeed, noGrad, tidy } from '../src/torch/index.js';
import { decodeSize, readPreset, resolveConfig } from '../src/train/index.js';
import { median } from './compare.js';

const { values, positionals } = parseArgs({ allowPositionals: true, options: { steps: { type: 'string', default: '40' }, method: { type: 'string', default: 'plain' } } });
const root = positionals[0] ?? fileURLToPath(new URL('../../../shared/datasets/ucmerced', import.meta.url));
const config = resolveConfig(root, readPreset('cpu'), { method: values.method as MethodName });
const dataset = await scanDataset(root);
const split = makeSplit(dataset, { ratio: 0.8, seed: 0 });
const images = await loadDecoded(dataset, { size: decodeSize(config), progress: false });
const position = new Map(images.paths.map((p, i) => [p, i]));
const loader = new BatchLoader(images, split.train.map((e) => position.get(e.path)!), { batchSize: 32, shuffle: true, seed: 0, dropLast: true, augment: RECIPE_AUGMENT, outputSize: config.size });
manualSeed(0);
const net = new SelfDistillationNet(createBackbone('resnet18', dataset.classes.length), config.method, config.methodOptions);
const heads = new Set(net.headParameters());
const optimizer = new RMSprop([{ params: net.parameters().filter((p) => !heads.has(p)) }, { params: [...heads], lr: 1e-3 }], { lr: 1e-4, weightDecay: 1e-5, alpha: 0.99, eps: 1e-8 });
net.train();

const phases = new Map<string, number[]>();
let mark = 0;
const lap = (name: string): void => {
  const now = performance.now();
  if (!phases.has(name)) phases.set(name, []);
  phases.get(name)!.push(now - mark);
  mark = now;
};
const order = loader.order(0);
const fixed = loader.batch(order, 0, 0);
keep(fixed.input);
keep(fixed.labels);
const steps = Number(values.steps);
const warmup = 3;
for (let i = 0; i < warmup + steps; i++) {
  const record = i >= warmup;
  // Trainer step, as in src/train/trainer.ts.
  const start = performance.now();
  mark = start;
  tidy(() => {
    const batch = loader.batch(order, 0, 1 + (i % (loader.numBatches - 1)));
    lap('batch');
    const result = net.lossOf(batch.input, batch.labels);
    lap('forward + loss');
    result.loss.item();
    result.loss.backward();
    lap('backward');
    optimizer.step();
    lap('optimizer step');
    optimizer.zeroGrad();
    lap('zero grad');
    noGrad(() => result.logits.argmax(1).eq(batch.labels).sum().item());
    lap('accuracy');
  });
  lap('scope exit');
  const trainerStep = performance.now() - start;
  await new Promise<void>((resolve) => setImmediate(resolve));
  // Bare step on the fixed batch.
  const bareStart = performance.now();
  tidy(() => {
    net.lossOf(fixed.input, fixed.labels).loss.backward();
    optimizer.step();
    optimizer.zeroGrad();
  });
  const bare = performance.now() - bareStart;
  if (!record) {
    phases.clear();
    continue;
  }
  for (const [name, ms] of [['trainer step', trainerStep], ['bare step', bare]] as const) {
    if (!phases.has(name)) phases.set(name, []);
    phases.get(name)!.push(ms);
  }
}
const mean = (v: number[]): number => v.reduce((a, b) => a + b, 0) / v.length;
console.log(`${values.method} trainer step phases over ${steps} steps (ms)\n| phase | mean | median |\n|---|---|---|`);
for (const [name, v] of phases) console.log(`| ${name} | ${mean(v).toFixed(1)} | ${median(v).toFixed(1)} |`);
