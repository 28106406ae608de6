// The scene being mapped: a GeoTIFF read a region at a time with geotiff.js (never whole), its chosen bands made 8-bit
// RGB as dsdnet's decoder makes them: 8-bit samples as they are, wider ones by one stretch for the whole scene
// (the model's scale setting; percentiles come from a sample of the whole scene), so all windows share it.
import { closeSync, openSync, readSync, statSync } from 'node:fs';

import { type DecoderWorker, fromFile, type GeoTIFF, type GeoTIFFImage, getDecoder, type Pool } from 'geotiff';

import {
  type BandChoice,
  chosenBands,
  type SampleScale,
  type Samples,
  stretchOf,
  type TiffLayout,
  tiffLayout,
} from '../data/index.js';
import { errnoText, printable } from '../io/index.js';
import { georeferencing } from './georef.js';
import type { TiffTag } from './tiled-tiff.js';

/** Blocks read to estimate the scene's percentiles: a grid of SAMPLE_GRID x SAMPLE_GRID blocks of SAMPLE_BLOCK px. */
const SAMPLE_GRID = 16;
const SAMPLE_BLOCK = 32;

export interface Scene {
  path: string;
  tiff: GeoTIFF;
  image: GeoTIFFImage;
  layout: TiffLayout;
  /** The bands used, 0-based: three (RGB) or one (grey). */
  bands: number[];
  /** Bytes of one pixel of the chosen bands as geotiff.js returns them. */
  pixelBytes: number;
  /** GDAL_NODATA (NaN for 'nan'), or null: then no pixel is nodata. */
  nodata: number | null;
  /** Georeferencing tags to copy; empty when the scene has no geotransform. */
  georef: TiffTag[];
  /** The linear map of wide samples to 0..255 (sceneStretch), or null for 8-bit scenes (used as they are). */
  stretch: [number, number] | null;
  /** The identity of the file, for resuming: its size and modification time. */
  file: { bytes: number; modified: number };
  /** Bytes of one row of the file's tiles or strips, all bands, decoded. */
  blockRowBytes: number;
  /** How whole tiles are read (readRows), or null where readRasters is used (planar bands, big-endian wide samples). */
  blocks: { decoder: DecoderWorker; array: new (buffer: ArrayBufferLike | number) => Samples } | null;
}

const SAMPLE_ARRAYS: Record<string, new (buffer: ArrayBufferLike | number) => Samples> = {
  '1:8': Uint8Array,
  '2:8': Int8Array,
  '1:16': Uint16Array,
  '2:16': Int16Array,
  '1:32': Uint32Array,
  '2:32': Int32Array,
  '3:32': Float32Array,
  '3:64': Float64Array,
};

/**
 * geotiff.js's own decoder of the image's tiles, as readRasters binds it (through the pool it is given): whole decoded
 * tiles are then copied a row at a time, where readRasters copies sample by sample through a DataView (about 40 ns a
 * sample, most of the time of a map of a fast model).
 */
async function blockReader(image: GeoTIFFImage, layout: TiffLayout): Promise<Scene['blocks']> {
  const array = SAMPLE_ARRAYS[`${layout.sampleFormat}:${layout.bits}`];
  if (image.planarConfiguration !== 1 || array === undefined || (layout.bits > 8 && !image.littleEndian)) return null;
  let decoder: DecoderWorker | undefined;
  const capture = {
    bindParameters: (compression: number, parameters: Parameters<typeof getDecoder>[1]): DecoderWorker => {
      const made = getDecoder(compression, parameters);
      decoder = { decode: async (buffer) => (await made).decode(buffer) };
      return decoder;
    },
  } as unknown as Pool;
  await image.readRasters({ window: [0, 0, 1, 1], pool: capture });
  return decoder === undefined ? null : { decoder, array };
}

function isTiffHead(head: Uint8Array): boolean {
  const le = head[0] === 0x49 && head[1] === 0x49 && (head[2] === 42 || head[2] === 43) && head[3] === 0;
  const be = head[0] === 0x4d && head[1] === 0x4d && head[2] === 0 && (head[3] === 42 || head[3] === 43);
  return le || be;
}

