// Seeding, generator state, threads, ATen's instruction set, and the command-line entry point.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import {
  cpuCapability,
  F,
  Generator,
  getNumThreads,
  getRngState,
  manualSeed,
  ones,
  preferredCpuCapability,
  rand,
  randn,
  setNumThreads,
  setRngState,
} from '../src/torch/index.js';

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
  const out = execFileSync(process.execPath, [cli], {
    encoding: 'utf8',
    env: { ...process.env, DSDNET_NUM_THREADS: '2' },
  });
  assert.match(out, /^dsdnet \d+\.\d+\.\d+$/m);
  assert.match(out, /^libtorch \d+\.\d+\.\d+$/m);
  assert.match(out, /^threads 2$/m);
  assert.match(out, /^device cpu/m);
  assert.match(out, /^distributed gloo$/m);
});

const cli = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const envWith = (value: string | undefined): NodeJS.ProcessEnv => {
  const env = { ...process.env };
  if (value === undefined) delete env.ATEN_CPU_CAPABILITY;
  else env.ATEN_CPU_CAPABILITY = value;
  return env;
};

test('ATen kernels use AVX-512 on CPUs that also compute bf16, and ATEN_CPU_CAPABILITY chooses', () => {
  const inUse = (value: string | undefined): string =>
    /^ATen kernels (\w+)/m.exec(
      execFileSync(process.execPath, [cli, 'env'], { encoding: 'utf8', env: envWith(value) }),
    )?.[1] ?? '';
  assert.equal(inUse(undefined), preferredCpuCapability() === 'avx512' ? 'AVX512' : cpuCapability(), 'the default');
  assert.equal(inUse('avx2'), 'AVX2');
  assert.equal(inUse('default'), 'DEFAULT');
  assert.throws(
    () => execFileSync(process.execPath, [cli, 'env'], { encoding: 'utf8', stdio: 'pipe', env: envWith('avx9') }),
    /ATEN_CPU_CAPABILITY must be one of default, avx2, avx512, got 'avx9'/,
  );
});
