// Seeding, generator state, threads, and the command-line entry point.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { F, Generator, getNumThreads, getRngState, manualSeed, ones, rand, randn, setNumThreads, setRngState } from '../src/torch/index.js';

test('manualSeed makes random streams reproducible, including dropout', () => {
  manualSeed(42);
  const a = randn([5]).toArray();
  const da = F.dropout(ones([50]), 0.5).toArray();
  manualSeed(42);
  assert.deepEqual(randn([5]).toArray(), a);
  assert.deepEqual(F.dropout(ones([50]), 0.5).toArray(), da);
  manualSeed(43);
  assert.notDeepEqual(randn([5]).toArray(), a);
});

test('the generator state can be saved and restored', () => {
  manualSeed(7);
  rand([3]);
  const state = getRngState();
  assert.equal(state.dtype, 'uint8');
  const next = rand([4]).toArray();
  rand([10]);
  setRngState(state);
  assert.deepEqual(rand([4]).toArray(), next);
});

test('a Generator of its own gives reproducible draws and leaves the default stream alone', () => {
  manualSeed(11);
  const expectedDefault = randn([3]).toArray();
  manualSeed(11);
  const a = randn([4], { generator: new Generator(5) }).toArray();
  assert.deepEqual(randn([3]).toArray(), expectedDefault, 'the default generator did not move');
  assert.deepEqual(randn([4], { generator: new Generator(5) }).toArray(), a);
  assert.notDeepEqual(randn([4], { generator: new Generator(6) }).toArray(), a);
  assert.throws(() => new Generator(-1), /non-negative integer seed/);
});

test('thread count can be set and read', () => {
  const original = getNumThreads();
  setNumThreads(1);
  assert.equal(getNumThreads(), 1);
  setNumThreads(original);
  assert.equal(getNumThreads(), original);
  assert.throws(() => setNumThreads(0), /positive integer/);
});

test('the dsdnet command prints version, libtorch version, threads, device and distributed backends', () => {
  const cli = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
  const out = execFileSync(process.execPath, [cli], { encoding: 'utf8', env: { ...process.env, DSDNET_NUM_THREADS: '2' } });
  assert.match(out, /^dsdnet \d+\.\d+\.\d+$/m);
  assert.match(out, /^libtorch 1\.\d+\.\d+$/m);
  assert.match(out, /^threads 2$/m);
  assert.match(out, /^device cpu/m);
  assert.match(out, /^distributed gloo$/m);
});
