// Feature embeddings: k-NN accuracy and silhouette against hand-computed values, the projections' reproducibility,
// the .npy writer, trained features against untrained ones, and `dsdnet embed` end to end (one run, two runs, refusals).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { scanDataset } from '../src/data/index.js';
import { type FeatureRows, knnAccuracy, poolFeatures, project2d, silhouetteScore } from '../src/explain/index.js';
import { decodeNpy, encodeNpy, readNpy } from '../src/io/index.js';
import { createBackbone } from '../src/models/index.js';
import { decodeForModel, runSplit } from '../src/train/index.js';
import { loadModel } from '../src/trained/index.js';
import { trainQuickRun } from './support/quick-run.js';
import { makeSeparableDataset } from './support/images.js';
import { configureEngine } from '../src/torch/index.js';

// As the commands do: this file scores the runs' images batch after batch.
configureEngine({ retainFreedMemory: true });

const cli = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const scratch = (): string => mkdtempSync(join(tmpdir(), 'dsdnet-embed-'));
const rows = (values: number[][]): FeatureRows => ({
  data: Float32Array.from(values.flat()),
  rows: values.length,
  dim: values[0].length,
});
const close = (actual: number, expected: number, what: string): void =>
  assert.ok(Math.abs(actual - expected) < 1e-6, `${what}: ${actual}, expected ${expected}`);

test('silhouette: s(i) = (b - a) / max(a, b) averaged, by hand on four points, 0 for a class of one', () => {
  // Points 0, 1 (class 0) and 4, 6 (class 1) on a line: a and b per point by hand.
  const line = rows([[0], [1], [4], [6]]);
  const expected = ((5 - 1) / 5 + (4 - 1) / 4 + (3.5 - 2) / 3.5 + (5.5 - 2) / 5.5) / 4;
  close(silhouetteScore(line, [0, 0, 1, 1], 'euclidean'), expected, 'euclidean');
  // A class of one contributes s = 0 (scikit-learn): 0, 1, 4 against 6 alone (a = 2.5, 2, 3.5; b = 6, 5, 2).
  close(
    silhouetteScore(line, [0, 0, 0, 2], 'euclidean'),
    ((6 - 2.5) / 6 + (5 - 2) / 5 + (2 - 3.5) / 3.5 + 0) / 4,
    'singleton',
  );
  // Cosine: directions (1,0), (2,0) against (0,1), (0,3): distances 0 within a class and 1 across, s = 1; scale does not count.
  close(
    silhouetteScore(
      rows([
        [1, 0],
        [2, 0],
        [0, 1],
        [0, 3],
      ]),
      [0, 0, 1, 1],
      'cosine',
    ),
    1,
    'cosine',
  );
  // (1,0), (1,1) against (0,1), (-1,1): cos distances 1 - 1/sqrt2 within, across (1,0)-(0,1) 1, (1,0)-(-1,1) 1 + 1/sqrt2, (1,1)-(0,1) 1 - 1/sqrt2, (1,1)-(-1,1) 1.
  const w = 1 - Math.SQRT1_2;
  const s = [
    [w, (1 + (1 + Math.SQRT1_2)) / 2],
    [w, (w + 1) / 2],
    [w, (1 + w) / 2],
    [w, (1 + Math.SQRT1_2 + 1) / 2],
  ].map(([a, b]) => (b - a) / Math.max(a, b));
  close(
    silhouetteScore(
      rows([
        [1, 0],
        [1, 1],
        [0, 1],
        [-1, 1],
      ]),
      [0, 0, 1, 1],
      'cosine',
    ),
    s.reduce((x, y) => x + y) / 4,
    'cosine by hand',
  );
  assert.throws(() => silhouetteScore(line, [0, 0, 0, 0]), /needs 2 to 3 classes among 4 rows, got 1/);
  assert.throws(() => silhouetteScore(line, [0, 1]), /2 labels for 4 feature rows/);
});

