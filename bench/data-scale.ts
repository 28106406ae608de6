// The data pipeline at NWPU-RESISC45's scale: 31,500 generated 256 px JPEGs in 45 classes (synthetic textures, made
// once into --dir), decoded at 224 px into a fresh cache (4.7 GB: more than one typed array or readFileSync can hold),
// reloaded, read image by image in a shuffled full pass, fed through the loader with the recipe's augmentation, and
// trained on for a few ResNet-18 steps. Prints times, rates and the peak RSS of each phase (VmHWM, reset per phase).
// Usage: node dist/bench/data-scale.js [--dir /tmp/dsdnet-nwpu-synthetic] [--images 31500] [--classes 45] [--size 224] [--steps 10] [--generate-only]
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';

import sharp from 'sharp';

import { BatchLoader, loadDecoded, mapLimit, RECIPE_AUGMENT, Rng, scanDataset } from '../src/data/index.js';
import { createBackbone } from '../src/models/index.js';
import { SGD } from '../src/optim/index.js';
import { configureEngine, F, getNumThreads, tidy } from '../src/torch/index.js';
import { peakRssMiB, resetPeakRss } from './peak-rss.js';

const { values } = parseArgs({
  options: {
    dir: { type: 'string', default: join(tmpdir(), 'dsdnet-nwpu-synthetic') },
    images: { type: 'string', default: '31500' },
    classes: { type: 'string', default: '45' },
    size: { type: 'string', default: '224' },
    steps: { type: 'string', default: '10' },
    'generate-only': { type: 'boolean', default: false },
  },
});
const [total, classes, size, steps] = [
  Number(values.images),
  Number(values.classes),
  Number(values.size),
  Number(values.steps),
];
const perClass = Math.ceil(total / classes);
const root = values.dir!;
const seconds = (start: number): number => (performance.now() - start) / 1000;
const SOURCE = 256;

/** A class texture (512 px, seeded), from which each image is a shifted, brightness-modulated 256 px window. */
function texture(label: number): Uint8Array {
  const rng = new Rng(label + 1);
  const [fx, fy, base] = [
    1 + rng.next() * 12,
    1 + rng.next() * 12,
    [rng.next() * 255, rng.next() * 255, rng.next() * 255],
  ];
  const out = new Uint8Array(512 * 512 * 3);
  for (let y = 0; y < 512; y++) {
    for (let x = 0; x < 512; x++) {
      const wave = 60 * Math.sin((x * fx) / 80) * Math.cos((y * fy) / 80);
      for (let c = 0; c < 3; c++)
        out[(y * 512 + x) * 3 + c] = Math.max(0, Math.min(255, base[c] + wave + 40 * (rng.next() - 0.5)));
    }
  }
  return out;
}

async function generate(): Promise<void> {
  const done =
    existsSync(root) && readdirSync(root).length === classes && readdirSync(join(root, 'class00')).length === perClass;
  if (done) return;
  rmSync(root, { recursive: true, force: true });
  const start = performance.now();
  for (let label = 0; label < classes; label++) {
    const dir = join(root, `class${String(label).padStart(2, '0')}`);
    mkdirSync(dir, { recursive: true });
    const source = texture(label);
    const rng = new Rng(1000 + label);
    await mapLimit(
      Array.from({ length: perClass }, (_, i) => i),
      4,
      async (i) => {
        const [left, top, gain] = [
          Math.floor(rng.next() * SOURCE),
          Math.floor(rng.next() * SOURCE),
          0.7 + 0.6 * rng.next(),
        ];
        const jpeg = await sharp(source, { raw: { width: 512, height: 512, channels: 3 } })
          .extract({ left, top, width: SOURCE, height: SOURCE })
          .linear(gain, 0)
          .jpeg({ quality: 90 })
          .toBuffer();
        writeFileSync(join(dir, `${String(i).padStart(4, '0')}.jpg`), jpeg);
      },
    );
  }
  console.log(`generated ${classes * perClass} JPEGs in ${root} in ${seconds(start).toFixed(0)} s`);
}

configureEngine({ retainFreedMemory: true }); // the allocation policy of the training commands
await generate();
if (values['generate-only']) process.exit(0);
const rows: string[] = [];
const row = (measure: string, value: string, rss: boolean): void =>
  void rows.push(`| ${measure} | ${value} | ${rss ? `${peakRssMiB().toFixed(0)} MiB` : ''} |`);

resetPeakRss();
let start = performance.now();
const dataset = await scanDataset(root);
row(`scan (${dataset.items.length} images, ${dataset.classes.length} classes)`, `${seconds(start).toFixed(1)} s`, true);

const cacheDir = mkdtempSync(join(tmpdir(), 'dsdnet-scale-cache-'));
try {
  resetPeakRss();
  start = performance.now();
  (await loadDecoded(dataset, { size, cacheDir, progress: false })).close();
  const decodeSeconds = seconds(start);
  const cacheBytes = readdirSync(cacheDir).reduce((sum, f) => sum + statSync(join(cacheDir, f)).size, 0);
  row(
    `first decode at ${size} px (cache: ${(cacheBytes / 1e9).toFixed(2)} GB in ${readdirSync(cacheDir).length} shards)`,
    `${decodeSeconds.toFixed(0)} s, ${(dataset.items.length / decodeSeconds).toFixed(0)} images/s`,
    true,
  );

  resetPeakRss();
  start = performance.now();
  const images = await loadDecoded(dataset, { size, cacheDir, progress: false });
  if (!images.fromCache) throw new Error('the second load did not come from the cache');
  row('cached reload', `${seconds(start).toFixed(2)} s`, true);

  resetPeakRss();
  const all = images.paths.map((_, i) => i);
  const order = new Rng(0).shuffle([...all]);
  start = performance.now();
  for (let b = 0; b < order.length; b += 32) images.read(order.slice(b, b + 32));
  row(
    'full pass, shuffled, batches of 32 read from the shards',
    `${(order.length / seconds(start)).toFixed(0)} images/s`,
    true,
  );

  resetPeakRss();
  const loader = new BatchLoader(images, all, {
    batchSize: 32,
    shuffle: true,
    seed: 0,
    dropLast: true,
    augment: RECIPE_AUGMENT,
  });
  const epochOrder = loader.order(0);
  const batches = 60;
  start = performance.now();
  for (let b = 0; b < batches; b++) tidy(() => void loader.batch(epochOrder, 0, b));
  row(
    `loader, full augmentation, ${size} px, batch 32 (${batches} batches)`,
    `${((batches * 32) / seconds(start)).toFixed(0)} images/s`,
    true,
  );

  resetPeakRss();
  const model = createBackbone('resnet18', dataset.classes.length);
  const optimizer = new SGD(model.parameters(), { lr: 0.01, momentum: 0.9 });
  start = performance.now();
  for (let b = 0; b < steps; b++) {
    tidy(() => {
      const batch = loader.batch(epochOrder, 0, batches + b);
      F.crossEntropy(model.forward(batch.input), batch.labels).backward();
      optimizer.step();
      optimizer.zeroGrad();
    });
  }
  row(
    `ResNet-18 training from the cache, ${size} px, batch 32 (${steps} steps)`,
    `${((steps * 32) / seconds(start)).toFixed(0)} images/s`,
    true,
  );
  images.close();
} finally {
  rmSync(cacheDir, { recursive: true, force: true });
}
console.log(
  `${dataset.items.length} generated images (NWPU-RESISC45's count), ${getNumThreads()} threads, Node ${process.version}`,
);
console.log('| measure | value | peak RSS of the phase |\n|---|---|---|\n' + rows.join('\n'));
