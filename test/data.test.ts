// Dataset scanning, problem reports, decoding in every format, and reproducible stratified splits.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import {
  decodeImage,
  makeSplit,
  readSplit,
  repeatedSplits,
  Rng,
  scanDataset,
  splitHash,
  writeSplit,
} from '../src/data/index.js';
import { markdownCell, printable } from '../src/io/printable.js';
import { encode, makeDataset, pixels } from './support/images.js';

const cli = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const shared = fileURLToPath(new URL('../../../shared/datasets/', import.meta.url));
const haveShared = existsSync(join(shared, 'ucmerced'));
const sharedSkip = haveShared ? false : `../shared/datasets is absent (looked in ${shared})`;

test('scan: sorted classes, every format by content, hidden and non-image files counted', async () => {
  const root = await makeDataset(10);
  const dataset = await scanDataset(root);
  assert.deepEqual(dataset.classes, ['alpha', 'beta', 'gamma']);
  assert.equal(dataset.items.length, 30);
  assert.deepEqual(new Set(dataset.items.map((i) => i.format)), new Set(['jpeg', 'png', 'tiff', 'webp', 'bmp']));
  assert.ok(dataset.items.every((i) => i.width === 40 && i.height === 30));
  assert.deepEqual(dataset.items.filter((i) => i.label === 0).length, 10);
  assert.equal(dataset.items[0].path, 'alpha/alpha00.jpg');
  assert.equal(dataset.ignored.hidden, 3);
  assert.deepEqual(dataset.ignored.nonImages.sort(), ['alpha/notes.txt', 'beta/notes.txt', 'gamma/notes.txt']);
});

test('bad files each get a clear error naming the path; --skip-bad leaves them out with a warning', async () => {
  const root = await makeDataset(5);
  const jpeg = await encode('jpg', pixels(64, 64, 3), 64, 64);
  writeFileSync(join(root, 'alpha', 'zero.jpg'), '');
  writeFileSync(join(root, 'alpha', 'text.png'), 'this is not a picture');
  writeFileSync(join(root, 'beta', 'header-only.jpg'), jpeg.subarray(0, 12));
  writeFileSync(join(root, 'beta', 'really-png.jpg'), await encode('png', pixels(8, 8, 1), 8, 8));
  await assert.rejects(scanDataset(root), (error: Error) => {
    assert.match(error.message, /4 bad image file\(s\) \(skip them with --skip-bad\)/);
    assert.match(error.message, /alpha\/zero\.jpg: empty file \(0 bytes\)/);
    assert.match(
      error.message,
      /alpha\/text\.png: not an image \(no JPEG, PNG, TIFF, BMP or WebP signature\) despite its \.png extension/,
    );
    assert.match(error.message, /beta\/header-only\.jpg: corrupt JPEG image/);
    assert.match(error.message, /beta\/really-png\.jpg: wrong extension: the content is PNG, the name says JPEG/);
    return true;
  });
  const warnings: string[] = [];
  const dataset = await scanDataset(root, { skipBad: true, onWarning: (m) => warnings.push(m) });
  assert.equal(dataset.items.length, 15);
  assert.equal(dataset.skipped.length, 4);
  assert.equal(warnings.length, 4);
});

test('a truncated image scans (its header is intact) but fails to decode, naming the file', async () => {
  const root = await makeDataset(5);
  const jpeg = await encode('jpg', pixels(64, 64, 3), 64, 64);
  const path = join(root, 'gamma', 'truncated.jpg');
  writeFileSync(path, jpeg.subarray(0, Math.floor(jpeg.length / 2)));
  await assert.rejects(decodeImage(path, 32, 'cover'), /truncated\.jpg: corrupt or unreadable JPEG image/);
  await assert.rejects(decodeImage(join(root, 'gamma', 'nope.jpg'), 32, 'cover'), /nope\.jpg|ENOENT/);
});

test('folder-level problems: no classes, an empty class, class names differing by case, a missing folder', async () => {
  const root = await makeDataset(2);
  mkdirSync(join(root, 'empty'));
  await assert.rejects(scanDataset(root), /class folder\(s\) with no images: empty/);
  rmSync(join(root, 'empty'), { recursive: true });
  renameSync(join(root, 'beta'), join(root, 'Alpha'));
  await assert.rejects(scanDataset(root), /class folders differ only by case: Alpha \/ alpha/);
  await assert.rejects(
    scanDataset(join(root, 'alpha')),
    /no class folders \(expected one sub-folder of images per class\)/,
  );
  await assert.rejects(scanDataset(join(root, 'missing')), /missing: cannot read the dataset folder \(ENOENT\)/);
});

