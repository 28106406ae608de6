// ONNX export: every backbone's exported graph computes what dsdnet computes (ONNX Runtime against eval mode, max
// abs logit difference printed), with and without folded BatchNorm and at any batch size; the CLI exports a run,
// and predict/eval with --engine onnx agree with libtorch without loading it.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import * as ort from 'onnxruntime-node';

import { DEFAULT_SCALE, decodeImage, evalBatch, scanDataset } from '../src/data/index.js';
import { exportOnnx, onnxMetadata, readModelInfo } from '../src/export/index.js';
import { type Backbone, createBackbone } from '../src/models/index.js';
import { calibrateBatchNorm } from '../src/nn/index.js';
import { noGrad, randn, type Tensor } from '../src/torch/index.js';
import { OnnxClassifier } from '../src/serve/index.js';
import type { LoadedModel } from '../src/trained/index.js';
import { makeSeparableDataset } from './support/images.js';

const cli = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const forbidAddon = fileURLToPath(new URL('./support/forbid-addon.js', import.meta.url));
const ucmerced = fileURLToPath(new URL('../../../shared/datasets/ucmerced', import.meta.url));
const scratch = (): string => mkdtempSync(join(tmpdir(), 'dsdnet-onnx-'));
const SIZE = 96;
const DECODE = 110;

/** Real images when ../shared is there (UC Merced, one per class), generated ones otherwise. */
async function images(): Promise<{ batch: Tensor; kind: string }> {
  const root = existsSync(ucmerced) ? ucmerced : await makeSeparableDataset(3, 128);
  const dataset = await scanDataset(root);
  const picked = dataset.items
    .filter((item, i) => i === dataset.items.findIndex((other) => other.label === item.label))
    .slice(0, 8);
  const pixels = new Uint8Array(picked.length * DECODE * DECODE * 3);
  for (const [i, item] of picked.entries())
    pixels.set(await decodeImage(join(root, item.path), DECODE, 'cover'), i * DECODE * DECODE * 3);
  return {
    batch: evalBatch(pixels, picked.length, DECODE, SIZE),
    kind: root === ucmerced ? 'UC Merced images' : 'generated images',
  };
}

/** A backbone as after training: BatchNorm statistics measured on the images, a classifier whose largest logit is 10. */
function realistic(name: string, batch: Tensor): LoadedModel {
  const model: Backbone = createBackbone(name as Parameters<typeof createBackbone>[0], 21);
  calibrateBatchNorm(model, [batch]);
  model.eval();
  for (const p of model.classifierParameters()) noGrad(() => p.copy_(randn(p.shape)));
  const largest = Math.max(...Array.from(noGrad(() => model.forward(batch)).data() as Float32Array, Math.abs));
  for (const p of model.classifierParameters()) noGrad(() => p.mul_(10 / largest));
  return {
    model,
    classNames: Array.from({ length: 21 }, (_, i) => `class${i}`),
    backbone: name,
    size: SIZE,
    decodeSize: DECODE,
    decode: { bands: null, scale: DEFAULT_SCALE },
    source: 'test',
    info: {},
  };
}

async function runOnnx(bytes: Uint8Array, input: Tensor): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(bytes);
  const out = await session.run({ input: new ort.Tensor('float32', input.data() as Float32Array, input.shape) });
  await session.release();
  return out.logits.data as Float32Array;
}

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number =>
  Array.from(a).reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

