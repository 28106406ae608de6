// Does preparing augmented batches in a worker thread, ahead of the training step, help? ResNet-18 training steps
// at 128 px, batch 32, on UC Merced with the recipe's augmentation: batches built inline vs in a worker thread one
// step ahead, alternating. Usage: node dist/bench/prefetch.js [DATASET_DIR] [--rounds 3]
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { BatchLoader, loadDecoded, RECIPE_AUGMENT, scanDataset } from '../src/data/index.js';
import { createBackbone } from '../src/models/index.js';
import { SGD } from '../src/optim/index.js';
import { configureEngine, F, fromTypedArray, getNumThreads, type Tensor, tensor, tidy } from '../src/torch/index.js';
import { median } from './compare.js';

configureEngine({ retainFreedMemory: true }); // the allocation policy of the training commands

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { rounds: { type: 'string', default: '3' } },
});
const root = positionals[0] ?? fileURLToPath(new URL('../../../shared/datasets/ucmerced', import.meta.url));
const images = await loadDecoded(await scanDataset(root), { size: 128 });
const model = createBackbone('resnet18', images.labels.reduce((a, b) => Math.max(a, b), 0) + 1);
const optimizer = new SGD(model.parameters(), { lr: 0.01, momentum: 0.9 });
const step = (input: Tensor, labels: Tensor): void =>
  tidy(() => {
    F.crossEntropy(model.forward(input), labels).backward();
    optimizer.step();
    optimizer.zeroGrad();
  });
const STEPS = 12;
const WARMUP = 2;

function inline(): number {
  const loader = new BatchLoader(
    images,
    images.paths.map((_, i) => i),
    { batchSize: 32, shuffle: true, seed: 0, dropLast: true, augment: RECIPE_AUGMENT },
  );
  const order = loader.order(0);
  const times: number[] = [];
  for (let b = 0; b < STEPS; b++) {
    const start = performance.now();
    tidy(() => {
      const batch = loader.batch(order, 0, b);
      step(batch.input, batch.labels);
    });
    if (b >= WARMUP) times.push(performance.now() - start);
  }
  return median(times);
}

async function prefetched(): Promise<number> {
  const pixels = images.read(images.paths.map((_, i) => i));
  const shared = new SharedArrayBuffer(pixels.length);
  new Uint8Array(shared).set(pixels);
  const worker = new Worker(fileURLToPath(new URL('./prefetch-worker.js', import.meta.url)), {
    workerData: { pixels: shared, paths: images.paths, labels: Array.from(images.labels), size: images.size },
  });
  const queue: { input: Float32Array; labels: number[] }[] = [];
  let waiting: (() => void) | null = null;
  worker.on('message', (m: { input: Float32Array; labels: number[] }) => {
    queue.push(m);
    waiting?.();
  });
  const next = async (): Promise<{ input: Float32Array; labels: number[] }> => {
    while (queue.length === 0) await new Promise<void>((resolve) => (waiting = resolve));
    return queue.shift()!;
  };
  worker.postMessage(0);
  const times: number[] = [];
  for (let b = 0; b < STEPS; b++) {
    const start = performance.now();
    const m = await next();
    if (b + 1 < STEPS) worker.postMessage(b + 1); // the worker builds the next batch during this step
    tidy(() => step(fromTypedArray(m.input, [32, 3, 128, 128]), tensor(m.labels, { dtype: 'int64' })));
    if (b >= WARMUP) times.push(performance.now() - start);
  }
  await worker.terminate();
  return median(times);
}

const results = { inline: [] as number[], worker: [] as number[] };
for (let round = 0; round < Number(values.rounds); round++) {
  results.inline.push(inline());
  results.worker.push(await prefetched());
}
console.log(
  `ResNet-18 training step, 128 px, batch 32, recipe augmentation, ${getNumThreads()} threads (median ms per step over rounds)`,
);
console.log(
  `batches built inline:           ${median(results.inline).toFixed(0)} ms  (${results.inline.map((t) => t.toFixed(0)).join(', ')})`,
);
console.log(
  `batches built in a worker ahead: ${median(results.worker).toFixed(0)} ms  (${results.worker.map((t) => t.toFixed(0)).join(', ')})`,
);