test('k-NN accuracy: majority of the k nearest by cosine distance, ties to the nearest, scale-free', () => {
  const reference = rows([
    [1, 0],
    [0.9, 0.1],
    [0, 1],
    [0.1, 0.9],
    [1, 1],
  ]);
  const labels = [0, 0, 1, 1, 1];
  // (1, 0.2): nearest 3 are (0.9,0.1), (1,0), (1,1) -> 0 (right); (0.6, 0.4): (1,1), (0.9,0.1), (1,0) -> 0 (wrong).
  const r = knnAccuracy(
    reference,
    labels,
    rows([
      [1, 0.2],
      [0.6, 0.4],
    ]),
    [0, 1],
    { k: 3 },
  );
  assert.deepEqual(r, { accuracy: 0.5, correct: 1, count: 2, k: 3, distance: 'cosine' });
  assert.equal(
    knnAccuracy(
      reference,
      labels,
      rows([
        [10, 2],
        [6, 4],
      ]),
      [0, 1],
      { k: 3 },
    ).accuracy,
    0.5,
    'cosine ignores length',
  );
  // Euclidean sees (0.6,0.4) nearest (0.9,0.1), (1,0), (0.1,0.9): still 0, but k = 1 picks (1,1) by cosine, (0.9,0.1) by euclidean.
  assert.equal(knnAccuracy(reference, labels, rows([[0.6, 0.4]]), [1], { k: 1 }).accuracy, 1);
  assert.equal(knnAccuracy(reference, labels, rows([[0.6, 0.4]]), [1], { k: 1, distance: 'euclidean' }).accuracy, 0);
  // k = 2 with one vote each: the nearer neighbour's class wins, whichever order the reference lists them in.
  assert.equal(
    knnAccuracy(
      rows([
        [0, 1],
        [1, 0.05],
      ]),
      [1, 0],
      rows([[1, 0]]),
      [0],
      { k: 2 },
    ).accuracy,
    1,
  );
  assert.equal(
    knnAccuracy(
      rows([
        [1, 0.05],
        [0, 1],
      ]),
      [0, 1],
      rows([[1, 0]]),
      [0],
      { k: 2 },
    ).accuracy,
    1,
  );
  assert.throws(() => knnAccuracy(reference, labels, rows([[1, 0]]), [0], { k: 6 }), /k = 6 needs 1 <= k <= 5/);
});

test('projections are reproducible from their seed: UMAP and exact t-SNE', () => {
  // Two clusters of 12 points in 8 dimensions.
  const values = Array.from({ length: 24 }, (_, i) =>
    Array.from({ length: 8 }, (_, d) => (d === (i < 12 ? 0 : 1) ? 1 : 0) + 0.05 * Math.sin(i * 7 + d * 3)),
  );
  const features = rows(values);
  for (const method of ['umap', 'tsne'] as const) {
    const a = project2d(features, method, 3);
    assert.deepEqual(project2d(features, method, 3).points, a.points, `${method}: same seed, same points`);
    assert.notDeepEqual(project2d(features, method, 4).points, a.points, `${method}: another seed, another layout`);
    assert.equal(a.points.length, 24);
    // The two clusters stay apart in 2-D: every point is nearer its own cluster's centre.
    const centre = (from: number): number[] =>
      [0, 1].map((c) => a.points.slice(from, from + 12).reduce((s, p) => s + p[c], 0) / 12);
    const [c0, c1] = [centre(0), centre(12)];
    const nearer = a.points.filter(
      (p, i) => Math.hypot(p[0] - c0[0], p[1] - c0[1]) < Math.hypot(p[0] - c1[0], p[1] - c1[1]) === i < 12,
    );
    assert.equal(nearer.length, 24, `${method}: clusters kept apart`);
  }
});

