// Where does a trainer step's time go, and what do the data pipeline and the method add? In one process, step by
// step in turn (so that the VM's drifting speed hits every side alike): each method's trainer step on UC Merced
// (a preset's backbone, size, precision and layout: a fresh augmented batch, the method's loss, RMSprop with its
// parameter groups), split into phases, and the bare step of the engine benchmark (the plain backbone,
// cross-entropy, the same RMSprop) on one fixed batch.
// Usage: node dist/bench/trainer-phases.js [DATASET_DIR] [--steps 40] [--methods plain,dsd] [--preset cpu]
//        [--precision fp32|bf16|auto] [--no-channels-last]
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { BatchLoader, loadDecoded, makeSplit, RECIPE_AUGMENT, scanDataset } from '../src/data/index.js';
import { METHODS, type MethodName, SelfDistillationNet } from '../src/dsd/index.js';
import { createBackbone } from '../src/models/index.js';
import { RMSprop } from '../src/optim/index.js';
import {
  configureEngine,
  F,
  getNumThreads,
  keep,
  manualSeed,
  noGrad,
  tidy,
  withPrecision,
} from '../src/torch/index.js';
import { type PrecisionSetting, readPreset, resolveConfig } from '../src/train/index.js';
import { decodeSize } from '../src/trained/index.js';
import { makeOptimizer } from '../src/train/optimizer.js';
import { median } from './compare.js';

configureEngine({ retainFreedMemory: true }); // the allocation policy of the training commands

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    steps: { type: 'string', default: '40' },
    methods: { type: 'string', default: 'plain,dsd' },
    preset: { type: 'string', default: 'cpu' },
    precision: { type: 'string' },
    'no-channels-last': { type: 'boolean', default: false },
  },
});
const methods = values.methods!.split(',') as MethodName[];
for (const m of methods)
  if (!(METHODS as readonly string[]).includes(m))
    throw new Error(`--methods: '${m}' is not one of ${METHODS.join(', ')}`);
const root = positionals[0] ?? fileURLToPath(new URL('../../../shared/datasets/ucmerced', import.meta.url));
const config = resolveConfig(root, readPreset(values.preset!), {
  ...(values.precision === undefined ? {} : { precision: values.precision as PrecisionSetting }),
  ...(values['no-channels-last'] ? { channelsLast: false } : {}),
});
const layout = config.channelsLast ? 'channelsLast' : 'contiguous';
const dataset = await scanDataset(root);
const split = makeSplit(dataset, { ratio: 0.8, seed: 0 });
const images = await loadDecoded(dataset, { size: decodeSize(config), progress: false });
const position = new Map(images.paths.map((p, i) => [p, i]));
const loader = new BatchLoader(
  images,
  split.train.map((e) => position.get(e.path)!),
  {
    batchSize: config.batchSize,
    shuffle: true,
    seed: 0,
    dropLast: true,
    augment: RECIPE_AUGMENT,
    outputSize: config.size,
  },
);

manualSeed(0);
const bareModel = createBackbone(config.backbone, dataset.classes.length).toMemoryFormat(layout);
const bareOptimizer = new RMSprop(bareModel.parameters(), {
  lr: config.lr,
  weightDecay: config.weightDecay,
  alpha: 0.99,
  eps: 1e-8,
});
const trainers = methods.map((method) => {
  const net = new SelfDistillationNet(
    createBackbone(config.backbone, dataset.classes.length),
    method,
    config.methodOptions,
  ).toMemoryFormat(layout);
  return { method, net: net.train(), optimizer: makeOptimizer(config, net) };
});

const times = new Map<string, number[]>();
function record(name: string, ms: number): void {
  if (!times.has(name)) times.set(name, []);
  times.get(name)!.push(ms);
}
const order = loader.order(0);
const fixed = loader.batch(order, 0, 0);
keep(fixed.input);
keep(fixed.labels);
const steps = Number(values.steps);
const warmup = 3;
for (let i = 0; i < warmup + steps; i++) {
  const laps: [string, number][] = [];
  let mark = performance.now();
  const lap = (name: string): void => {
    const now = performance.now();
    laps.push([name, now - mark]);
    mark = now;
  };
  for (const { method, net, optimizer } of trainers) {
    // As in src/train/trainer.ts.
    const start = performance.now();
    mark = start;
    tidy(() => {
      const batch = loader.batch(order, 0, 1 + (i % (loader.numBatches - 1)));
      lap(`${method}: batch`);
      const result = net.lossOf(batch.input, batch.labels, config.precision);
      result.loss.item();
      lap(`${method}: forward + loss`);
      result.loss.backward();
      lap(`${method}: backward`);
      optimizer.step();
      optimizer.zeroGrad();
      noGrad(() => result.logits.argmax(1).eq(batch.labels).sum().item());
      lap(`${method}: optimizer, accuracy`);
    });
    laps.push([`${method}: trainer step`, performance.now() - start]);
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  const start = performance.now();
  tidy(() => {
    F.crossEntropy(
      withPrecision(config.precision, () => bareModel.forward(fixed.input)).float(),
      fixed.labels,
    ).backward();
    bareOptimizer.step();
    bareOptimizer.zeroGrad();
  });
  laps.push(['bare step', performance.now() - start]);
  if (i >= warmup) for (const [name, ms] of laps) record(name, ms);
}
const mean = (v: number[]): number => v.reduce((a, b) => a + b, 0) / v.length;
const bare = mean(times.get('bare step')!);
console.log(
  `trainer steps (${values.preset} preset: ${config.backbone}, ${config.size} px, batch ${config.batchSize}, RMSprop, ${config.precision}, ${layout}) and the bare step, in turn, ${steps} steps each, ${getNumThreads()} threads (ms)`,
);
console.log('| phase | mean | median | mean vs bare step |\n|---|---|---|---|');
for (const [name, v] of times)
  console.log(
    `| ${name} | ${mean(v).toFixed(1)} | ${median(v).toFixed(1)} | ${name.endsWith('step') ? `${(mean(v) / bare).toFixed(3)}x` : ''} |`,
  );
