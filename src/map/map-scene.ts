// `dsdnet map`: a land-use map of a whole GeoTIFF scene by sliding-window scene classification, in two phases.
// Phase 1 scores every window (one probability vector each: a few MB for a 20,000 px scene) in batches, saving the
// table beside the output as it goes (resume.ts). Phase 2 renders the map strip by strip from that table (grid.ts)
// into tiled, compressed GeoTIFFs that carry the scene's georeferencing (tiled-tiff.ts), and a preview (legend.ts).
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { basename, resolve } from 'node:path';

import { DEFAULT_SCALE, prepareRaw, Progress, type SampleScale } from '../data/index.js';
import { printable } from '../io/index.js';
import { openServedModel, type ServedModel } from '../serve/index.js';
import type { Device } from '../torch/index.js';
import { Blender, type Grid, makeGrid, NODATA_CLASS, readSpan } from './grid.js';
import { classColours, colourTable, writePreview } from './legend.js';
import { type MemoryPlan, OUTPUT_TILE, planMemory } from './memory.js';
import {
  loadProgress,
  type MapIdentity,
  type MapProgress,
  progressPath,
  removeProgress,
  saveProgress,
} from './resume.js';
import { chooseBands, isNodata, openScene, readRows, RowBand, type Scene, sceneStretch, windowRgb } from './scene.js';
import { MAX_CLASSIC_BYTES, TIFF_ASCII, TiledTiffWriter, type TiffTag } from './tiled-tiff.js';

export const MIN_TILE = 32;
/** Progress is saved after this many batches, or this many milliseconds, whichever comes first. */
const SAVE_EVERY_BATCHES = 64;
const SAVE_EVERY_MS = 5000;
/** The preview's long side, at most. */
const PREVIEW_SIZE = 1024;

export interface MapOptions {
  /** A run folder, checkpoint or model.onnx (see openServedModel). */
  model: string;
  scene: string;
  output: string;
  tile: number;
  stride: number;
  batch: number;
  /** 1-based bands of the scene; default the model's, else the first three (or the one grey band). */
  bands?: number[];
  /** Per-class probabilities (uint8, probability x 255) to this GeoTIFF too. */
  probabilities?: string;
  device?: Device;
  /** Bound of the map's own buffers, in MB (the model's memory is not counted). */
  maxMemoryMB: number;
  /** Replace existing outputs (else they are refused). */
  overwrite?: boolean;
  /** Stops between batches or strips after saving the progress (MapInterrupted). */
  signal?: AbortSignal;
  /** Called after each scored batch with the number scored in this call. */
  onBatch?: (batches: number) => void;
  showProgress?: boolean;
  warn?: (message: string) => void;
}

export interface MapResult {
  grid: Grid;
  plan: MemoryPlan;
  classNames: string[];
  /** Windows scored by this call, and those already done by an earlier one. */
  scored: number;
  resumedFrom: number;
  /** Windows that were all nodata (not scored). */
  skipped: number;
  scoreSeconds: number;
  renderSeconds: number;
  preview: string;
  /** Pixels per class index (NODATA_CLASS last). */
  classPixels: number[];
}

/** The map stopped on a signal after saving its progress. */
export class MapInterrupted extends Error {
  constructor(
    readonly reason: unknown,
    readonly progressFile: string,
    readonly done: number,
    readonly total: number,
  ) {
    super(
      `interrupted: ${done} of ${total} windows are saved in ${progressFile}; run the same command again to continue`,
    );
  }
}

/** The preview PNG beside a map: map.tif -> map.png. */
export function previewPath(output: string): string {
  return /\.tiff?$/i.test(output) ? output.replace(/\.tiff?$/i, '.png') : `${output}.png`;
}

/** Checks the flags and the output paths (before any work): existing outputs are refused unless overwrite. */
function checkOptions(options: MapOptions): string[] {
  const { tile, stride, output, probabilities, scene } = options;
  if (!(Number.isInteger(tile) && tile >= MIN_TILE))
    throw new Error(`--tile ${tile}: a window must be at least ${MIN_TILE} px`);
  if (!(Number.isInteger(stride) && stride >= 1 && stride <= tile))
    throw new Error(`--stride ${stride}: expected 1..${tile} (at most --tile, so that windows cover the scene)`);
  const outputs = [output, ...(probabilities === undefined ? [] : [probabilities]), previewPath(output)];
  const flags = ['-o', '--probabilities', 'the preview (beside -o)'];
  outputs.forEach((path, i) => {
    if (resolve(path) === resolve(scene)) throw new Error(`${flags[i]} ${printable(path)} is the scene itself`);
    if (outputs.indexOf(path) !== i)
      throw new Error(`${flags[i]} ${printable(path)} is also ${flags[outputs.indexOf(path)]}`);
    if (!options.overwrite && existsSync(path))
      throw new Error(`${printable(path)} exists; choose another name or pass --overwrite to replace it (${flags[i]})`);
  });
  return outputs;
}