/** Opens the scene and checks it and the band choice; errors name the file. */
export async function openScene(path: string, bandChoice: BandChoice): Promise<Scene> {
  const name = printable(path);
  let stats;
  const head = new Uint8Array(4);
  try {
    stats = statSync(path);
    if (!stats.isFile()) throw new Error(`${name}: not a file`);
    const fd = openSync(path, 'r');
    try {
      readSync(fd, head, 0, 4, 0);
    } finally {
      closeSync(fd);
    }
  } catch (error) {
    if ((error as Error).message.startsWith(name)) throw error;
    throw new Error(`${name}: cannot read the scene (${errnoText(error)})`);
  }
  if (!isTiffHead(head)) throw new Error(`${name}: not a TIFF (a scene must be a GeoTIFF)`);
  let tiff: GeoTIFF;
  let image: GeoTIFFImage;
  let layout: TiffLayout;
  try {
    tiff = await fromFile(path);
    image = await tiff.getImage();
    layout = await tiffLayout(image);
  } catch (error) {
    throw new Error(`${name}: corrupt or unreadable TIFF (${(error as Error).message})`);
  }
  if (layout.photometric === 3) throw new Error(`${name}: a palette image (a class map?); a scene holds imagery`);
  if (layout.sampleFormat === 3 ? layout.bits !== 32 && layout.bits !== 64 : ![8, 16, 32].includes(layout.bits))
    throw new Error(`${name}: ${layout.bits}-bit samples are not supported (8, 16, 32-bit integers or floating point)`);
  const scene: Scene = {
    path,
    tiff,
    image,
    layout,
    bands: [],
    pixelBytes: 0,
    nodata: image.getGDALNoData(),
    georef: await georeferencing(image),
    stretch: null,
    file: { bytes: stats.size, modified: stats.mtimeMs },
    blockRowBytes:
      image.getTileHeight() *
      Math.ceil(layout.width / image.getTileWidth()) *
      image.getTileWidth() *
      layout.bands *
      (layout.bits / 8),
    blocks: await blockReader(image, layout),
  };
  try {
    chooseBands(scene, bandChoice, name);
  } catch (error) {
    await tiff.close();
    throw error;
  }
  return scene;
}

/** Sets the bands used (1-based choice, checked against the scene; `source` names it in errors). */
export function chooseBands(scene: Scene, bandChoice: BandChoice, source: string): void {
  scene.bands = chosenBands(scene.layout, bandChoice, source);
  scene.pixelBytes = scene.bands.length * (scene.layout.bits / 8);
}

/** Sets the stretch of a scene with wide samples: the model's fixed range, or percentiles of a sample of the scene. */
export async function sceneStretch(scene: Scene, scale: SampleScale): Promise<void> {
  if (scene.layout.bits === 8 && scene.layout.sampleFormat === 1) return;
  scene.stretch = scale.kind === 'range' ? [scale.min, scale.max] : stretchOf(await sampleScene(scene), scale);
}

/** Reads a region inside the scene: the chosen bands, interleaved. */
export async function readRegion(scene: Scene, x: number, y: number, width: number, height: number): Promise<Samples> {
  return (await scene.image.readRasters({
    window: [x, y, x + width, y + height],
    samples: scene.bands,
    interleave: true,
  })) as unknown as Samples;
}

/** Reads full-width rows [y0, y1) of the scene: the chosen bands, interleaved. */
export async function readRows(scene: Scene, y0: number, y1: number): Promise<Samples> {
  const { image, blocks, bands } = scene;
  const { width, bands: all } = scene.layout;
  if (blocks === null) return readRegion(scene, 0, y0, width, y1 - y0);
  const [blockWidth, blockHeight] = [image.getTileWidth(), image.getTileHeight()];
  const nb = bands.length;
  const whole = nb === all && bands.every((b, i) => b === i);
  const out = new blocks.array((y1 - y0) * width * nb);
  for (let by = Math.floor(y0 / blockHeight); by * blockHeight < y1; by++) {
    const row = await Promise.all(
      Array.from({ length: Math.ceil(width / blockWidth) }, (_, bx) => image.getTileOrStrip(bx, by, 0, blocks.decoder)),
    );
    for (const { x: bx, data } of row) {
      const block = new blocks.array(data);
      const columns = Math.min(blockWidth, width - bx * blockWidth);
      for (let y = Math.max(y0, by * blockHeight); y < Math.min(y1, (by + 1) * blockHeight); y++) {
        const from = (y - by * blockHeight) * blockWidth * all;
        const to = ((y - y0) * width + bx * blockWidth) * nb;
        if (whole) out.set(block.subarray(from, from + columns * all), to);
        else
          for (let x = 0; x < columns; x++)
            for (let b = 0; b < nb; b++) out[to + x * nb + b] = block[from + x * all + bands[b]];
      }
    }
  }
  return out;
}