test('every backbone: ONNX Runtime computes the exported graph as dsdnet does (max abs logit difference < 1e-4)', async () => {
  const { batch, kind } = await images();
  for (const name of ['resnet18', 'resnet34', 'resnet50', 'mobilenet_v2']) {
    const loaded = realistic(name, batch);
    const expected = noGrad(() => loaded.model.forward(batch)).data() as Float32Array;
    const scale = Math.max(...Array.from(expected, Math.abs));
    for (const foldBatchNorm of [false, true]) {
      const { bytes, folded } = exportOnnx(loaded, '/not-a-run', { foldBatchNorm });
      const difference = maxAbsDiff(await runOnnx(bytes, batch), expected);
      console.log(
        `${name}${foldBatchNorm ? ` (${folded} BatchNorm folded)` : ''} on ${batch.shape[0]} ${kind}: max |logit| ${scale.toFixed(2)}, max abs difference ${difference.toExponential(2)}`,
      );
      assert.ok(Math.abs(scale - 10) < 1e-3, `${name}: logits up to 10 (${scale})`);
      assert.ok(difference < 1e-4, `${name}${foldBatchNorm ? ' folded' : ''}: ${difference}`);
      if (foldBatchNorm)
        assert.equal(folded, name === 'mobilenet_v2' ? 52 : name === 'resnet50' ? 53 : name === 'resnet34' ? 36 : 20);
    }
    loaded.model.dispose();
  }
});

test('dynamic batch runs any batch size; a fixed batch is in the file; metadata names classes, sizes and normalisation', async () => {
  const { batch } = await images();
  const loaded = realistic('resnet18', batch);
  const { bytes, info } = exportOnnx(loaded, '/not-a-run');
  const one = batch.narrow(0, 0, 1);
  const all = noGrad(() => loaded.model.forward(batch)).data() as Float32Array;
  assert.ok(maxAbsDiff(await runOnnx(bytes, one), all.subarray(0, 21)) < 1e-4, 'batch of one');
  const metadata = onnxMetadata(bytes);
  assert.deepEqual(JSON.parse(metadata.classes), loaded.classNames);
  assert.deepEqual(readModelInfo(bytes, 'x.onnx'), JSON.parse(JSON.stringify(info)));
  assert.deepEqual(
    [info.inputSize, info.decodeSize, info.mean, info.std],
    [SIZE, DECODE, [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]],
  );
  const fixed = exportOnnx(loaded, '/not-a-run', { batch: 8 }).bytes;
  const session = await ort.InferenceSession.create(fixed);
  await assert.rejects(
    session.run({ input: new ort.Tensor('float32', one.data() as Float32Array, one.shape) }),
    /Got invalid dimensions for input: input .*index: 0 Got: 1 Expected: 8/s,
  );
  await session.release();
  assert.throws(() => exportOnnx(loaded, '/not-a-run', { opset: 11 }), /opset must be an integer in 13\.\.17, got 11/);
  // The classifier runs a fixed-batch model in runs of its batch: 10 images through a batch-8 model (8 + 2 padded).
  const dir = mkdtempSync(join(tmpdir(), 'dsdnet-onnx-'));
  writeFileSync(join(dir, 'fixed.onnx'), fixed);
  writeFileSync(join(dir, 'dynamic.onnx'), bytes);
  const [fixedModel, dynamicModel] = await Promise.all([
    OnnxClassifier.load(join(dir, 'fixed.onnx')),
    OnnxClassifier.load(join(dir, 'dynamic.onnx')),
  ]);
  assert.deepEqual([fixedModel.fixedBatch, dynamicModel.fixedBatch], [8, null]);
  const pixels = new Uint8Array(10 * DECODE * DECODE * 3).map((_, i) => (i * 7919) % 256);
  const [a, b] = await Promise.all([fixedModel.logits(pixels, 10), dynamicModel.logits(pixels, 10)]);
  assert.equal(a.length, 10 * loaded.classNames.length);
  assert.ok(maxAbsDiff(a, b) < 1e-4, `fixed-batch logits differ by ${maxAbsDiff(a, b)}`);
  await Promise.all([fixedModel.close(), dynamicModel.close()]);
  loaded.model.dispose();
});

