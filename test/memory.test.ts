// Memory: 1,000 training steps inside scopes keep resident memory flat and return the live tensor count to its
// baseline; tensors left outside scopes are reclaimed by the garbage collector.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { constants, type PerformanceEntry, PerformanceObserver } from 'node:perf_hooks';
import { test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

import { MANIFEST_FILE, readSafetensors, writeSafetensors } from '../src/io/index.js';
import {
  empty,
  F,
  keep,
  liveTensors,
  manualSeed,
  noGrad,
  ones,
  randint,
  randn,
  type Tensor,
  tidy,
  zeros,
} from '../src/torch/index.js';
import { NonFiniteLossError, resolveConfig, train } from '../src/train/index.js';
import { makeDataset } from './support/images.js';

setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

function param(shape: number[], fanIn: number): Tensor {
  const bound = 1 / Math.sqrt(fanIn);
  return keep(noGrad(() => empty(shape).uniform_(-bound, bound)).requiresGrad_(true));
}

test('1,000 training steps of a small conv net keep RSS flat and free every step tensor', () => {
  manualSeed(0);
  const baseline = liveTensors();
  const convW = param([8, 3, 3, 3], 27);
  const bnW = keep(ones([8]).requiresGrad_(true));
  const bnB = keep(zeros([8]).requiresGrad_(true));
  const runMean = keep(zeros([8]));
  const runVar = keep(ones([8]));
  const fcW = param([10, 8], 8);
  const fcB = param([10], 8);
  const params = [convW, bnW, bnB, fcW, fcB];
  const momentum = params.map((p) => keep(zeros(p.shape)));
  const x = keep(randn([16, 3, 16, 16]));
  const y = keep(randint(0, 10, [16]));
  const afterSetup = liveTensors();

  const step = (): number =>
    tidy(() => {
      let h = F.conv2d(x, convW, null, { padding: 1 });
      h = F.relu(F.batchNorm(h, runMean, runVar, { weight: bnW, bias: bnB, training: true }));
      const logits = F.linear(F.adaptiveAvgPool2d(F.maxPool2d(h, 2), 1).flatten(1), fcW, fcB);
      const loss = F.crossEntropy(logits, y);
      loss.backward();
      noGrad(() =>
        params.forEach((p, i) => {
          momentum[i].mul_(0.9).add_(p.grad!);
          p.sub_(momentum[i], 0.05);
          p.grad = null;
        }),
      );
      return loss.item();
    });

  const losses: number[] = [];
  for (let i = 0; i < 200; i++) losses.push(step());
  const rssWarm = process.memoryUsage().rss;
  for (let i = 200; i < 1000; i++) losses.push(step());
  const rssEnd = process.memoryUsage().rss;
  const growthMiB = (rssEnd - rssWarm) / 2 ** 20;

  assert.equal(liveTensors(), afterSetup, 'every tensor of every step was released');
  assert.ok(growthMiB < 16, `RSS grew by ${growthMiB.toFixed(1)} MiB over 800 steps`);
  assert.ok(losses[999] < losses[0], `training made progress (loss ${losses[0]} -> ${losses[999]})`);
  for (const t of [...params, ...momentum, runMean, runVar, x, y]) t.dispose();
  assert.equal(liveTensors(), baseline, 'disposing the model returns to the baseline count');
});

test('tensors outside any scope are released by the garbage collector', async () => {
  collectGarbage();
  const before = liveTensors();
  (() => {
    for (let i = 0; i < 500; i++) randn([64, 64]).mul(2);
  })();
  assert.ok(
    liveTensors() >= before + 500,
    `unscoped tensors stay alive until collected (${liveTensors() - before} alive)`,
  );
  for (let i = 0; i < 5 && liveTensors() > before; i++) {
    await new Promise((resolve) => setImmediate(resolve));
    collectGarbage();
  }
  assert.equal(liveTensors(), before, 'the collector released every unreachable tensor');
});

test('tensors left to the collector have their memory reported to V8, so it collects them without being asked', async () => {
  const before = liveTensors();
  let peak = 0;
  for (let i = 0; i < 64; i++) {
    zeros([8 * 2 ** 20]); // 32 MiB, unreachable at once; the JS heap alone would never prompt a collection
    await new Promise((resolve) => setImmediate(resolve));
    peak = Math.max(peak, liveTensors() - before);
  }
  assert.ok(peak < 32, `${peak} of 64 unreachable 32 MiB tensors were alive at once`);
});

test('scoped tensors are not reported to V8, so short-lived step tensors force no collections', async () => {
  collectGarbage(); // the previous test's garbage is not this test's business
  await new Promise((resolve) => setImmediate(resolve));
  let major = 0;
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries())
      if (
        (entry as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind ===
        constants.NODE_PERFORMANCE_GC_MAJOR
      )
        major++;
  });
  observer.observe({ entryTypes: ['gc'] });
  for (let i = 0; i < 20; i++) tidy(() => void zeros([24 * 2 ** 20]).add_(1)); // 96 MiB per step
  await new Promise((resolve) => setTimeout(resolve, 50));
  observer.disconnect();
  // Reporting them would force one per step or so (each step adds more than V8's 64 MiB external-memory margin).
  assert.ok(major <= 2, `${major} full collections during 20 scoped steps of 96 MiB`);
});

test('a run stopped by a non-finite loss releases its network and decoded images: no live tensors beyond the baseline', async () => {
  const dataset = await makeDataset(6, [40, 40]);
  const out = join(mkdtempSync(join(tmpdir(), 'dsdnet-run-')), 'nan');
  const config = resolveConfig(
    dataset,
    {},
    { method: 'sd', size: 32, batchSize: 4, epochs: 3, warmupEpochs: 0, cycles: 1, split: { ratio: 0.5, seed: 1 } },
  );
  await train(config, { out, report: 'quiet', stopAfterEpochs: 1 });
  // Poison the saved weights (and drop the manifest that would name the change) so that the resumed run's first loss is NaN.
  const weightsFile = join(out, 'checkpoints', 'latest', 'model.safetensors');
  const { tensors, metadata } = readSafetensors(weightsFile);
  const bias = tensors.get('fc.bias')!;
  tensors.set('fc.bias', bias.mul(Number.NaN));
  writeSafetensors(weightsFile, tensors, metadata);
  for (const t of [bias, ...tensors.values()]) t.dispose();
  rmSync(join(out, 'checkpoints', 'latest', MANIFEST_FILE));
  collectGarbage();
  const baseline = liveTensors();
  await assert.rejects(train(config, { out, resume: true, report: 'quiet' }), NonFiniteLossError);
  for (let i = 0; i < 5 && liveTensors() > baseline; i++) {
    await new Promise((resolve) => setImmediate(resolve));
    collectGarbage();
  }
  assert.equal(liveTensors(), baseline, 'the network, its optimizer state and the images were released');
  rmSync(dataset, { recursive: true, force: true });
});
