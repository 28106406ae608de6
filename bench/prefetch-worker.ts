// Worker thread of bench/prefetch.ts: builds augmented batches on request and transfers them to the main thread.
import { parentPort, workerData } from 'node:worker_threads';

import { BatchLoader, InMemoryImages, RECIPE_AUGMENT } from '../src/data/index.js';
import { tidy } from '../src/torch/index.js';

const data = workerData as { pixels: SharedArrayBuffer; paths: string[]; labels: number[]; size: number };
const images = new InMemoryImages(
  data.paths,
  Int32Array.from(data.labels),
  data.size,
  'cover',
  new Uint8Array(data.pixels),
);
const loader = new BatchLoader(
  images,
  data.paths.map((_, i) => i),
  { batchSize: 32, shuffle: true, seed: 0, dropLast: true, augment: RECIPE_AUGMENT },
);
const order = loader.order(0);
parentPort!.on('message', (b: number) => {
  const out = tidy(() => {
    const batch = loader.batch(order, 0, b);
    return {
      input: batch.input.data() as Float32Array,
      labels: Array.from(batch.labels.data() as BigInt64Array, Number),
    };
  });
  parentPort!.postMessage(out, [out.input.buffer as ArrayBuffer]);
});
