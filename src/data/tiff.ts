// TIFFs that libvips would mangle, read with geotiff: samples wider than 8 bits (16-bit, 12-bit-in-16, 32-bit) or
// floating point, brought to 0..255 by their real range; and images with more bands than RGB + alpha (RGB+NIR,
// multispectral), of which the chosen bands are used. Alpha is flattened onto black, as no-data usually is.
import { fromArrayBuffer, type GeoTIFFImage } from 'geotiff';

import { BoxShrink, type RawImage, type Samples, shrinkFactor } from './raster.js';

/**
 * How samples wider than 8 bits become 0..255: a linear stretch between two percentiles of the image's chosen bands
 * (together, so that colours keep their balance), or between a fixed min and max for every image.
 */
export type SampleScale =
  { kind: 'percentile'; low: number; high: number } | { kind: 'range'; min: number; max: number };
export const DEFAULT_SCALE: SampleScale = { kind: 'percentile', low: 2, high: 98 };

/** Image bands used, 1-based as GDAL numbers them: one (grey) or three (shown as R, G, B). Null: the first three, or the one grey band. */
export type BandChoice = number[] | null;

export interface TiffLayout {
  width: number;
  height: number;
  bands: number;
  bits: number;
  /** TIFF SampleFormat: 1 unsigned, 2 signed, 3 floating point. */
  sampleFormat: number;
  /** Indices of bands that are alpha (ExtraSamples 1 or 2). */
  alpha: number[];
  /** TIFF Photometric: 0/1 grey, 2 RGB, 3 palette, ... */
  photometric: number;
}

const EXTRA_SAMPLES = 338;
const PHOTOMETRIC = 262;
/** Samples read to estimate percentiles, at most (spread evenly over the image). */
const PERCENTILE_SAMPLES = 1 << 20;
/** Samples read from the file at once, at most, unless one row of its strips or tiles holds more. */
const WINDOW_SAMPLES = 1 << 24;

export async function openTiff(bytes: Uint8Array): Promise<{ image: GeoTIFFImage; layout: TiffLayout }> {
  // geotiff wants an ArrayBuffer of the file alone: the bytes' own when they fill it (a file read whole), else a copy.
  const whole = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength;
  const tiff = await fromArrayBuffer(
    (whole ? bytes.buffer : bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)) as ArrayBuffer,
  );
  const image = await tiff.getImage();
  return { image, layout: await tiffLayout(image) };
}

/** The sample layout of a TIFF image, from its tags. */
export async function tiffLayout(image: GeoTIFFImage): Promise<TiffLayout> {
  const bands = image.getSamplesPerPixel();
  const extra = ((await image.fileDirectory.loadValue(EXTRA_SAMPLES)) as number[] | Uint16Array | undefined) ?? [];
  const colourBands = bands - extra.length;
  const alpha = Array.from(extra).flatMap((kind, i) => (kind === 1 || kind === 2 ? [colourBands + i] : []));
  const photometric = Number((await image.fileDirectory.loadValue(PHOTOMETRIC)) ?? 1);
  return {
    width: image.getWidth(),
    height: image.getHeight(),
    bands,
    bits: image.getBitsPerSample(0),
    sampleFormat: image.getSampleFormat(0) ?? 1,
    alpha,
    photometric,
  };
}

/** True when libvips reads the image as it is: 8-bit unsigned grey, RGB or palette, at most one alpha band, no band choice. */
export function libvipsReadsAsIs(layout: TiffLayout, bands: BandChoice): boolean {
  const colour = layout.bands - layout.alpha.length;
  return (
    bands === null &&
    layout.bits === 8 &&
    layout.sampleFormat === 1 &&
    layout.alpha.length <= 1 &&
    (colour === 1 || colour === 3 || layout.photometric === 3)
  );
}