/** The GDAL_METADATA tag: dataset items and per-band items (sample = band index). */
function gdalMetadata(items: { name: string; value: string; sample?: number; role?: string }[]): TiffTag {
  const escape = (text: string): string => text.replace(/[<>&"]/g, (c) => `&#${c.charCodeAt(0)};`);
  const xml = items
    .map(
      (i) =>
        `<Item name="${escape(i.name)}"${i.sample === undefined ? '' : ` sample="${i.sample}"`}${i.role === undefined ? '' : ` role="${i.role}"`}>${escape(i.value)}</Item>`,
    )
    .join('');
  return { tag: 42112, type: TIFF_ASCII, values: `<GDALMetadata>${xml}</GDALMetadata>` };
}

function identityOf(scene: Scene, model: ServedModel, options: MapOptions): MapIdentity {
  return {
    scene: { path: resolve(scene.path), ...scene.file },
    model: createHash('sha256').update(model.onnxBytes).digest('hex'),
    tile: options.tile,
    stride: options.stride,
    bands: scene.bands.map((b) => b + 1),
    stretch: scene.stretch,
  };
}

export async function mapScene(options: MapOptions): Promise<MapResult> {
  const [output, probabilitiesPath, preview] = [options.output, options.probabilities, previewPath(options.output)];
  checkOptions(options);
  const warn = options.warn ?? ((message: string) => void process.stderr.write(`warning: ${message}\n`));
  const scene = await openScene(options.scene, options.bands ?? null);
  const name = printable(options.scene);
  const { width, height } = scene.layout;
  let model: ServedModel | undefined;
  try {
    if (width * height > MAX_CLASSIC_BYTES)
      throw new Error(
        `${name}: ${width} x ${height} px is past the 4 GiB a class map in a classic TIFF holds; cut the scene first`,
      );
    model = await openServedModel(options.model, options.device);
    const { info } = model;
    const classes = info.classNames.length;
    if (options.bands === undefined && info.bands !== null)
      chooseBands(scene, info.bands, `${name} (the model's bands)`);
    if (probabilitiesPath !== undefined && width * height * classes > MAX_CLASSIC_BYTES) {
      throw new Error(
        `--probabilities ${printable(probabilitiesPath)}: ${width} x ${height} px x ${classes} classes is past the 4 GiB a classic TIFF holds; map without it, or cut the scene`,
      );
    }
    await sceneStretch(scene, (info.scale as SampleScale | null) ?? DEFAULT_SCALE);
    if (scene.georef.length === 0)
      warn(
        `${name} has no georeferencing (no ModelTiepoint or ModelTransformation): the map is made, but will not line up in a GIS`,
      );
    const grid = makeGrid(width, height, options.tile, options.stride);
    const plan = planMemory(
      {
        grid,
        classes,
        decodeSize: info.decodeSize,
        pixelBytes: scene.pixelBytes,
        blockRowBytes: scene.blockRowBytes,
        batch: options.batch,
        probabilities: probabilitiesPath !== undefined,
        nodata: scene.nodata !== null,
      },
      options.maxMemoryMB * 2 ** 20,
    );
    if (plan.batch < options.batch)
      warn(
        `--batch ${options.batch} does not fit --max-memory ${options.maxMemoryMB}; scoring ${plan.batch} windows at a time`,
      );
    const identity = identityOf(scene, model, options);
    const progressFile = progressPath(output);
    const progress = loadProgress(progressFile, identity, grid.count * (classes + 1));
    const resumedFrom = progress.done;
    const started = performance.now();
    const { scored, skipped } = await scoreWindows(
      scene,
      model,
      grid,
      plan,
      progress,
      options,
      () => saveProgress(progressFile, identity, progress),
      progressFile,
    );
    const scoreSeconds = (performance.now() - started) / 1000;
    const rendering = performance.now();
    const classPixels = await renderMaps(scene, grid, plan, progress.table, info.classNames, options, preview);
    removeProgress(progressFile);
    return {
      grid,
      plan,
      classNames: info.classNames,
      scored,
      resumedFrom,
      skipped,
      scoreSeconds,
      renderSeconds: (performance.now() - rendering) / 1000,
      preview,
      classPixels,
    };
  } finally {
    await model?.close();
    await scene.tiff.close();
  }
}

/** The windows from `start` on, in raster order, prepared for the model (null: all nodata), a run of them at once. */
async function* preparedWindows(
  scene: Scene,
  grid: Grid,
  plan: MemoryPlan,
  decodeSize: number,
  start: number,
): AsyncGenerator<{ index: number; pixels: Uint8Array | null }> {
  const { tile, stride, across } = grid;
  const band = new RowBand(scene, Math.min(tile, scene.layout.height));
  for (let index = start; index < grid.count;) {
    const iy = Math.floor(index / across);
    const ix0 = index % across;
    const ix1 = Math.min(across, ix0 + plan.windowsPerRead);
    const rows = await band.cover(...readSpan(iy * stride, tile, scene.layout.height));
    const windows = await Promise.all(
      Array.from({ length: ix1 - ix0 }, (_, i) => {
        const rgb = new Uint8Array(tile * tile * 3);
        const data = windowRgb(scene, rows, band.top, (ix0 + i) * stride, iy * stride, tile, rgb);
        return data ? prepareRaw({ width: tile, height: tile, data: rgb }, decodeSize, 'cover') : null;
      }),
    );
    for (const [i, pixels] of windows.entries()) yield { index: iy * across + ix0 + i, pixels };
    index = iy * across + ix1;
  }
}

/** Phase 1: scores the windows not yet done, a batch being scored while the next is prepared; saves as it goes. */
async function scoreWindows(
  scene: Scene,
  model: ServedModel,
  grid: Grid,
  plan: MemoryPlan,
  progress: MapProgress,
  options: MapOptions,
  save: () => void,
  progressFile: string,
): Promise<{ scored: number; skipped: number }> {
  const classes = model.info.classNames.length;
  const imageBytes = model.info.decodeSize ** 2 * 3;
  const buffers = [new Uint8Array(plan.batch * imageBytes), new Uint8Array(plan.batch * imageBytes)];
  const bar = new Progress('map: windows', grid.count - progress.done, options.showProgress ?? true);
  let which = 0;
  let members: number[] = [];
  let end = progress.done;
  let inflight: Promise<void> = Promise.resolve();
  let batches = 0;
  let scored = 0;
  let skipped = 0;
  let lastSave = Date.now();

  const score = async (pixels: Uint8Array, indices: number[], upTo: number): Promise<void> => {
    if (indices.length > 0) {
      const probs = await model.probabilities(pixels.subarray(0, indices.length * imageBytes), indices.length);
      indices.forEach((window, i) => {
        for (let c = 0; c < classes; c++) progress.table[window * (classes + 1) + c] = probs[i * classes + c];
        progress.table[window * (classes + 1) + classes] = 1;
      });
    }
    bar.tick(upTo - progress.done);
    scored += indices.length;
    skipped += upTo - progress.done - indices.length;
    progress.done = upTo;
    batches++;
    options.onBatch?.(batches);
    if (batches % SAVE_EVERY_BATCHES === 0 || Date.now() - lastSave >= SAVE_EVERY_MS) {
      save();
      lastSave = Date.now();
    }
  };
  // Waits for the batch being scored, stops here if asked (saved), then starts scoring the one just filled.
  const launch = async (): Promise<void> => {
    await inflight;
    stopIfAsked(options.signal, save, progressFile, progress.done, grid.count);
    inflight = score(buffers[which], members, end);
    which = 1 - which;
    members = [];
  };
  for await (const { index, pixels } of preparedWindows(scene, grid, plan, model.info.decodeSize, progress.done)) {
    if (pixels !== null) {
      buffers[which].set(pixels, members.length * imageBytes);
      members.push(index);
    }
    end = index + 1;
    if (members.length === plan.batch) await launch();
  }
  if (end > progress.done) await launch();
  await inflight;
  save(); // phase 2 is resumed from here too
  return { scored, skipped };
}

function stopIfAsked(
  signal: AbortSignal | undefined,
  save: (() => void) | null,
  progressFile: string,
  done: number,
  total: number,
): void {
  if (!signal?.aborted) return;
  save?.();
  throw new MapInterrupted(signal.reason, progressFile, done, total);
}

/** Phase 2: the class map (and probabilities) strip by strip, then the preview. Returns the pixels per class. */
async function renderMaps(
  scene: Scene,
  grid: Grid,
  plan: MemoryPlan,
  table: Float32Array,
  classNames: string[],
  options: MapOptions,
  preview: string,
): Promise<number[]> {
  const { width, height } = grid;
  const classes = classNames.length;
  const colours = classColours(classes);
  const description: TiffTag = {
    tag: 270,
    type: TIFF_ASCII,
    values: JSON.stringify({
      dsdnet: 'map',
      model: basename(options.model),
      classes: classNames,
      nodata: NODATA_CLASS,
    }),
  };
  const writers: TiledTiffWriter[] = [];
  try {
    const map = new TiledTiffWriter(options.output, {
      width,
      height,
      bands: 1,
      tile: OUTPUT_TILE,
      photometric: 'palette',
      palette: colourTable(colours),
      tags: [
        ...scene.georef,
        description,
        { tag: 42113, type: TIFF_ASCII, values: String(NODATA_CLASS) },
        gdalMetadata([
          { name: 'CLASSES', value: JSON.stringify(classNames) },
          { name: 'DESCRIPTION', value: 'land-use class', sample: 0, role: 'description' },
        ]),
      ],
    });
    writers.push(map);
    const probs =
      options.probabilities === undefined
        ? null
        : new TiledTiffWriter(options.probabilities, {
            width,
            height,
            bands: classes,
            tile: OUTPUT_TILE,
            photometric: 'minisblack',
            tags: [
              ...scene.georef,
              description,
              gdalMetadata([
                { name: 'CLASSES', value: JSON.stringify(classNames) },
                ...classNames.flatMap((c, i) => [
                  { name: 'DESCRIPTION', value: c, sample: i, role: 'description' },
                  { name: 'SCALE', value: String(1 / 255), sample: i, role: 'scale' },
                ]),
              ]),
            ],
          });
    if (probs !== null) writers.push(probs);
    const blender = new Blender(grid, classes, table);
    const classStrip = new Uint8Array(plan.stripRows * width);
    const probStrip = probs === null ? null : new Uint8Array(plan.stripRows * width * classes);
    const mask = scene.nodata === null ? null : new Uint8Array(width);
    const factor = Math.max(1, Math.ceil(Math.max(width, height) / PREVIEW_SIZE));
    const [pw, ph] = [Math.ceil(width / factor), Math.ceil(height / factor)];
    const small = new Uint8Array(pw * ph);
    const classPixels = new Array<number>(classes + 1).fill(0);
    const bar = new Progress('map: rows', height, options.showProgress ?? true);
    for (let top = 0; top < height; top += plan.stripRows) {
      const rows = Math.min(plan.stripRows, height - top);
      for (let chunk = 0; chunk < rows; chunk += mask === null ? rows : plan.nodataRows) {
        const count = mask === null ? rows : Math.min(plan.nodataRows, rows - chunk);
        const region = mask === null ? null : await readRows(scene, top + chunk, top + chunk + count);
        for (let r = chunk; r < chunk + count; r++) {
          if (mask !== null && region !== null)
            for (let x = 0; x < width; x++)
              mask[x] = isNodata(scene, region, ((r - chunk) * width + x) * scene.bands.length) ? 1 : 0;
          const row = classStrip.subarray(r * width, (r + 1) * width);
          blender.renderRow(
            top + r,
            row,
            probStrip?.subarray(r * width * classes, (r + 1) * width * classes) ?? null,
            mask,
          );
          for (let x = 0; x < width; x++) classPixels[row[x] === NODATA_CLASS ? classes : row[x]]++;
          if ((top + r) % factor === 0)
            for (let x = 0; x < pw; x++) small[((top + r) / factor) * pw + x] = row[x * factor];
          if (r % OUTPUT_TILE === OUTPUT_TILE - 1)
            stopIfAsked(options.signal, null, progressPath(options.output), grid.count, grid.count);
        }
        bar.tick(count);
      }
      for (let t = 0; t < rows; t += OUTPUT_TILE) {
        const count = Math.min(OUTPUT_TILE, rows - t);
        await map.writeTileRow(classStrip.subarray(t * width), count);
        if (probs !== null && probStrip !== null)
          await probs.writeTileRow(probStrip.subarray(t * width * classes), count);
      }
    }
    for (const writer of writers) writer.finish();
    writers.length = 0;
    await writePreview(preview, small, pw, ph, classNames, colours);
    return classPixels;
  } finally {
    for (const writer of writers) writer.abort();
  }
}