test('decoding: every format to size x size RGB, cover crops the centre, exact stretches', async () => {
  const root = await makeDataset(5, [48, 32]);
  const dataset = await scanDataset(root);
  for (const item of dataset.items.filter((i) => i.label === 0)) {
    const rgb = await decodeImage(join(root, item.path), 16, 'cover');
    assert.equal(rgb.length, 16 * 16 * 3, item.path);
  }
  // A lossless PNG: the centre pixel of a cover crop is the source's centre pixel (up to resampling).
  const png = dataset.items.find((i) => i.format === 'png' && i.label === 0)!;
  const exact = await decodeImage(join(root, png.path), 32, 'exact');
  assert.equal(exact.length, 32 * 32 * 3);
  const bmp = dataset.items.find((i) => i.format === 'bmp' && i.label === 0)!;
  const source = pixels(48, 32, 10 + Number(bmp.path.slice(-6, -4))); // alpha is the second class made
  const decoded = await decodeImage(join(root, bmp.path), 32, 'cover');
  const centre = (16 * 32 + 16) * 3;
  const sourceCentre = (16 * 48 + 24) * 3;
  for (let k = 0; k < 3; k++)
    assert.ok(Math.abs(decoded[centre + k] - source[sourceCentre + k]) <= 6, `BMP channel ${k}`);
});

test('splits: stratified by ratio or count, seeded, identical when repeated, different across seeds', async () => {
  const root = await makeDataset(10);
  const dataset = await scanDataset(root);
  const split = makeSplit(dataset, { ratio: 0.8, seed: 0 });
  assert.equal(split.train.length, 24);
  assert.equal(split.test.length, 6);
  for (let c = 0; c < 3; c++) assert.equal(split.train.filter((e) => e.label === c).length, 8);
  assert.deepEqual(makeSplit(dataset, { ratio: 0.8, seed: 0 }), split);
  assert.notDeepEqual(makeSplit(dataset, { ratio: 0.8, seed: 1 }).train, split.train);
  const counted = makeSplit(dataset, { perClass: 3, seed: 5 });
  assert.equal(counted.train.length, 9);
  const repeats = repeatedSplits(dataset, { ratio: 0.5, seed: 7 }, 3);
  assert.equal(new Set(repeats.map(splitHash)).size, 3);
  assert.throws(
    () => makeSplit(dataset, { ratio: 0.01, seed: 0 }),
    /class 'alpha' has 10 images: a split with 0 for training leaves none for training/,
  );
  assert.throws(() => makeSplit(dataset, { ratio: 1.5, seed: 0 }), /ratio must be between 0 and 1/);
});

test('split files: written as JSON, read back, checked against the dataset', async () => {
  const root = await makeDataset(4);
  const dataset = await scanDataset(root);
  const split = makeSplit(dataset, { ratio: 0.5, seed: 3 });
  const file = join(root, '..', `split-${Date.now()}.json`);
  writeSplit(file, split);
  assert.deepEqual(readSplit(file, dataset), split);
  const json = JSON.parse(readFileSync(file, 'utf8'));
  assert.deepEqual(Object.keys(json.train[0]), ['path', 'label']);
  json.test.push({ path: 'alpha/ghost.jpg', label: 0 });
  writeFileSync(file, JSON.stringify(json));
  assert.throws(() => readSplit(file, dataset), /1 file\(s\) not in .*: alpha\/ghost\.jpg/);
  json.classes = ['x', 'y', 'z'];
  writeFileSync(file, JSON.stringify(json));
  assert.throws(() => readSplit(file, dataset), /its classes \[x, y, z\] are not the dataset's \[alpha, beta, gamma\]/);
  writeFileSync(file, '{"nope": 1}');
  assert.throws(() => readSplit(file), /not a split file/);
});

test('the seeded generator is the same everywhere (pinned values)', () => {
  const rng = new Rng(0);
  const values = Array.from({ length: 4 }, () => rng.nextUint32());
  assert.deepEqual(values, PINNED_RNG_VALUES);
  const restored = Rng.fromState(new Rng(9).state());
  assert.equal(restored.nextUint32(), new Rng(9).nextUint32());
});

const PINNED_RNG_VALUES = [4205396811, 3543653536, 1222415357, 3047368389];

test('CLI: data inspect and data split', async () => {
  const root = await makeDataset(5);
  const inspect = execFileSync(process.execPath, [cli, 'data', 'inspect', root], { encoding: 'utf8' });
  assert.match(inspect, /3 classes, 15 images/);
  assert.match(inspect, /formats: .*jpeg \(3\)/);
  assert.match(inspect, /ignored: 3 hidden, 3 non-image file\(s\)/);
  const out = join(root, 'split.json');
  const split = execFileSync(
    process.execPath,
    [cli, 'data', 'split', root, '--ratio', '0.6', '--seed', '4', '-o', out],
    { encoding: 'utf8' },
  );
  assert.match(split, /9 train \/ 6 test, 3 classes, seed 4/);
  assert.equal(readSplit(out).train.length, 9);
  const bad = spawnSync(process.execPath, [cli, 'data', 'split', root, '--ratio', 'abc', '-o', out], {
    encoding: 'utf8',
  });
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /'abc' is not a number/);
  const missing = spawnSync(process.execPath, [cli, 'data', 'inspect', join(root, 'nope')], { encoding: 'utf8' });
  assert.match(missing.stderr, /dsdnet: .*nope: cannot read the dataset folder \(ENOENT\)/);
});

