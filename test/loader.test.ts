// Augmentation and the batch loader: each transform does what it says, everything is reproducible from the seed,
// and any batch of any epoch can be rebuilt.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import {
  type AugmentConfig,
  augmentBatch,
  BatchLoader,
  BatchQueue,
  evalBatch,
  IMAGENET_MEAN,
  IMAGENET_STD,
  loadDecoded,
  RECIPE_AUGMENT,
  Rng,
  scanDataset,
} from '../src/data/index.js';
import { equalize } from '../src/data/augment.js';
import { dispose, liveTensors, stack, tensor, tidy } from '../src/torch/index.js';
import { makeDataset } from './support/images.js';

test('equalize maps each image channel through its own cumulative histogram', () => {
  // Levels 0, 0, 128, 255: cdf (2, 3, 4) from the lowest level on, so (cdf - 2) / (4 - 1) -> 0, 0, 1/3, 2/3.
  const first = [
    [0, 0],
    [128 / 255, 1],
  ];
  const second = [
    [1, 1],
    [1, 0],
  ]; // levels 255 x 3 and 0: 0 stays 0, 255 -> (4 - 1) / 3 = 1
  const x = tensor(
    [
      [first, second, first],
      [second, first, second],
    ],
    { dtype: 'float32' },
  );
  const out = equalize(x).toArray() as number[][][][];
  const want = { first: [0, 0, 1 / 3, 2 / 3], second: [1, 1, 1, 0] };
  for (const [image, channels] of [
    [0, ['first', 'second', 'first']],
    [1, ['second', 'first', 'second']],
  ] as const) {
    channels.forEach((name, c) =>
      out[image][c]
        .flat()
        .forEach((v, i) => assert.ok(Math.abs(v - want[name][i]) < 1e-6, `image ${image} channel ${c}: ${v}`)),
    );
  }
});

const OFF: AugmentConfig = { crop: null, hflip: 0, vflip: 0, rot90: 0, randAugment: null, noise: null, erase: null };

function batchOf(count: number, size: number, seed: number): Uint8Array {
  const rng = new Rng(seed);
  return Uint8Array.from({ length: count * size * size * 3 }, () => rng.int(256));
}

test('the test-time transform normalises with ImageNet statistics', () => {
  const pixels = new Uint8Array(2 * 4 * 4 * 3).fill(255);
  const x = evalBatch(pixels, 2, 4);
  assert.deepEqual(x.shape, [2, 3, 4, 4]);
  [0, 1, 2].forEach((c) =>
    assert.ok(Math.abs(x.select(1, c).mean().item() - (1 - IMAGENET_MEAN[c]) / IMAGENET_STD[c]) < 1e-5),
  );
});

test('with every transform off, augmentation is the test-time transform; flips and rotations are exact', () => {
  const pixels = batchOf(3, 8, 1);
  const clean = evalBatch(pixels, 3, 8);
  assert.ok(augmentBatch(pixels, 3, 8, 8, OFF, new Rng(0)).allclose(clean, 1e-5, 1e-5));
  assert.ok(augmentBatch(pixels, 3, 8, 8, { ...OFF, hflip: 1 }, new Rng(0)).allclose(clean.flip(3), 1e-5, 1e-5));
  assert.ok(augmentBatch(pixels, 3, 8, 8, { ...OFF, vflip: 1 }, new Rng(0)).allclose(clean.flip(2), 1e-5, 1e-5));
  const rotated = augmentBatch(pixels, 3, 8, 8, { ...OFF, rot90: 1 }, new Rng(0));
  for (let i = 0; i < 3; i++) {
    const image = rotated.select(0, i);
    const original = clean.select(0, i);
    assert.ok(
      [1, 2, 3].some((k) => image.allclose(original.rot90(k, [1, 2]), 1e-5, 1e-5)),
      `image ${i} is a 90-degree rotation`,
    );
  }
});

