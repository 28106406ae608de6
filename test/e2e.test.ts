// End to end on a small generated dataset: every method trains, a run resumes exactly, Ctrl-C saves and exits,
// a diverging run stops with a clear message, and the trained model evaluates and predicts.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { loadDecoded, scanDataset } from '../src/data/index.js';
import { MANIFEST_FILE, readSafetensors, writeSafetensors } from '../src/io/index.js';
import { evaluate, predict } from '../src/eval/index.js';
import { NonFiniteLossError, resolveConfig, train } from '../src/train/index.js';
import { loadModel, type TrainConfig } from '../src/trained/index.js';
import { makeDataset, makeSeparableDataset } from './support/images.js';
import { trainQuickRun } from './support/quick-run.js';
import { configureEngine } from '../src/torch/index.js';

// As the commands do: this file trains and evaluates in this process.
configureEngine({ retainFreedMemory: true });

const cli = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const scratch = (): string => mkdtempSync(join(tmpdir(), 'dsdnet-run-'));
const small = (data: string, method: TrainConfig['method'], extra: Partial<TrainConfig> = {}): TrainConfig =>
  resolveConfig(
    data,
    {},
    {
      method,
      size: 32,
      batchSize: 6,
      epochs: 2,
      warmupEpochs: 1,
      cycles: 2,
      split: { ratio: 0.5, seed: 1 },
      augment: 'recipe',
      ...extra,
    },
  );

let dataset: string;
test.before(async () => {
  dataset = await makeDataset(12, [40, 40]);
});

