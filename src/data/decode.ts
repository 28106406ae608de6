// Decoding one image file to RGB at the training size: sharp (libvips) for what it reads as it is, our BMP decoder,
// and geotiff for TIFFs with wide or floating-point samples or extra bands (tiff.ts). Alpha is flattened onto black.
import { readFile } from 'node:fs/promises';

import sharp, { type Sharp } from 'sharp';

import { decodeBmp } from './bmp.js';
import { sniffFormat } from './formats.js';
import { type BandChoice, DEFAULT_SCALE, libvipsReadsAsIs, openTiff, readTiffRgb, type SampleScale } from './tiff.js';

/** 'cover': scale the short side to the size, then centre-crop; 'exact': stretch to size x size. */
export type ResizeMode = 'cover' | 'exact';

/** Largest image accepted, in pixels (libvips' own default is 268 million). */
export const MAX_IMAGE_PIXELS = 2 ** 30;

export interface DecodeOptions {
  /** Bands used, 1-based (see BandChoice); default null. */
  bands?: BandChoice;
  /** How samples wider than 8 bits become 0..255; default the 2nd-98th percentile stretch. */
  scale?: SampleScale;
  /** Largest image accepted, in pixels; default MAX_IMAGE_PIXELS. */
  maxPixels?: number;
}

export function tooLargeReason(width: number, height: number, maxPixels = MAX_IMAGE_PIXELS): string {
  const count = (n: number): string => n.toLocaleString('en-US');
  return `${width} x ${height} = ${count(width * height)} pixels is above the limit of ${count(maxPixels)}; cut it into tiles first (e.g. gdal_retile.py)`;
}

function tooLarge(path: string, width: number, height: number, maxPixels: number): Error {
  return new Error(`${path}: ${tooLargeReason(width, height, maxPixels)}`);
}

async function pipelineFor(path: string, bytes: Buffer, format: string, size: number, options: Required<DecodeOptions>): Promise<Sharp> {
  if (format === 'bmp') {
    const raw = decodeBmp(bytes, path);
    if (raw.width * raw.height > options.maxPixels) throw tooLarge(path, raw.width, raw.height, options.maxPixels);
    return sharp(raw.data, { raw: { width: raw.width, height: raw.height, channels: 3 } });
  }
  if (format === 'tiff') {
    const { image, layout } = await openTiff(bytes);
    if (layout.width * layout.height > options.maxPixels) throw tooLarge(path, layout.width, layout.height, options.maxPixels);
    if (!libvipsReadsAsIs(layout, options.bands)) {
      const raw = await readTiffRgb(image, layout, { bands: options.bands, scale: options.scale, longSide: 4 * size }, path);
      return sharp(raw.data, { raw: { width: raw.width, height: raw.height, channels: 3 } });
    }
  }
  // libvips checks the limit from the header; its refusal becomes our message (decodeImageBytes).
  return sharp(bytes, { failOn: 'error', limitInputPixels: options.maxPixels });
}

/** Picks bands (1-based) of a packed RGB image: one band becomes grey. */
function pickBands(rgb: Uint8Array, bands: number[], path: string): Uint8Array {
  if (bands.some((b) => b > 3)) throw new Error(`${path}: --bands ${bands.join(',')} asks for more bands than the image's 3`);
  const out = new Uint8Array(rgb.length);
  for (let p = 0; p < rgb.length; p += 3) for (let c = 0; c < 3; c++) out[p + c] = rgb[p + bands[bands.length === 1 ? 0 : c] - 1];
  return out;
}

export async function decodeImage(path: string, size: number, mode: ResizeMode, decodeOptions: DecodeOptions = {}): Promise<Uint8Array> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (error) {
    throw new Error(`${path}: cannot read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  return decodeImageBytes(bytes, path, size, mode, decodeOptions);
}

/** Decodes an image held in memory (an upload); `path` names it in errors. */
export async function decodeImageBytes(data: Uint8Array, path: string, size: number, mode: ResizeMode, decodeOptions: DecodeOptions = {}): Promise<Uint8Array> {
  const options: Required<DecodeOptions> = { bands: null, scale: DEFAULT_SCALE, maxPixels: MAX_IMAGE_PIXELS, ...decodeOptions };
  const bytes = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (bytes.length === 0) throw new Error(`${path}: empty file (0 bytes)`);
  const format = sniffFormat(bytes.subarray(0, 16));
  if (format === undefined) throw new Error(`${path}: not an image (no JPEG, PNG, TIFF, BMP or WebP signature)`);
  try {
    const pipeline = await pipelineFor(path, bytes, format, size, options);
    const { data, info } = await pipeline
      .flatten({ background: '#000000' })
      .toColourspace('srgb')
      .resize({ width: size, height: size, fit: mode === 'cover' ? 'cover' : 'fill', position: 'centre' })
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3 || info.width !== size || info.height !== size) {
      throw new Error(`decoded to ${info.width}x${info.height}x${info.channels}, expected ${size}x${size}x3`);
    }
    const rgb = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    return options.bands !== null && format !== 'tiff' ? pickBands(rgb, options.bands, path) : rgb;
  } catch (error) {
    const message = (error as Error).message;
    if (message.startsWith(`${path}: `)) throw error;
    if (/exceeds pixel limit/.test(message)) {
      const { width = 0, height = 0 } = await sharp(bytes, { limitInputPixels: false }).metadata();
      throw tooLarge(path, width, height, options.maxPixels);
    }
    throw new Error(`${path}: corrupt or unreadable ${format.toUpperCase()} image: ${message}`);
  }
}