test('crop, noise and erasing do what they say; the full recipe is finite and reproducible', () => {
  const pixels = batchOf(4, 16, 2);
  const clean = evalBatch(pixels, 4, 16);
  const cropped = augmentBatch(
    pixels,
    4,
    16,
    8,
    { ...OFF, crop: { kind: 'resized', scale: [0.25, 0.25], ratio: [1, 1] } },
    new Rng(0),
  );
  assert.deepEqual(cropped.shape, [4, 3, 8, 8]);
  // A window crop is an exact sub-image at a whole-pixel offset; the test-time crop is the centre window.
  const windows = augmentBatch(pixels, 4, 16, 12, { ...OFF, crop: { kind: 'window' } }, new Rng(3));
  for (let i = 0; i < 4; i++) {
    const found = [0, 1, 2, 3, 4].some((y) =>
      [0, 1, 2, 3, 4].some((x) =>
        windows.select(0, i).allclose(clean.select(0, i).narrow(1, y, 12).narrow(2, x, 12), 1e-5, 1e-5),
      ),
    );
    assert.ok(found, `image ${i} is a 12 px window of the 16 px image`);
  }
  assert.ok(evalBatch(pixels, 4, 16, 12).allclose(clean.narrow(2, 2, 12).narrow(3, 2, 12), 1e-6, 1e-6));
  assert.throws(
    () => augmentBatch(pixels, 4, 16, 20, { ...OFF, crop: { kind: 'window' } }, new Rng(0)),
    /a 20 px window does not fit in 16 px images/,
  );
  const noisy = augmentBatch(pixels, 4, 16, 16, { ...OFF, noise: { sigma: [20, 20], p: 1 } }, new Rng(0));
  const residual = noisy.sub(clean).mul(
    stack(
      [0, 1, 2].map((c) => clean.select(1, c).mul(0).add(IMAGENET_STD[c])),
      1,
    ),
  );
  assert.ok(
    Math.abs(residual.std().item() - 20 / 255) < 0.2 * (20 / 255),
    `noise std ${residual.std().item() * 255} on the 0..255 scale`,
  );
  const erased = augmentBatch(
    pixels,
    4,
    16,
    16,
    { ...OFF, erase: { p: 1, area: [0.1, 0.2], aspect: [1, 1] } },
    new Rng(0),
  );
  for (let i = 0; i < 4; i++) {
    const zeros = erased.select(0, i).eq(0).sum().item() / 3;
    assert.ok(zeros >= 0.08 * 256 && zeros <= 0.25 * 256, `image ${i}: ${zeros} erased pixels`);
  }
  const a = augmentBatch(pixels, 4, 16, 12, RECIPE_AUGMENT, new Rng(5));
  const b = augmentBatch(pixels, 4, 16, 12, RECIPE_AUGMENT, new Rng(5));
  assert.deepEqual(a.shape, [4, 3, 12, 12]);
  assert.ok(a.allclose(b, 0, 0), 'same generator state, same batch');
  assert.equal(a.isfinite().all().item(), 1, 'finite');
  assert.ok(!augmentBatch(pixels, 4, 16, 12, RECIPE_AUGMENT, new Rng(6)).allclose(a), 'another state, another batch');
});

test('loader: seeded shuffles per epoch, last-batch policy, batches rebuilt exactly', async () => {
  const root = await makeDataset(7);
  const dataset = await scanDataset(root);
  const images = await loadDecoded(dataset, {
    size: 16,
    cacheDir: mkdtempSync(join(tmpdir(), 'dsdnet-cache-')),
    progress: false,
  });
  const all = images.paths.map((_, i) => i);
  const train = new BatchLoader(images, all, {
    batchSize: 4,
    shuffle: true,
    seed: 3,
    dropLast: true,
    augment: RECIPE_AUGMENT,
    outputSize: 12,
  });
  assert.equal(train.numBatches, 5);
  const test_ = new BatchLoader(images, all, { batchSize: 4, shuffle: false, seed: 3, dropLast: false, augment: null });
  assert.equal(test_.numBatches, 6);
  assert.deepEqual(
    [...test_.epoch(0)].flatMap((b) => b.indices),
    all,
  );
  const epoch0 = [...train.epoch(0)];
  assert.equal(new Set(epoch0.flatMap((b) => b.indices)).size, 20);
  assert.notDeepEqual(train.order(0), train.order(1));
  assert.deepEqual(train.order(0), train.order(0));
  const again = train.batch(train.order(0), 0, 3);
  assert.deepEqual(again.indices, epoch0[3].indices);
  assert.ok(again.input.allclose(epoch0[3].input, 0, 0), 'batch 3 of epoch 0 rebuilt exactly');
  assert.deepEqual(
    epoch0[3].labels.toArray(),
    epoch0[3].indices.map((i) => images.labels[i]),
  );
  assert.deepEqual([...train.epoch(0, 3)][0].indices, epoch0[3].indices, 'resuming mid-epoch');
});