test('.npy writer: float32 rows that the reader reads back, data 64-byte aligned', () => {
  const data = Float32Array.from({ length: 6 }, (_, i) => i / 3 - 1);
  const bytes = encodeNpy(data, [2, 3]);
  assert.equal((bytes.length - data.byteLength) % 64, 0);
  const t = decodeNpy(bytes, 'x.npy');
  assert.deepEqual(t.shape, [2, 3]);
  assert.deepEqual(t.data(), data);
  assert.throws(() => encodeNpy(data, [4, 2]), /shape \(4, 2\) holds 8 values, the data 6/);
});

let dataset: string;
let trained: string;
let other: string;

test('trained features separate the classes: high k-NN accuracy, positive silhouette, both above an untrained network', async () => {
  dataset = await makeSeparableDataset(16);
  trained = join(scratch(), 'plain');
  await trainQuickRun(dataset, trained);
  other = join(scratch(), 'dsd');
  await trainQuickRun(dataset, other, { method: 'dsd', epochs: 1 });

  const loaded = loadModel(trained);
  const data = await scanDataset(dataset);
  const { images, positions } = await decodeForModel(data, loaded, runSplit(trained, data)!.split);
  const untrained = createBackbone('resnet18', 3);
  const numbers = (model: typeof untrained): { knn: number; silhouette: number } => {
    const [trainRows, testRows] = [positions('train'), positions('test')];
    const f = (indices: number[]): FeatureRows => poolFeatures(model, images, indices, { outputSize: loaded.size });
    const testFeatures = f(testRows);
    assert.equal(testFeatures.dim, 512);
    const label = (i: number): number => images.labels[i];
    return {
      knn: knnAccuracy(f(trainRows), trainRows.map(label), testFeatures, testRows.map(label)).accuracy,
      silhouette: silhouetteScore(testFeatures, testRows.map(label)),
    };
  };
  const after = numbers(loaded.model);
  const before = numbers(untrained);
  console.log(
    `separable 3 classes, 24 test images: trained k-NN ${after.knn.toFixed(3)} silhouette ${after.silhouette.toFixed(3)}; untrained k-NN ${before.knn.toFixed(3)} silhouette ${before.silhouette.toFixed(3)} (k = 5, cosine)`,
  );
  images.close();
  untrained.dispose();
  loaded.model.dispose();
  assert.ok(after.knn >= 0.9, `trained k-NN accuracy ${after.knn}`);
  assert.ok(after.silhouette > 0, `trained silhouette ${after.silhouette}`);
  assert.ok(
    after.silhouette > before.silhouette,
    `trained silhouette ${after.silhouette} above untrained ${before.silhouette}`,
  );
  assert.ok(after.knn >= before.knn, `trained k-NN ${after.knn} not below untrained ${before.knn}`);
});

const run = (...args: string[]) => spawnSync(process.execPath, [cli, 'embed', ...args], { encoding: 'utf8' });

