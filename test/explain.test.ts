// Grad-CAM and Grad-CAM++: the maps of ResNet-18 and MobileNetV2 against PyTorch's autograd computing the papers'
// formulas with the same weights (fixtures/gradcam.json); a classifier trained on images whose only evidence is one
// coloured square finds that square; the CLI writes overlays, raw maps and a montage, and the stage heads of an sd run.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import sharp from 'sharp';

import { classActivationMaps, upsampleMaps } from '../src/explain/index.js';
import { readNpy } from '../src/io/index.js';
import { createBackbone } from '../src/models/index.js';
import { Adam } from '../src/optim/index.js';
import { Rng } from '../src/data/index.js';
import { arange, configureEngine, F, manualSeed, type Tensor, tensor, tidy } from '../src/torch/index.js';
import { pickExamples } from '../src/serve/index.js';
import { deterministicState } from './support/deterministic.js';
import { makeSeparableDataset } from './support/images.js';
import { readFixture } from './helpers.js';
import { trainQuickRun } from './support/quick-run.js';

// As the commands do: the square classifier trains 60 steps and is explained batch after batch.
configureEngine({ retainFreedMemory: true });

interface CamCase {
  classes: number[];
  shape: number[];
  maps: number[];
  upsampled?: number[];
}

const fixture = readFixture<{ size: number; cases: Record<string, CamCase> }>('gradcam.json');

function assertClose(actual: ArrayLike<number>, expected: number[], what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  const scale = Math.max(1e-6, ...expected.map(Math.abs));
  let worst = 0;
  for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(actual[i] - expected[i]) / scale);
  assert.ok(worst < 1e-4, `${what}: differs from PyTorch by ${worst} of the largest value`);
}

test('Grad-CAM and Grad-CAM++ equal PyTorch for ResNet-18 and MobileNetV2 at stages 4 and 3', () => {
  const { size } = fixture;
  for (const backbone of ['resnet18', 'mobilenet_v2'] as const) {
    const model = createBackbone(backbone, 10);
    model.loadStateDict(deterministicState(model));
    model.eval();
    const input = arange(2 * 3 * size * size, undefined, 1, { dtype: 'float64' })
      .mul(0.05)
      .sin()
      .float()
      .reshape([2, 3, size, size]);
    for (const stage of [4, 3]) {
      for (const method of ['gradcam', 'gradcam++'] as const) {
        const expected = fixture.cases[`${backbone} stage ${stage} ${method}`];
        const cams = classActivationMaps(model, input, { stage, method });
        assert.deepEqual(
          [cams.classes, [2, cams.height, cams.width]],
          [expected.classes, expected.shape],
          `${backbone} stage ${stage} ${method}`,
        );
        assertClose(cams.maps, expected.maps, `${backbone} stage ${stage} ${method}`);
        if (expected.upsampled)
          assertClose(
            upsampleMaps(cams, 2, size).subarray(0, size * size),
            expected.upsampled,
            `${backbone} upsampled`,
          );
      }
    }
    assert.ok(
      model.parameters().every((p) => p.grad === null),
      'no parameter keeps a gradient',
    );
    input.dispose();
    model.dispose();
  }
});

const SIZE = 64;
const SQUARE = 16;

/** Grey noise with one coloured square (red: class 0, blue: class 1) at (x, y): the square is the only evidence. */
function scene(rng: Rng, label: number, x: number, y: number): Float32Array {
  const out = new Float32Array(3 * SIZE * SIZE);
  for (let p = 0; p < SIZE * SIZE; p++) {
    const grey = 0.5 + (rng.next() - 0.5) * 0.4;
    const inside =
      p % SIZE >= x && p % SIZE < x + SQUARE && Math.floor(p / SIZE) >= y && Math.floor(p / SIZE) < y + SQUARE;
    const rgb = inside ? (label === 0 ? [0.85, 0.15, 0.15] : [0.15, 0.15, 0.85]) : [grey, grey, grey];
    for (let c = 0; c < 3; c++) out[c * SIZE * SIZE + p] = (rgb[c] - 0.5) / 0.25;
  }
  return out;
}

function batchOf(rng: Rng, count: number): { input: Tensor; labels: number[]; corners: [number, number][] } {
  const data = new Float32Array(count * 3 * SIZE * SIZE);
  const labels: number[] = [];
  const corners: [number, number][] = [];
  for (let i = 0; i < count; i++) {
    const label = i % 2;
    const corner: [number, number] = [
      Math.floor(rng.next() * (SIZE - SQUARE + 1)),
      Math.floor(rng.next() * (SIZE - SQUARE + 1)),
    ];
    data.set(scene(rng, label, ...corner), i * 3 * SIZE * SIZE);
    labels.push(label);
    corners.push(corner);
  }
  return { input: tensor(data).reshape([count, 3, SIZE, SIZE]), labels, corners };
}