test('loader shards: each rank takes its run of every global batch, disjoint, together the single-process batch', async () => {
  const root = await makeDataset(8);
  const images = await loadDecoded(await scanDataset(root), {
    size: 16,
    cacheDir: mkdtempSync(join(tmpdir(), 'dsdnet-cache-')),
    progress: false,
  });
  const all = images.paths.map((_, i) => i);
  const options = { batchSize: 3, shuffle: true, seed: 5, dropLast: true, augment: RECIPE_AUGMENT, outputSize: 12 };
  const single = new BatchLoader(images, all, { ...options, batchSize: 6 });
  const ranks = [0, 1].map((rank) => new BatchLoader(images, all, { ...options, shard: { rank, worldSize: 2 } }));
  assert.equal(ranks[0].numBatches, single.numBatches, '24 images: 4 steps of 2 x 3 as of 6');
  const order = single.order(1);
  assert.deepEqual(ranks[1].order(1), order, 'every rank draws the same epoch order');
  for (let b = 0; b < single.numBatches; b++) {
    const [a, c] = ranks.map((r) => r.batch(order, 1, b).indices);
    assert.equal(a.filter((i) => c.includes(i)).length, 0, 'disjoint');
    assert.deepEqual([...a, ...c], single.batch(order, 1, b).indices, `step ${b}: together the global batch`);
  }
  assert.throws(
    () => new BatchLoader(images, all, { ...options, shard: { rank: 2, worldSize: 2 } }),
    /shard: rank 2 of world size 2 is not a valid position/,
  );
  images.close();
});

test('batch queue: batches made ahead (as on a GPU) are the batches made when taken, and none outlives the queue', async () => {
  const root = await makeDataset(5);
  const images = await loadDecoded(await scanDataset(root), {
    size: 16,
    cacheDir: mkdtempSync(join(tmpdir(), 'dsdnet-cache-')),
    progress: false,
  });
  const loader = new BatchLoader(
    images,
    images.paths.map((_, i) => i),
    { batchSize: 4, shuffle: true, seed: 2, dropLast: true, augment: RECIPE_AUGMENT, outputSize: 12 },
  );
  const order = loader.order(0);
  const live = liveTensors();
  const queue = new BatchQueue(loader, 'cpu', { prefetch: true });
  for (let b = 0; b < loader.numBatches; b++) {
    tidy(() => {
      const batch = queue.take(order, 0, b);
      queue.prepare(order, 0, b + 1); // as the step does, after queuing backward
      const direct = loader.batch(order, 0, b);
      assert.ok(batch.input.allclose(direct.input, 0, 0), `batch ${b} made ahead equals batch ${b} made now`);
      assert.deepEqual(batch.labels.toArray(), direct.labels.toArray());
      dispose([batch.input, batch.labels]); // the caller's, as in the training step
    });
    const ahead = b + 1 < loader.numBatches ? 2 : 0;
    assert.equal(liveTensors(), live + ahead, `after step ${b}: the next batch's input and labels wait, made ahead`);
  }
  queue.prepare(order, 0, 1); // a batch made ahead that is never taken
  queue.dispose();
  assert.equal(liveTensors(), live, 'no tensor left behind');
});