test('every method trains one epoch and writes its run folder; report aggregates runs', async () => {
  const runs: string[] = [];
  for (const method of ['plain', 'sd', 'dsd'] as const) {
    const out = join(scratch(), method);
    const result = await train(small(dataset, method, { epochs: 1, warmupEpochs: 0, cycles: 1 }), {
      out,
      report: 'quiet',
    });
    assert.equal(result.completed, true);
    const files = readdirSync(out).sort();
    for (const f of [
      'checkpoints',
      'config.json',
      'confusion.csv',
      'confusion.png',
      'confusion.svg',
      'curves.png',
      'curves.svg',
      'metrics.csv',
      'metrics.jsonl',
      'report.json',
      'report.md',
      'split.json',
    ]) {
      assert.ok(files.includes(f), `${method}: ${f}`);
    }
    const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
    assert.equal(report.method, method);
    assert.ok(report.final.overallAccuracy >= 0 && report.final.overallAccuracy <= 1);
    assert.equal(readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').length, 1);
    runs.push(out);
  }
  const table = spawnSync(process.execPath, [cli, 'report', ...runs], { encoding: 'utf8' });
  assert.equal(table.status, 0, table.stderr);
  assert.match(
    table.stdout,
    /\| plain resnet18 \| 1 \| \d+\.\d\d \| \d+\.\d\d \| \d+\.\d\d \| \d\.\d{4} \| \d+\.\d \| 1\.00x \|/,
  );
  assert.match(table.stdout, /best-epoch OA is each run's highest test OA over its epochs/);
  assert.match(
    table.stdout,
    /\| dsd resnet18 \(distill soft-ce, condition refined, 5 DDIM steps, entropy 0\.5\) \| 1 \|/,
  );
  assert.match(
    spawnSync(process.execPath, [cli, 'report', dataset], { encoding: 'utf8' }).stderr,
    /no report\.json \(the run has not finished\)/,
  );
});

for (const precision of ['fp32', 'bf16'] as const) {
  test(`a run stopped after one epoch and resumed ends exactly like an uninterrupted run (${precision}, channels-last)`, async () => {
    const config = small(dataset, 'dsd', { precision });
    const straight = await train(config, { out: join(scratch(), 'straight'), report: 'quiet' });
    assert.equal(JSON.parse(readFileSync(join(straight.out, 'report.json'), 'utf8')).precision, precision);
    const out = join(scratch(), 'resumed');
    const first = await train(config, { out, report: 'quiet', stopAfterEpochs: 1 });
    assert.equal(first.completed, false);
    const resumed = await train(config, { out, resume: true, report: 'quiet' });
    assert.equal(resumed.completed, true);
    assert.deepEqual(
      resumed.epochs.map((r) => r.trainLoss),
      straight.epochs.map((r) => r.trainLoss),
    );
    assert.deepEqual(resumed.final!.confusion, straight.final!.confusion);
    const a = loadModel(straight.out).model.stateDict();
    const b = loadModel(out).model.stateDict();
    for (const [name, t] of a) assert.ok(t.allclose(b.get(name)!, 0, 0), `${name} identical`);
  });
}

test('the trained model loads, evaluates on the split and predicts image files', async () => {
  const out = join(scratch(), 'model');
  await train(small(dataset, 'plain', { epochs: 1, warmupEpochs: 0, cycles: 1 }), { out, report: 'quiet' });
  const loaded = loadModel(out);
  assert.deepEqual(loaded.classNames, ['alpha', 'beta', 'gamma']);
  const data = await scanDataset(dataset);
  assert.equal(loaded.decodeSize, Math.round(32 / 0.875));
  const images = await loadDecoded(data, { size: loaded.decodeSize, progress: false });
  const { metrics } = evaluate(
    loaded.model,
    images,
    images.paths.map((_, i) => i),
    loaded.classNames,
    { outputSize: loaded.size },
  );
  assert.equal(metrics.count, 36);
  const predictions = await predict(
    loaded,
    [join(dataset, 'alpha', 'alpha00.jpg'), join(dataset, 'gamma', 'gamma01.PNG')],
    { topK: 3 },
  );
  for (const { top } of predictions) {
    assert.deepEqual(top.map((t) => t.label).sort(), ['alpha', 'beta', 'gamma']);
    assert.ok(
      Math.abs(top.reduce((s, t) => s + t.probability, 0) - 1) < 1e-5,
      'the probabilities of all classes sum to 1',
    );
    assert.ok(top[0].probability >= top[1].probability && top[1].probability >= top[2].probability, 'ranked');
  }
  const json = spawnSync(
    process.execPath,
    [cli, 'predict', out, join(dataset, 'beta', 'beta02.tif'), '--top-k', '1', '--json'],
    { encoding: 'utf8' },
  );
  assert.equal(json.status, 0, json.stderr);
  assert.ok(['alpha', 'beta', 'gamma'].includes(JSON.parse(json.stdout)[0].top[0].label));
  const info = spawnSync(process.execPath, [cli, 'info', out], { encoding: 'utf8' });
  assert.match(info.stdout, /backbone: resnet18 .*input 32 px\nclasses \(3\): alpha, beta, gamma/);
  const other = await makeDataset(2);
  renameSync(join(other, 'gamma'), join(other, 'delta'));
  const mismatch = spawnSync(process.execPath, [cli, 'eval', out, other, '--json'], { encoding: 'utf8' });
  assert.equal(mismatch.status, 1);
  assert.match(
    mismatch.stderr,
    /checkpoints\/latest: trained on 3 classes that differ from the 3 given \(missing \["delta"\], extra \["gamma"\]\)/,
  );
});

test('training learns: separable classes are told apart after a few epochs, by every method', async () => {
  const separable = await makeSeparableDataset(16);
  for (const method of ['plain', 'dsd'] as const) {
    const result = await trainQuickRun(separable, join(scratch(), method), { method });
    assert.ok(
      result.final!.overallAccuracy >= 0.9,
      `${method}: test OA ${result.final!.overallAccuracy} after 4 epochs`,
    );
  }
});

test('a non-finite loss stops the run with a clear message and keeps the last good checkpoint', async () => {
  const out = join(scratch(), 'nan');
  const config = small(dataset, 'plain', { epochs: 3, warmupEpochs: 0, cycles: 1 });
  await train(config, { out, report: 'quiet', stopAfterEpochs: 1 });
  // Poison the saved weights so that the resumed run's first loss is NaN.
  const weightsFile = join(out, 'checkpoints', 'latest', 'model.safetensors');
  const { tensors, metadata } = readSafetensors(weightsFile);
  tensors.set('fc.bias', tensors.get('fc.bias')!.mul(Number.NaN));
  writeSafetensors(weightsFile, tensors, metadata);
  // The manifest would name the changed file; without one (a checkpoint of an older dsdnet) the loss check stops it.
  rmSync(join(out, 'checkpoints', 'latest', MANIFEST_FILE));
  const before = readFileSync(weightsFile);
  await assert.rejects(train(config, { out, resume: true, report: 'quiet' }), (error: Error) => {
    assert.ok(error instanceof NonFiniteLossError);
    assert.match(
      error.message,
      /the loss became NaN at epoch 2, step 1 \(iteration 3\); the run stopped and checkpoints\/latest keeps the last good state/,
    );
    return true;
  });
  assert.deepEqual(readFileSync(weightsFile), before, 'nothing was saved after the bad step');
  assert.equal(JSON.parse(readFileSync(join(out, 'checkpoints', 'latest', 'checkpoint.json'), 'utf8')).epoch, 1);
});

test('Ctrl-C saves mid-epoch and exits with 130 (128 + SIGINT); --resume finishes the run', async () => {
  const out = join(scratch(), 'sigint');
  const args = [
    cli,
    'train',
    dataset,
    '--out',
    out,
    '--method',
    'sd',
    '--epochs',
    '2',
    '--size',
    '32',
    '--batch-size',
    '2',
    '--ratio',
    '0.5',
    '--jsonl',
  ];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let sent = false;
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdout.on('data', (chunk: Buffer) => {
    if (!sent && chunk.toString().includes('"event":"step"')) {
      sent = true;
      child.kill('SIGINT');
    }
  });
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  assert.equal(code, 130, stderr);
  const saved = JSON.parse(readFileSync(join(out, 'checkpoints', 'latest', 'checkpoint.json'), 'utf8'));
  assert.ok(saved.extra.batchInEpoch > 0, 'saved within the epoch');
  assert.equal(existsSync(join(out, 'report.json')), false);
  const resumed = spawnSync(process.execPath, [cli, 'train', '--out', out, '--resume', '--quiet'], {
    encoding: 'utf8',
  });
  assert.equal(resumed.status, 0, resumed.stderr);
  assert.match(resumed.stdout, /final: OA \d+\.\d+%/);
  assert.equal(readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').length, 2);
});