test('a classifier whose only evidence is a coloured square: its Grad-CAM and Grad-CAM++ peak on the square', () => {
  manualSeed(0);
  const rng = new Rng(7);
  const model = createBackbone('resnet18', 2);
  const optimizer = new Adam(model.parameters(), { lr: 1e-3 });
  model.train();
  for (let step = 0; step < 60; step++) {
    const { input, labels } = batchOf(rng, 16);
    tidy(() => {
      const loss = F.crossEntropy(model.forward(input), tensor(labels, { dtype: 'int64' }));
      optimizer.zeroGrad();
      loss.backward();
      optimizer.step();
    });
    input.dispose();
  }
  model.eval();
  const { input, labels, corners } = batchOf(rng, 32);
  const predicted = Array.from(
    tidy(() => model.forward(input).argmax(1).data() as BigInt64Array),
    Number,
  );
  const accuracy = predicted.filter((p, i) => p === labels[i]).length / labels.length;
  assert.ok(accuracy >= 0.9, `the classifier learnt the squares (${accuracy})`);
  // At 64 px the last stage is 2 x 2 and every cell sees the whole image: stages 3 (4 x 4) and 2 (8 x 8) are where
  // a map can point. Pointing: the map's peak on the square or within 16 px of it (by chance: 18 of 32).
  // Concentration: the map's share on the square over the square's share of the image (by chance: 1).
  for (const [method, stage] of [
    ['gradcam', 3],
    ['gradcam', 2],
    ['gradcam++', 2],
  ] as const) {
    const maps = upsampleMaps(classActivationMaps(model, input, { stage, method, classes: labels }), 32, SIZE);
    let pointing = 0;
    let concentration = 0;
    for (let i = 0; i < 32; i++) {
      const map = maps.subarray(i * SIZE * SIZE, (i + 1) * SIZE * SIZE);
      const [x, y] = corners[i];
      const near = (p: number, margin: number): boolean =>
        p % SIZE >= x - margin &&
        p % SIZE < x + SQUARE + margin &&
        Math.floor(p / SIZE) >= y - margin &&
        Math.floor(p / SIZE) < y + SQUARE + margin;
      if (near(map.indexOf(Math.max(...map)), 16)) pointing++;
      const total = map.reduce((a, b) => a + b, 0);
      const inside = map.reduce((a, v, p) => a + (near(p, 0) ? v : 0), 0);
      concentration += total > 0 ? inside / total / ((SQUARE * SQUARE) / (SIZE * SIZE)) / 32 : 0;
    }
    console.log(
      `${method} at stage ${stage}: peak on or next to the square in ${pointing} of 32 images; ${concentration.toFixed(2)}x the square's share of the map`,
    );
    assert.ok(
      pointing >= 24 || concentration >= 1.5,
      `${method} at stage ${stage}: pointing ${pointing} of 32, concentration ${concentration}`,
    );
  }
  input.dispose();
  model.dispose();
});

test('CLI: explain writes a picture and the raw maps per image, a montage and explain.json; an sd run shows its heads; bad requests are refused by name', async () => {
  const data = await makeSeparableDataset(8, 48);
  const run = join(mkdtempSync(join(tmpdir(), 'dsdnet-explain-')), 'run');
  await trainQuickRun(data, run, { method: 'sd', epochs: 2 });
  const images = pickExamples(data, 3);
  const out = join(mkdtempSync(join(tmpdir(), 'dsdnet-explain-')), 'maps');
  const cli = (...args: string[]): ReturnType<typeof spawnSync> =>
    spawnSync(process.execPath, [fileURLToPath(new URL('../src/cli/main.js', import.meta.url)), 'explain', ...args], {
      encoding: 'utf8',
    });
  const ok = cli(run, ...images, '-o', out, '--stage', 'all', '--class', 'red');
  assert.equal(ok.status, 0, String(ok.stderr));
  const summary = JSON.parse(readFileSync(join(out, 'explain.json'), 'utf8')) as {
    images: { png: string; npy: string; explained: string; panels: string[] }[];
  };
  assert.deepEqual(summary.images[0].panels, ['stage 2', 'stage 3', 'stage 4', 'head 1', 'head 2', 'head 3']);
  assert.ok(summary.images.every((i) => i.explained === 'red'));
  const maps = readNpy(join(out, summary.images[0].npy));
  assert.deepEqual(maps.shape, [6, 32, 32]);
  assert.ok((maps.max().item() as number) > 0, 'the maps are not blank');
  for (const file of [...summary.images.map((i) => i.png), 'montage.png'])
    assert.equal((await sharp(join(out, file)).metadata()).format, 'png', file);
  assert.match(String(cli(run, ...images, '-o', out).stderr), /the output folder already holds files/);
  assert.match(
    String(cli(run, images[0], '-o', `${out}-2`, '--class', 'purple').stderr),
    /--class purple: not a class of this model \(blue, green, red\)/,
  );
  assert.match(
    String(cli(run, images[0], '-o', `${out}-3`, '--stage', '5').stderr),
    /--stage.*expected 4, 3, 2, 1 or all, got '5'/,
  );
  assert.match(String(cli(run, join(data, 'missing.png'), '-o', `${out}-4`).stderr), /missing\.png/);
});