test('UC Merced: 21 classes x 100 JPEGs; the 80% split of seed 0 is pinned', { skip: sharedSkip }, async () => {
  const dataset = await scanDataset(join(shared, 'ucmerced'));
  assert.equal(dataset.classes.length, 21);
  assert.equal(dataset.items.length, 2100);
  assert.ok(dataset.items.every((i) => i.format === 'jpeg'));
  const split = makeSplit(dataset, { ratio: 0.8, seed: 0 });
  assert.equal(split.train.length, 1680);
  assert.equal(splitHash(split), PINNED_UCM_SPLIT_HASH);
  assert.equal(splitHash(makeSplit(dataset, { ratio: 0.8, seed: 0 })), PINNED_UCM_SPLIT_HASH);
});

const PINNED_UCM_SPLIT_HASH = '3f0837880915cc69cdc92706455a265ce6f315972166167601f381a0af171ddc';

test('UC Merced TIFF sample: 21 original TIFFs scan and decode', { skip: sharedSkip }, async () => {
  const root = join(shared, 'ucmerced-tiff-sample');
  const dataset = await scanDataset(root);
  assert.equal(dataset.items.length, 21);
  assert.ok(dataset.items.every((i) => i.format === 'tiff'));
  for (const item of dataset.items.slice(0, 3))
    assert.equal((await decodeImage(join(root, item.path), 64, 'cover')).length, 64 * 64 * 3);
});

test('one class folder is refused with the sub-folder that holds the classes; symbolic links are followed, cycles refused', async () => {
  const parent = mkdtempSync(join(tmpdir(), 'dsdnet-archive-'));
  renameSync(await makeDataset(2), join(parent, 'Images'));
  await assert.rejects(
    scanDataset(parent),
    new RegExp(
      `only one class folder \\('Images'\\); a classifier needs at least two\\. 'Images' holds 3 sub-folders: if those are the classes, use ${join(parent, 'Images').replace(/[/.]/g, '\\$&')}`,
    ),
  );
  const root = await makeDataset(2);
  const elsewhere = await makeDataset(2);
  symlinkSync(join(elsewhere, 'alpha'), join(root, 'delta'));
  symlinkSync(join(elsewhere, 'beta', 'beta00.jpg'), join(root, 'alpha', 'linked.jpg'));
  const dataset = await scanDataset(root);
  assert.deepEqual(dataset.classes, ['alpha', 'beta', 'delta', 'gamma']);
  assert.ok(dataset.items.some((i) => i.path === 'alpha/linked.jpg'));
  assert.equal(dataset.items.filter((i) => i.path.startsWith('delta/')).length, 2);
  symlinkSync(join(root, 'nowhere.jpg'), join(root, 'beta', 'broken.jpg'));
  symlinkSync('self.jpg', join(root, 'beta', 'self.jpg'));
  symlinkSync('pong.jpg', join(root, 'beta', 'ping.jpg'));
  symlinkSync('ping.jpg', join(root, 'beta', 'pong.jpg'));
  await assert.rejects(scanDataset(root), (error: Error) => {
    assert.match(error.message, /4 bad image file\(s\)/);
    assert.match(error.message, /beta\/broken\.jpg: broken symbolic link \(its target does not exist\)/);
    for (const name of ['self', 'ping', 'pong'])
      assert.match(
        error.message,
        new RegExp(
          `beta/${name}\\.jpg: symbolic link cycle \\(it leads back to itself, directly or through other links\\)`,
        ),
      );
    return true;
  });
  for (const name of ['broken', 'self', 'ping', 'pong']) rmSync(join(root, 'beta', `${name}.jpg`));
  symlinkSync(join(root, 'gamma'), join(root, 'gamma', 'loop'));
  await assert.rejects(
    scanDataset(root),
    /gamma\/loop: symbolic link cycle \(it leads back to .*gamma, which contains it\)/,
  );
});