test('OnnxClassifier scores on its own thread: the event loop runs while a batch is scored; a wrong-sized batch is refused', async () => {
  const pixels = new Uint8Array(16 * DECODE * DECODE * 3).map((_, i) => (i * 7919) % 256);
  const loaded = realistic('mobilenet_v2', evalBatch(pixels, 16, DECODE, SIZE));
  const dir = scratch();
  writeFileSync(join(dir, 'model.onnx'), exportOnnx(loaded, '/not-a-run').bytes);
  loaded.model.dispose();
  const classifier = await OnnxClassifier.load(join(dir, 'model.onnx'));
  await classifier.logits(pixels, 16); // the session's slow first run
  // On the main thread (onnxruntime-node's run is synchronous) not one 1 ms timer could fire during the runs.
  let ticks = 0;
  const timer = setInterval(() => ticks++, 1);
  const started = performance.now();
  for (let round = 0; round < 4; round++) await classifier.logits(pixels, 16);
  clearInterval(timer);
  const milliseconds = performance.now() - started;
  console.log(`4 batches of 16 in ${milliseconds.toFixed(0)} ms; the event loop ran a 1 ms timer ${ticks} times`);
  assert.ok(
    ticks >= 10,
    `the event loop ran only ${ticks} timer callbacks in ${milliseconds.toFixed(0)} ms of scoring`,
  );
  await assert.rejects(
    classifier.logits(pixels.subarray(0, 5), 1),
    /model\.onnx: expected 1 decoded images .* got 5 bytes/,
  );
  assert.equal((await classifier.logits(pixels, 16)).length, 16 * 21, 'the session still scores after an error');
  await classifier.close();
});

test('--input uint8: the graph takes decoded pixels and crops and normalises them as dsdnet does (max abs logit difference < 1e-4)', async () => {
  const pixels = new Uint8Array(3 * DECODE * DECODE * 3).map((_, i) => (i * 7919 + (i >> 9)) % 256);
  const batch = evalBatch(pixels, 3, DECODE, SIZE);
  const loaded = realistic('mobilenet_v2', batch);
  const expected = noGrad(() => loaded.model.forward(batch)).data() as Float32Array;
  const { bytes, info } = exportOnnx(loaded, '/not-a-run', { input: 'uint8' });
  assert.equal(readModelInfo(bytes, 'x.onnx').input, 'uint8');
  const session = await ort.InferenceSession.create(bytes);
  assert.deepEqual(session.inputNames, ['pixels']);
  const direct = (await session.run({ pixels: new ort.Tensor('uint8', pixels, [3, DECODE, DECODE, 3]) })).logits
    .data as Float32Array;
  await session.release();
  const dir = scratch();
  writeFileSync(join(dir, 'pixels.onnx'), bytes);
  const classifier = await OnnxClassifier.load(join(dir, 'pixels.onnx'));
  const viaClassifier = await classifier.logits(pixels, 3);
  await classifier.close();
  console.log(
    `uint8 input: max abs difference ${maxAbsDiff(direct, expected).toExponential(2)} (graph), ${maxAbsDiff(viaClassifier, expected).toExponential(2)} (OnnxClassifier)`,
  );
  assert.ok(maxAbsDiff(direct, expected) < 1e-4 && maxAbsDiff(viaClassifier, expected) < 1e-4);
  assert.equal(info.input, 'uint8');
  loaded.model.dispose();
});

