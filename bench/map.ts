// `dsdnet map` against bare batched inference: windows/s of the map's phase 1 (reading the scene, preparing windows,
// scoring, saving progress) over windows/s of the model's probabilities alone on the same prepared batches, each from
// a fresh session, as a ratio (target >= 0.8x); and, with --rss, the peak RSS of `dsdnet map` as a process.
// The scene is generated (striped class colours, so that it is small on disk), tiled and deflate-compressed.
// Usage: node dist/bench/map.js MODEL [--size 4096] [--tile 256] [--stride 128] [--batch 32] [--max-memory 256] [--rounds 2] [--rss]
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
    rounds: { type: 'string', default: '2' },
    rss: { type: 'boolean', default: false },
  },
});
const [model] = positionals;
if (!model)
  throw new Error(
    'usage: node dist/bench/map.js MODEL [--size 4096] [--tile 256] [--stride 128] [--batch 32] [--max-memory 256] [--rounds 2] [--rss]',
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
const { backbone, inputSize } = served.info;
await served.close();
await scene.tiff.close();

/** Batches a fresh ONNX Runtime session needs before it runs at its steady speed (its first run is ~5x slower). */
const WARM_BATCHES = 5;
interface Rates {
  /** Windows/s from the first batch of a fresh session on, and after its first WARM_BATCHES batches. */
  all: number;
  steady: number;
}

function rates(windows: number, seconds: number, batchTimes: number[]): Rates {
  const steadySeconds = (batchTimes[batchTimes.length - 1] - batchTimes[WARM_BATCHES - 1]) / 1000;
  return { all: windows / seconds, steady: (windows - WARM_BATCHES * batch) / steadySeconds };
}

/** Bare inference: a fresh session (as the map opens one) scoring the prepared batches, as many windows as the map. */
async function bare(): Promise<Rates> {
  const fresh = await openServedModel(model);
  const times: number[] = [];
  let windows = 0;
  const start = performance.now();
  for (let b = 0; windows < grid.count; b++) {
    const pixels = batches[b % batches.length];
    const count = Math.min(pixels.length / (decode * decode * 3), grid.count - windows);
    await fresh.probabilities(pixels.subarray(0, count * decode * decode * 3), count);
    windows += count;
    times.push(performance.now());
  }
  const result = rates(windows, (performance.now() - start) / 1000, times);
  await fresh.close();
  return result;
}

/** The map's phase 1 (from opening the model on), windows/s. */
async function whole(round: number): Promise<Rates> {
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
  return rates(result.scored, result.scoreSeconds, times);
}

// Alternating, --rounds times each, averaged. Both sides open a fresh session, whose first
// batches are slow: "whole" includes them, "steady" starts after WARM_BATCHES batches.
const [bareRuns, mapRuns] = [[] as Rates[], [] as Rates[]];
for (let round = 0; round < Number(values.rounds); round++) {
  bareRuns.push(await bare());
  mapRuns.push(await whole(round));
}
const mean = (list: number[]): number => list.reduce((a, b) => a + b, 0) / list.length;
const cell = (runs: Rates[], key: keyof Rates): string =>
  `${mean(runs.map((r) => r[key])).toFixed(1)} (${runs.map((r) => r[key].toFixed(1)).join(', ')})`;
const ratio = (key: keyof Rates): string =>
  `${(mean(mapRuns.map((r) => r[key])) / mean(bareRuns.map((r) => r[key]))).toFixed(2)}x`;
console.log(
  `${grid.count} windows of ${tile} px every ${stride} px, batch ${batch}, model ${backbone} at ${inputSize} px (decode ${decode} px)`,
);
console.log(
  `| windows/s | bare inference | dsdnet map, phase 1 | map / bare |\n|---|---|---|---|\n| whole | ${cell(bareRuns, 'all')} | ${cell(mapRuns, 'all')} | ${ratio('all')} |\n| after ${WARM_BATCHES} batches | ${cell(bareRuns, 'steady')} | ${cell(mapRuns, 'steady')} | ${ratio('steady')} |`,
);
rmSync(dir, { recursive: true, force: true });