test('a broken or cyclic symbolic link where the class folders are is refused naming it, --skip-bad or not (a class would be missing)', async () => {
  const root = await makeDataset(2);
  symlinkSync(join(root, 'nowhere'), join(root, 'delta'));
  const notSkipped = '--skip-bad does not leave out a class: the labels would change';
  const broken = `${join(root, 'delta')}: class folder link: broken symbolic link (its target does not exist)`;
  for (const skipBad of [false, true])
    await assert.rejects(scanDataset(root, { skipBad }), {
      name: 'DatasetError',
      message: `${broken}; fix or remove it (${notSkipped})`,
    });
  symlinkSync('epsilon', join(root, 'epsilon'));
  const cycle = `${join(root, 'epsilon')}: class folder link: symbolic link cycle (it leads back to itself, directly or through other links)`;
  await assert.rejects(scanDataset(root, { skipBad: true }), {
    message: `${root}: 2 class folder links cannot be followed; fix or remove them (${notSkipped}):\n  ${broken}\n  ${cycle}`,
  });
});

test('names with control characters: files are named with them escaped; class folders holding one are refused', async () => {
  const root = await makeDataset(2);
  writeFileSync(join(root, 'alpha', 'bad\u001b[2Jname.jpg'), 'garbage');
  mkdirSync(join(root, 'beta', 'sub\u009b31m'));
  writeFileSync(join(root, 'beta', 'sub\u009b31m', 'x.png'), await encode('jpg', pixels(8, 8, 1), 8, 8));
  await assert.rejects(scanDataset(root), (error: Error) => {
    assert.doesNotMatch(error.message, /[\u001b\u009b]/, 'no raw escape code');
    assert.match(error.message, /alpha\/bad\\u001b\[2Jname\.jpg: not an image/);
    assert.match(error.message, /beta\/sub\\u009b31m\/x\.png: wrong extension/);
    return true;
  });
  const warnings: string[] = [];
  const dataset = await scanDataset(root, { skipBad: true, onWarning: (m) => warnings.push(m) });
  assert.deepEqual(
    dataset.skipped.map((s) => s.path),
    ['alpha/bad\u001b[2Jname.jpg', 'beta/sub\u009b31m/x.png'],
    'the data keeps the real names',
  );
  assert.equal(warnings.length, 2);
  assert.match(warnings[0], /^skipping alpha\/bad\\u001b\[2Jname\.jpg: not an image/);
  assert.match(warnings[1], /^skipping beta\/sub\\u009b31m\/x\.png: wrong extension/);
  mkdirSync(join(root, 'line\nbreak'));
  await assert.rejects(scanDataset(root), /class folder name 'line\\u000abreak' holds a control character; rename it$/);
  mkdirSync(join(root, 'clear\u001b[2J'));
  await assert.rejects(
    scanDataset(root),
    /class folder names 'clear\\u001b\[2J', 'line\\u000abreak' hold control characters; rename them$/,
  );
  assert.equal(printable('a\u202eb\u0007c\td'), 'a\\u202eb\\u0007c\\u0009d');
  assert.equal(markdownCell('dense | sparse\nurban'), 'dense \\| sparse\\u000aurban');
});

test('split files with an empty list or duplicate entries are refused', async () => {
  const root = await makeDataset(4);
  const dataset = await scanDataset(root);
  const split = makeSplit(dataset, { ratio: 0.5, seed: 0 });
  const file = join(mkdtempSync(join(tmpdir(), 'dsdnet-split-')), 'split.json');
  writeFileSync(file, JSON.stringify({ ...split, test: [] }));
  assert.throws(() => readSplit(file, dataset), /split\.json: the test list is empty/);
  writeFileSync(file, JSON.stringify({ ...split, train: [...split.train, split.train[0]] }));
  assert.throws(
    () => readSplit(file, dataset),
    new RegExp(`split\\.json: 1 duplicate entry in the train list: ${split.train[0].path}`),
  );
});
