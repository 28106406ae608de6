// The decode cache: shards per class folder, images read straight from them, only what changed decoded again, bad
// files named all at once (the rest kept) or skipped, damaged shards rebuilt.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, statSync, truncateSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import { decodeImage, loadDecoded, scanDataset } from '../src/data/index.js';
import { encode, makeDataset, pixels } from './support/images.js';

const SIZE = 16;
const tempCache = (): string => mkdtempSync(join(tmpdir(), 'dsdnet-cache-'));
const shardFiles = (dir: string): string[] =>
  readdirSync(dir)
    .filter((f) => f.endsWith('.shard'))
    .sort();

test('cache: images decoded once into shards per class, then read back bit-exactly from the files', async () => {
  const root = await makeDataset(7);
  const dataset = await scanDataset(root);
  const cacheDir = tempCache();
  const first = await loadDecoded(dataset, { size: SIZE, cacheDir, progress: false, shardImages: 3 });
  assert.equal(first.decoded, 21);
  assert.equal(first.fromCache, false);
  assert.equal(shardFiles(cacheDir).length, 9, '3 classes of 7 images in shards of at most 3');
  const again = await loadDecoded(dataset, { size: SIZE, cacheDir, progress: false, shardImages: 3 });
  assert.equal(again.decoded, 0);
  assert.ok(again.fromCache);
  assert.deepEqual(
    again.paths,
    dataset.items.map((i) => i.path),
  );
  assert.deepEqual(
    Array.from(again.labels),
    dataset.items.map((i) => i.label),
  );
  const order = [20, 0, 7, 7, 13];
  const batch = again.read(order);
  for (const [k, index] of order.entries()) {
    const expected = await decodeImage(join(root, dataset.items[index].path), SIZE, 'cover');
    assert.deepEqual(batch.subarray(k * SIZE * SIZE * 3, (k + 1) * SIZE * SIZE * 3), expected, `image ${index}`);
  }
  assert.throws(() => again.read([21]), /image index 21 out of range \(21 images\)/);
  first.close();
  again.close();
  assert.throws(() => again.read([0]), /shard already closed/);
});

test('cache: a changed file decodes its shard again, and only that one', async () => {
  const root = await makeDataset(6);
  const cacheDir = tempCache();
  (await loadDecoded(await scanDataset(root), { size: SIZE, cacheDir, progress: false, shardImages: 4 })).close();
  const changed = join(root, 'beta', 'beta01.PNG');
  writeFileSync(changed, await encode('png', pixels(40, 30, 99), 40, 30));
  utimesSync(changed, new Date(), new Date(Date.now() + 5000));
  const dataset = await scanDataset(root);
  const images = await loadDecoded(dataset, { size: SIZE, cacheDir, progress: false, shardImages: 4 });
  assert.equal(images.decoded, 4, 'beta00..beta03 share a shard');
  const index = images.paths.indexOf('beta/beta01.PNG');
  assert.deepEqual(images.read([index]), await decodeImage(changed, SIZE, 'cover'));
  images.close();
});

test('cache: files that fail to decode are named together, the others stay cached; --skip-bad leaves them out', async () => {
  const root = await makeDataset(5);
  const jpeg = await encode('jpg', pixels(64, 64, 3), 64, 64);
  for (const name of ['alpha/cut1.jpg', 'gamma/cut2.jpg'])
    writeFileSync(join(root, name), jpeg.subarray(0, Math.floor(jpeg.length / 2)));
  const dataset = await scanDataset(root);
  const cacheDir = tempCache();
  await assert.rejects(
    loadDecoded(dataset, { size: SIZE, cacheDir, progress: false }),
    (error: Error) =>
      /2 image file\(s\) could not be decoded \(the others stay cached; leave these out with --skip-bad\)/.test(
        error.message,
      ) &&
      /alpha\/cut1\.jpg: corrupt or unreadable JPEG/.test(error.message) &&
      /gamma\/cut2\.jpg/.test(error.message),
  );
  assert.equal(shardFiles(cacheDir).length, 3, 'every shard was kept, bad files recorded in it');
  const warnings: string[] = [];
  const images = await loadDecoded(dataset, {
    size: SIZE,
    cacheDir,
    progress: false,
    skipBad: true,
    onWarning: (m) => warnings.push(m),
  });
  assert.equal(images.decoded, 0, 'nothing decoded again: the shards know their bad files');
  assert.equal(images.paths.length, 15);
  assert.deepEqual(
    images.skipped.map((s) => s.path),
    ['alpha/cut1.jpg', 'gamma/cut2.jpg'],
  );
  assert.equal(warnings.length, 2);
  assert.match(warnings[0], /skipping alpha\/cut1\.jpg: corrupt or unreadable JPEG image/);
  images.close();
});

test('cache: a file named with an escape code that fails to decode is named with it escaped, its reason on one line', async () => {
  const root = await makeDataset(3);
  const jpeg = await encode('jpg', pixels(64, 64, 3), 64, 64);
  writeFileSync(join(root, 'alpha', 'cut\u001b[2J.jpg'), jpeg.subarray(0, Math.floor(jpeg.length / 2)));
  await assert.rejects(
    loadDecoded(await scanDataset(root), { size: SIZE, cacheDir: tempCache(), progress: false }),
    (error: Error) => {
      assert.doesNotMatch(error.message, /\u001b/, 'no raw escape code');
      assert.match(
        error.message,
        /could not be decoded \(the others stay cached; leave these out with --skip-bad\):\n {2}alpha\/cut\\u001b\[2J\.jpg: corrupt or unreadable JPEG image: [^\n]+$/,
      );
      return true;
    },
  );
});

test('cache: a damaged shard is reported and decoded again', async () => {
  const root = await makeDataset(3);
  const dataset = await scanDataset(root);
  const cacheDir = tempCache();
  (await loadDecoded(dataset, { size: SIZE, cacheDir, progress: false })).close();
  const victim = join(cacheDir, shardFiles(cacheDir)[1]);
  truncateSync(victim, statSync(victim).size - 10);
  const warnings: string[] = [];
  const images = await loadDecoded(dataset, {
    size: SIZE,
    cacheDir,
    progress: false,
    onWarning: (m) => warnings.push(m),
  });
  assert.equal(images.decoded, 3);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0], /damaged decode cache shard \(.*\); decoding its images again/);
  assert.deepEqual(images.read([4]), await decodeImage(join(root, dataset.items[4].path), SIZE, 'cover'));
  images.close();
});