/** The bands used (0-based), checked against the image. */
export function chosenBands(layout: TiffLayout, bands: BandChoice, source: string): number[] {
  const colour = Array.from({ length: layout.bands }, (_, i) => i).filter((i) => !layout.alpha.includes(i));
  if (bands === null) return colour.length >= 3 ? colour.slice(0, 3) : [colour[0]];
  const missing = bands.filter((b) => b > layout.bands);
  if (missing.length > 0)
    throw new Error(
      `${source}: --bands ${bands.join(',')} asks for band ${missing.join(', ')}, the image has ${layout.bands}`,
    );
  return bands.map((b) => b - 1);
}

function quantile(sorted: Float32Array, q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.round(q * (sorted.length - 1))))];
}

/** The linear map's ends for interleaved samples: the scale's range, or percentiles of the finite samples. */
export function stretchOf(samples: ArrayLike<number>, scale: SampleScale): [number, number] {
  if (scale.kind === 'range') return [scale.min, scale.max];
  const step = Math.max(1, Math.floor(samples.length / PERCENTILE_SAMPLES));
  const picked: number[] = [];
  for (let i = 0; i < samples.length; i += step) if (Number.isFinite(samples[i])) picked.push(samples[i]);
  if (picked.length === 0) return [0, 1];
  const sorted = Float32Array.from(picked).sort();
  return [quantile(sorted, scale.low / 100), quantile(sorted, scale.high / 100)];
}

/**
 * The image's chosen bands as packed 8-bit RGB (one band is repeated as grey), box-shrunk by the largest integer
 * factor that keeps the short side at least `minShortSide`. The file is read a window of rows at a time (geotiff
 * allocates what it reads at full resolution), so a huge raster costs the memory of its output and of one window.
 */
export async function readTiffRgb(
  image: GeoTIFFImage,
  layout: TiffLayout,
  options: { bands: BandChoice; scale: SampleScale; minShortSide: number },
  source: string,
): Promise<RawImage> {
  const bands = chosenBands(layout, options.bands, source);
  const alpha = layout.alpha[0];
  const samples = [...bands, ...(alpha === undefined ? [] : [alpha])];
  const stride = samples.length;
  const shrink = new BoxShrink(
    layout.width,
    layout.height,
    stride,
    shrinkFactor(layout.width, layout.height, options.minShortSide),
    (length) => new Float64Array(length),
  );
  // Whole rows of blocks, so that no strip or tile is decompressed twice.
  const blockRows = Math.max(1, image.getTileHeight());
  const windowRows = Math.max(1, Math.floor(WINDOW_SAMPLES / (layout.width * stride * blockRows))) * blockRows;
  const rowLength = layout.width * stride;
  for (let top = 0; top < layout.height; top += windowRows) {
    const bottom = Math.min(layout.height, top + windowRows);
    const window = (await image.readRasters({
      window: [0, top, layout.width, bottom],
      samples,
      interleave: true,
    })) as unknown as Samples;
    for (let y = top; y < bottom; y++) shrink.addRow(y, window, (y - top) * rowLength);
  }
  const raster = shrink.finish();
  const { width, height } = shrink;
  const wide = layout.bits > 8 || layout.sampleFormat !== 1;
  const colour = bands.length;
  let [lo, hi] = [0, 255];
  if (wide) {
    const values =
      alpha === undefined
        ? raster
        : Float32Array.from(
            { length: width * height * colour },
            (_, i) => raster[Math.floor(i / colour) * stride + (i % colour)],
          );
    [lo, hi] = stretchOf(values, options.scale);
  }
  const gain = hi > lo ? 255 / (hi - lo) : 0;
  const alphaMax = layout.sampleFormat === 3 ? 1 : 2 ** layout.bits - 1;
  const out = new Uint8Array(width * height * 3);
  for (let p = 0; p < width * height; p++) {
    const opacity = alpha === undefined ? 1 : Math.min(1, Math.max(0, raster[p * stride + colour] / alphaMax));
    for (let c = 0; c < 3; c++) {
      const v = raster[p * stride + (colour === 1 ? 0 : c)];
      const byte = Number.isFinite(v) ? Math.min(255, Math.max(0, (v - lo) * gain)) : 0;
      out[p * 3 + c] = Math.round(byte * opacity);
    }
  }
  return { width, height, data: out };
}