test('dsdnet embed RUN writes embedding.json, the chart and features.npy with its index', () => {
  const out = join(scratch(), 'one');
  const features = join(scratch(), 'features.npy');
  const result = run(trained, '-o', out, '--out', features);
  assert.equal(result.status, 0, result.stderr);
  assert.match(
    result.stdout,
    /k-NN accuracy \d+\.\d\d% \(k = 5, cosine\), silhouette -?\d\.\d{3} \(cosine\); test split \(24 images\) against train split \(24 images\)/,
  );
  const summary = JSON.parse(readFileSync(join(out, 'embedding.json'), 'utf8'));
  assert.equal(summary.method, 'umap');
  assert.equal(summary.split, 'test');
  const [one] = summary.runs;
  assert.equal(one.points.length, 24);
  assert.deepEqual(Object.keys(one.points[0]).sort(), ['className', 'file', 'label', 'split', 'x', 'y']);
  assert.equal(one.knn.k, 5);
  assert.equal(one.silhouette.distance, 'cosine');
  assert.ok(one.knn.accuracy >= 0.9);
  const svg = readFileSync(join(out, 'embedding.svg'), 'utf8');
  assert.match(svg, /^<svg/);
  assert.match(svg, /k-NN accuracy/);
  assert.ok(JSON.parse(readFileSync(join(out, 'embedding.vl.json'), 'utf8')).$schema);
  assert.deepEqual([...readFileSync(join(out, 'embedding.png')).subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47]);
  const matrix = readNpy(features);
  assert.deepEqual(matrix.shape, [24, 512]);
  const index = JSON.parse(readFileSync(features.replace(/\.npy$/, '.index.json'), 'utf8'));
  assert.equal(index.length, 24);
  assert.deepEqual(
    index.map((r: { file: string }) => r.file),
    one.points.map((p: { file: string }) => p.file),
  );
  assert.ok(
    index.every((r: { className: string; label: number }) => ['blue', 'green', 'red'][r.label] === r.className),
  );
  // Default output folder, t-SNE and the train split.
  const tsne = run(trained, '--method', 'tsne', '--split', 'train');
  assert.equal(tsne.status, 0, tsne.stderr);
  assert.equal(
    JSON.parse(readFileSync(join(trained, 'embedding', 'embedding.json'), 'utf8')).runs[0].points.length,
    24,
  );
});

test("dsdnet embed RUN_A RUN_B writes one side-by-side chart with both runs' numbers", () => {
  const out = join(scratch(), 'two');
  const result = run(trained, other, dataset, '-o', out);
  assert.equal(result.status, 0, result.stderr);
  const spec = JSON.parse(readFileSync(join(out, 'embedding.vl.json'), 'utf8'));
  assert.equal(spec.hconcat.length, 2);
  assert.deepEqual(
    spec.hconcat.map((p: { title: string[] }) => p.title[0]),
    ['plain', 'dsd'],
  );
  for (const panel of spec.hconcat) {
    assert.match(panel.title[1], /^k-NN accuracy \d+\.\d\d% \(k = 5, cosine\)$/);
    assert.match(panel.title[2], /^silhouette -?\d\.\d{3} \(cosine\)$/);
  }
  assert.equal(JSON.parse(readFileSync(join(out, 'embedding.json'), 'utf8')).runs.length, 2);
  const svg = readFileSync(join(out, 'embedding.svg'), 'utf8');
  for (const line of spec.hconcat.flatMap((p: { title: string[] }) => p.title))
    assert.ok(svg.includes(line), `the rendered chart shows '${line}'`);
});

test('dsdnet embed refuses an existing output folder, a bad --split, a missing run, --out with two runs, by name', () => {
  const full = join(scratch(), 'full');
  mkdirSync(full);
  writeFileSync(join(full, 'mine.txt'), 'keep');
  const refused = run(trained, '-o', full);
  assert.equal(refused.status, 1);
  assert.match(refused.stderr, new RegExp(`${full}: the output folder exists and is not empty`));
  assert.equal(readFileSync(join(full, 'mine.txt'), 'utf8'), 'keep');
  assert.match(
    run(trained, '--split', 'val').stderr,
    /option '--split <part>' argument 'val' is invalid\. Allowed choices are train, test, all/,
  );
  const missing = join(scratch(), 'nothing');
  assert.match(run(missing).stderr, new RegExp(`${missing}: no such run or dataset folder`));
  assert.match(run(dataset).stderr, /not a run folder/);
  assert.match(run(trained, other, '--out', join(scratch(), 'f.npy')).stderr, /--out writes the features of one run/);
  const features = join(scratch(), 'taken.npy');
  writeFileSync(features, 'mine');
  const unwritten = join(scratch(), 'unwritten');
  assert.match(
    run(trained, '-o', unwritten, '--out', features).stderr,
    new RegExp(`${features}: exists; choose another --out`),
  );
  assert.equal(readFileSync(features, 'utf8'), 'mine');
  assert.ok(!existsSync(unwritten), 'refused before anything was written');
});
