// `dsdnet map` against bare batched inference: windows/s of the whole map (reading the scene, preparing windows,
// scoring, saving progress) over windows/s of the model's probabilities alone on the same prepared batches, as a
// ratio (target >= 0.8x); and, with --rss, the peak RSS of `dsdnet map` as a process on the scene.
// The scene is generated (striped class colours, so that it is small on disk), tiled and deflate-compressed.
// Usage: node dist/bench/map.js MODEL [--size 4096] [--tile 256] [--stride 128] [--batch 32] [--max-memory 256] [--rss]
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { prepareRaw } from '../src/data/index.js';
import { makeGrid, mapScene, TiledTiffWriter } from '../src/map/index.js';
import { readSpan } from '../src/map/grid.js';
import { openScene, RowBand, windowRgb } from '../src/map/scene.js';
import { openServedModel } from '../src/serve/index.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    size: { type: 'string', default: '4096' },
    tile: { type: 'string', default: '256' },
    stride: { type: 'string', default: '128' },
    batch: { type: 'string', default: '32' },
    'max-memory': { type: 'string', default: '256' },
    rss: { type: 'boolean', default: false },
  },
});
const [model] = positionals;
if (!model)
  throw new Error(
    'usage: node dist/bench/map.js MODEL [--size 4096] [--tile 256] [--stride 128] [--batch 32] [--max-memory 256] [--rss]',
  );
const [size, tile, stride, batch, maxMemory] = [
  values.size,
  values.tile,
  values.stride,
  values.batch,
  values['max-memory'],
].map(Number);
const dir = mkdtempSync(join(tmpdir(), 'dsdnet-bench-map-'));

/** Vertical bands of three colours with diagonal stripes: compresses well, and the model sees some structure. */
async function writeScene(path: string, side: number): Promise<void> {
  const writer = new TiledTiffWriter(path, { width: side, height: side, bands: 3, tile: 256, photometric: 'rgb' });
  const rows = new Uint8Array(256 * side * 3);
  for (let top = 0; top < side; top += 256) {
    for (let y = 0; y < 256; y++)
      for (let x = 0; x < side; x++) {
        const c = Math.min(2, Math.floor((3 * x) / side));
        const stripe = ((x + top + y) >> 3) % 2 === 0 ? 30 : -30;
        for (let k = 0; k < 3; k++) rows[(y * side + x) * 3 + k] = (k === 2 - c ? 170 : 40) + stripe;
      }
    await writer.writeTileRow(rows, Math.min(256, side - top));
  }
  writer.finish();
}

const scenePath = join(dir, 'scene.tif');
let started = performance.now();
await writeScene(scenePath, size);
console.log(
  `scene: ${size} x ${size} px RGB, ${(statSync(scenePath).size / 2 ** 20).toFixed(1)} MiB on disk (generated in ${((performance.now() - started) / 1000).toFixed(1)} s)`,
);

if (values.rss) {
  // The whole command as users run it, its peak RSS read from /proc while it runs (VmHWM only grows).
  const cli = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
  const args = [
    'map',
    model,
    scenePath,
    '-o',
    join(dir, 'map.tif'),
    '--tile',
    String(tile),
    '--stride',
    String(stride),
    '--batch',
    String(batch),
    '--max-memory',
    String(maxMemory),
    '--no-progress',
  ];
  started = performance.now();
  const child = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d));
  let peak = 0;
  const poll = setInterval(() => {
    const status = existsSync(`/proc/${child.pid}/status`) ? readFileSync(`/proc/${child.pid}/status`, 'utf8') : '';
    peak = Math.max(peak, Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024);
  }, 200);
  const code = await new Promise((resolve) => child.on('exit', resolve));
  clearInterval(poll);
  console.log(out.trim());
  console.log(
    `dsdnet ${args.join(' ')}: exit ${code}, ${((performance.now() - started) / 1000).toFixed(0)} s, peak RSS ${peak.toFixed(0)} MiB (--max-memory ${maxMemory} bounds the map's buffers; the rest is Node, the model and ONNX Runtime)`,
  );
  rmSync(dir, { recursive: true, force: true });
  process.exit(0);
}

