// Data benchmark on UC Merced (../shared/datasets/ucmerced, or the folder given): scan, first decode at 128 and
// 224 px into a fresh cache, cached reload, and loader throughput with the recipe's full augmentation at 128 px,
// batch 32, next to ResNet-18's training throughput at the same size and batch.
// Usage: node dist/bench/data.js [DATASET_DIR]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

import { BatchLoader, loadDecoded, RECIPE_AUGMENT, scanDataset } from '../src/data/index.js';
import { createBackbone } from '../src/models/index.js';
import { SGD } from '../src/optim/index.js';
import { configureEngine, F, getNumThreads, tidy } from '../src/torch/index.js';
import { DEFAULT_CONFIG } from '../src/train/index.js';
import { decodeSize } from '../src/trained/index.js';

configureEngine({ retainFreedMemory: true }); // the allocation policy of the training commands

const root = process.argv[2] ?? fileURLToPath(new URL('../../../shared/datasets/ucmerced', import.meta.url));
const seconds = (start: number): number => (performance.now() - start) / 1000;

let start = performance.now();
const dataset = await scanDataset(root);
console.log(
  `scan: ${dataset.items.length} images in ${dataset.classes.length} classes, ${seconds(start).toFixed(2)} s`,
);

const cacheDir = mkdtempSync(join(tmpdir(), 'dsdnet-bench-cache-'));
const rows: string[] = [];
for (const size of [128, 224]) {
  start = performance.now();
  await loadDecoded(dataset, { size, cacheDir, progress: false });
  rows.push(`| first decode at ${size} px | ${seconds(start).toFixed(2)} s | <= 15 s |`);
  start = performance.now();
  const again = await loadDecoded(dataset, { size, cacheDir, progress: false });
  if (!again.fromCache) throw new Error('the second load did not come from the cache');
  rows.push(`| cached reload at ${size} px | ${seconds(start).toFixed(2)} s | <= 2 s |`);
}

// As the trainer does: decoded at 128 / cropFraction, random 128 px windows.
const images = await loadDecoded(dataset, {
  size: decodeSize({ size: 128, cropFraction: DEFAULT_CONFIG.cropFraction }),
  cacheDir,
  progress: false,
});
const loader = new BatchLoader(
  images,
  images.paths.map((_, i) => i),
  { batchSize: 32, shuffle: true, seed: 0, dropLast: true, augment: RECIPE_AUGMENT, outputSize: 128 },
);
const order = loader.order(0);
for (let b = 0; b < 3; b++) tidy(() => void loader.batch(order, 0, b));
const batches = 30;
start = performance.now();
for (let b = 3; b < 3 + batches; b++) tidy(() => void loader.batch(order, 0, b));
const loaderRate = (batches * 32) / seconds(start);

const model = createBackbone('resnet18', dataset.classes.length);
const optimizer = new SGD(model.parameters(), { lr: 0.01, momentum: 0.9 });
const batch = loader.batch(order, 0, 0);
const step = (): void =>
  tidy(() => {
    F.crossEntropy(model.forward(batch.input), batch.labels).backward();
    optimizer.step();
    optimizer.zeroGrad();
  });
for (let i = 0; i < 3; i++) step();
const steps = 10;
start = performance.now();
for (let i = 0; i < steps; i++) step();
const trainRate = (steps * 32) / seconds(start);
rows.push(`| loader, full augmentation, 128 px, batch 32 | ${loaderRate.toFixed(0)} images/s | >= 5x training |`);
rows.push(`| ResNet-18 training, 128 px, batch 32 | ${trainRate.toFixed(0)} images/s | |`);
rows.push(`| loader / training | ${(loaderRate / trainRate).toFixed(1)}x | >= 5x |`);
rmSync(cacheDir, { recursive: true, force: true });
console.log(`UC Merced (${dataset.items.length} images), ${getNumThreads()} threads`);
console.log('| measure | value | target |\n|---|---|---|\n' + rows.join('\n'));