test('an op without an ONNX mapping stops the export with its name', () => {
  const model = createBackbone('resnet18', 3);
  const forward = model.forward.bind(model);
  model.forward = (x: Tensor) => forward(x).sigmoid();
  const loaded: LoadedModel = {
    model,
    classNames: ['a', 'b', 'c'],
    backbone: 'resnet18',
    size: 32,
    decodeSize: 37,
    decode: { bands: null, scale: DEFAULT_SCALE },
    source: 'test',
    info: {},
  };
  assert.throws(
    () => exportOnnx(loaded, '/not-a-run'),
    /cannot export: the op sigmoid \(v\d+\) has no ONNX mapping \(mapped: conv2d, batch_norm/,
  );
});

test('CLI: export a run; predict and eval with --engine onnx agree with libtorch, without loading libtorch', async () => {
  const data = await makeSeparableDataset(8);
  const cache = scratch();
  const run = (...args: string[]): ReturnType<typeof spawnSync> =>
    spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', env: { ...process.env, DSDNET_CACHE: cache } });
  const runWithoutLibtorch = (...args: string[]): ReturnType<typeof spawnSync> =>
    spawnSync(process.execPath, ['--import', forbidAddon, cli, ...args], {
      encoding: 'utf8',
      env: { ...process.env, DSDNET_CACHE: cache },
    });
  const out = join(scratch(), 'run');
  const trained = run(
    'train',
    data,
    '--preset',
    'cpu',
    '--method',
    'plain',
    '--size',
    '32',
    '--epochs',
    '2',
    '--batch-size',
    '4',
    '--ratio',
    '0.5',
    '--out',
    out,
    '--quiet',
  );
  assert.equal(trained.status, 0, String(trained.stderr));
  const model = join(scratch(), 'model.onnx');
  const exported = run('export', out, '-o', model, '--fold-bn');
  assert.equal(exported.status, 0, String(exported.stderr));
  assert.match(
    String(exported.stdout),
    /model\.onnx: resnet18, 3 classes, input 32 px, opset 17, batch dynamic, float32 input, 20 BatchNorm folded, \d+\.\d MiB/,
  );
  const info = readModelInfo(readFileSync(model), model);
  assert.equal(info.run.method, 'plain');
  assert.ok(
    typeof (info.run.final as { overallAccuracy: number }).overallAccuracy === 'number',
    'the run finished: its metrics are in the model',
  );
  // The metadata travels with the model and is served: it names the checkpoint and dataset, not where they lay.
  assert.deepEqual([info.run.checkpoint, info.run.dataset], ['latest', basename(data)]);
  assert.ok(
    ![out, data].some((path) => JSON.stringify(info).includes(path)),
    `no machine paths: ${JSON.stringify(info.run)}`,
  );
  const site = join(scratch(), 'site');
  const web = run('export', out, '--web', site);
  assert.equal(web.status, 0, String(web.stderr));
  assert.equal(
    JSON.parse(readFileSync(join(site, 'examples', 'index.json'), 'utf8')).length,
    3,
    "the page's examples come from the run's own dataset",
  );
  const files = ['blue/blue00.png', 'green/green03.png', 'red/red07.png'].map((f) => join(data, f));
  const torchPredictions = JSON.parse(String(run('predict', out, ...files, '--top-k', '3', '--json').stdout)) as {
    top: { label: string; probability: number }[];
  }[];
  const onnxRun = runWithoutLibtorch('predict', model, ...files, '--engine', 'onnx', '--top-k', '3', '--json');
  assert.equal(onnxRun.status, 0, String(onnxRun.stderr));
  const onnxPredictions = JSON.parse(String(onnxRun.stdout)) as typeof torchPredictions;
  onnxPredictions.forEach((p, i) => {
    assert.deepEqual(
      p.top.map((t) => t.label),
      torchPredictions[i].top.map((t) => t.label),
    );
    assert.ok(
      maxAbsDiff(
        p.top.map((t) => t.probability),
        torchPredictions[i].top.map((t) => t.probability),
      ) < 1e-4,
    );
  });
  assert.match(
    String(runWithoutLibtorch('predict', out, files[0]).stderr),
    /libtorch was loaded/,
    'the check does catch libtorch',
  );
  const torchEval = run('eval', out, data);
  const onnxEval = runWithoutLibtorch('eval', model, data, '--engine', 'onnx');
  assert.equal(onnxEval.status, 0, String(onnxEval.stderr));
  assert.match(
    String(onnxEval.stdout),
    /\(onnx\) on 12 images of .* \(test split of the run's ratio 0\.5 and seed 0\)/,
  );
  const oa = (text: string): string => /OA (\d+\.\d\d)%/.exec(text)![1];
  assert.equal(oa(String(onnxEval.stdout)), oa(String(torchEval.stdout)));
  writeFileSync(join(scratch(), 'x'), 'x');
  const notOnnx = run('predict', files[0], files[0], '--engine', 'onnx');
  assert.match(String(notOnnx.stderr), /blue00\.png: not an ONNX model/);
});