// Bare inference: the scene's first windows prepared exactly as the map prepares them, scored batch after batch,
// cycling through them for as many windows as the map scores.
const served = await openServedModel(model);
const decode = served.info.decodeSize;
const scene = await openScene(scenePath, null);
const grid = makeGrid(size, size, tile, stride);
const prepared: Uint8Array[] = [];
const band = new RowBand(scene, Math.min(tile, size));
for (let index = 0; index < Math.min(grid.count, 8 * batch); index++) {
  const [ix, iy] = [index % grid.across, Math.floor(index / grid.across)];
  const rows = await band.cover(...readSpan(iy * stride, tile, size));
  const rgb = new Uint8Array(tile * tile * 3);
  windowRgb(scene, rows, band.top, ix * stride, iy * stride, tile, rgb);
  prepared.push(await prepareRaw({ width: tile, height: tile, data: rgb }, decode, 'cover'));
}
const batches: Uint8Array[] = [];
for (let i = 0; i + batch <= prepared.length; i += batch) {
  const pixels = new Uint8Array(batch * decode * decode * 3);
  prepared.slice(i, i + batch).forEach((p, k) => pixels.set(p, k * p.length));
  batches.push(pixels);
}
if (batches.length === 0)
  batches.push(
    prepared.reduce(
      (all, p, k) => (all.set(p, k * p.length), all),
      new Uint8Array(prepared.length * decode * decode * 3),
    ),
  );
await served.probabilities(batches[0], batches[0].length / (decode * decode * 3)); // warm-up
await scene.tiff.close();

async function bare(): Promise<number> {
  let windows = 0;
  const start = performance.now();
  for (let b = 0; windows < grid.count; b++) {
    const pixels = batches[b % batches.length];
    const count = Math.min(pixels.length / (decode * decode * 3), grid.count - windows);
    await served.probabilities(pixels.subarray(0, count * decode * decode * 3), count);
    windows += count;
  }
  return windows / ((performance.now() - start) / 1000);
}

/** Batches a fresh ONNX Runtime session needs before it runs at its steady speed (its first run is ~5x slower). */
const WARM_BATCHES = 5;

/** The map's phase 1: windows/s over the whole phase, and after its session's first WARM_BATCHES batches. */
async function whole(round: number): Promise<{ all: number; steady: number }> {
  const times: number[] = [];
  const result = await mapScene({
    model,
    scene: scenePath,
    output: join(dir, `map-${round}.tif`),
    tile,
    stride,
    batch,
    maxMemoryMB: maxMemory,
    showProgress: false,
    onBatch: () => times.push(performance.now()),
    warn: () => undefined,
  });
  const steadyWindows = result.scored - WARM_BATCHES * batch;
  const steadySeconds = (times[times.length - 1] - times[WARM_BATCHES - 1]) / 1000;
  return { all: result.scored / result.scoreSeconds, steady: steadyWindows / steadySeconds };
}

// Alternating, twice each; the medians of two are their means. Bare inference runs on a warm session, so the map is
// compared over its steady part too (its own session's warm-up is reported, not hidden: the "whole phase" column).
const [bareRates, mapRates, steadyRates] = [[] as number[], [] as number[], [] as number[]];
for (let round = 0; round < 2; round++) {
  bareRates.push(await bare());
  const rates = await whole(round);
  mapRates.push(rates.all);
  steadyRates.push(rates.steady);
}
await served.close();
const mean = (list: number[]): number => list.reduce((a, b) => a + b, 0) / list.length;
const cell = (list: number[]): string => `${mean(list).toFixed(1)} (${list.map((r) => r.toFixed(1)).join(', ')})`;
console.log(
  `${grid.count} windows of ${tile} px every ${stride} px, batch ${batch}, model ${served.info.backbone} at ${served.info.inputSize} px (decode ${decode} px)`,
);
console.log(
  `| bare inference, warm session (windows/s) | map phase 1, whole (windows/s) | map / bare | map phase 1 after ${WARM_BATCHES} batches (windows/s) | steady map / bare |\n|---|---|---|---|---|`,
);
console.log(
  `| ${cell(bareRates)} | ${cell(mapRates)} | ${(mean(mapRates) / mean(bareRates)).toFixed(2)}x | ${cell(steadyRates)} | ${(mean(steadyRates) / mean(bareRates)).toFixed(2)}x |`,
);
rmSync(dir, { recursive: true, force: true });