/** True when the pixel at `at` (its first sample) is nodata: every chosen band holds the nodata value. */
export function isNodata(scene: Scene, samples: Samples, at: number): boolean {
  const { nodata } = scene;
  if (nodata === null) return false;
  for (let b = 0; b < scene.bands.length; b++) {
    const v = samples[at + b];
    if (!(v === nodata || (Number.isNaN(nodata) && Number.isNaN(v)))) return false;
  }
  return true;
}

/** Samples of the chosen bands from a grid of blocks over the whole scene, nodata left out, for percentiles. */
async function sampleScene(scene: Scene): Promise<Float64Array> {
  const { width, height } = scene.layout;
  const block = Math.min(SAMPLE_BLOCK, width, height);
  const values: number[] = [];
  for (let gy = 0; gy < SAMPLE_GRID; gy++) {
    for (let gx = 0; gx < SAMPLE_GRID; gx++) {
      const x = Math.floor(((width - block) * gx) / (SAMPLE_GRID - 1));
      const y = Math.floor(((height - block) * gy) / (SAMPLE_GRID - 1));
      const samples = await readRegion(scene, x, y, block, block);
      for (let p = 0; p < samples.length; p += scene.bands.length) {
        if (!isNodata(scene, samples, p)) for (let b = 0; b < scene.bands.length; b++) values.push(samples[p + b]);
      }
    }
  }
  return Float64Array.from(values);
}

/** Mirrors a coordinate into 0..size-1 (padding past the scene's edges; the pattern repeats for tiny scenes). */
export function reflect(v: number, size: number): number {
  if (size === 1) return 0;
  const period = 2 * (size - 1);
  const m = ((v % period) + period) % period;
  return m < size ? m : period - m;
}

/**
 * Full-width rows of the scene's chosen bands, read as windows move down: rows shared with the previous row of
 * windows are kept (moved up), so each scene row is read once, not tile / stride times.
 */
export class RowBand {
  top = 0;
  rows = 0;
  private data: Samples | null = null;

  constructor(
    private readonly scene: Scene,
    private readonly capacity: number,
  ) {}

  /** The band holding rows [y0, y1) (at most `capacity` rows). */
  async cover(y0: number, y1: number): Promise<Samples> {
    const rowLength = this.scene.layout.width * this.scene.bands.length;
    const keepTo = Math.min(y1, this.top + this.rows);
    const keeps = this.data !== null && y0 >= this.top && keepTo > y0;
    const from = keeps ? keepTo : y0;
    const fresh = from < y1 ? await readRows(this.scene, from, y1) : null;
    if (this.data === null && fresh !== null)
      this.data = new (fresh.constructor as new (length: number) => Samples)(this.capacity * rowLength);
    const data = this.data!;
    if (keeps) data.copyWithin(0, (y0 - this.top) * rowLength, (keepTo - this.top) * rowLength);
    if (fresh !== null) data.set(fresh, (from - y0) * rowLength);
    [this.top, this.rows] = [y0, y1 - y0];
    return data;
  }
}

/**
 * One window of the scene as packed 8-bit RGB (tile x tile; one band as grey), taken from `band` (full-width rows of
 * the chosen bands from row `top`, holding the window's part inside the scene); the part past the scene's edges is
 * the scene mirrored. False when every pixel of it inside the scene is nodata.
 */
export function windowRgb(
  scene: Scene,
  band: Samples,
  top: number,
  x0: number,
  y0: number,
  tile: number,
  out: Uint8Array,
): boolean {
  const { width, height } = scene.layout;
  const nb = scene.bands.length;
  const [lo, hi] = scene.stretch ?? [0, 255];
  const gain = scene.stretch === null ? 1 : hi > lo ? 255 / (hi - lo) : 0;
  const columns = Int32Array.from({ length: tile }, (_, x) => reflect(x0 + x, width) * nb);
  const channels = nb === 1 ? [0, 0, 0] : [0, 1, 2];
  let data = scene.nodata === null;
  for (let y = 0; y < tile; y++) {
    const row = (reflect(y0 + y, height) - top) * width * nb;
    for (let x = 0; x < tile; x++) {
      const at = row + columns[x];
      if (!data && x0 + x < width && y0 + y < height && !isNodata(scene, band, at)) data = true;
      const o = (y * tile + x) * 3;
      if (scene.stretch === null) {
        out[o] = band[at + channels[0]];
        out[o + 1] = band[at + channels[1]];
        out[o + 2] = band[at + channels[2]];
      } else {
        for (let c = 0; c < 3; c++) {
          const v = band[at + channels[c]];
          out[o + c] = Number.isFinite(v) ? Math.round(Math.min(255, Math.max(0, (v - lo) * gain))) : 0;
        }
      }
    }
  }
  return data;
}
