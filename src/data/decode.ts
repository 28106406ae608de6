// Decoding one image file to RGB at the training size: sharp (libvips) for what it reads as it is, our BMP decoder,
// and geotiff for TIFFs with wide or floating-point samples or extra bands (tiff.ts). Alpha is flattened onto black.
import { readFile } from 'node:fs/promises';

import sharp, { type Sharp } from 'sharp';

import { printable } from '../io/index.js';
import { decodeBmp } from './bmp.js';
import { sniffFormat } from './formats.js';
import { checkPixelLimit, ImageTooLargeError, MAX_IMAGE_PIXELS, type RawImage } from './raster.js';
import { type BandChoice, DEFAULT_SCALE, libvipsReadsAsIs, openTiff, readTiffRgb, type SampleScale } from './tiff.js';

/** 'cover': scale the short side to the size, then centre-crop; 'exact': stretch to size x size. */
export type ResizeMode = 'cover' | 'exact';

export interface DecodeOptions {
  /** Bands used, 1-based (see BandChoice); default null. */
  bands?: BandChoice;
  /** How samples wider than 8 bits become 0..255; default the 2nd-98th percentile stretch. */
  scale?: SampleScale;
  /** Largest image accepted, in pixels; default MAX_IMAGE_PIXELS. */
  maxPixels?: number;
}

/**
 * Our own decoders' output for libvips. It is within maxPixels already (they checked the header, and the shrink only
 * makes it smaller); the limit is passed only to lift libvips' default (268 million), which would refuse a larger one.
 */
function rawInput(raw: RawImage, maxPixels: number): Sharp {
  return sharp(raw.data, { raw: { width: raw.width, height: raw.height, channels: 3 }, limitInputPixels: maxPixels });
}

/** `name` is the path as printed. Our decoders check the size from the header before they allocate anything. */
async function pipelineFor(
  name: string,
  bytes: Buffer,
  format: string,
  size: number,
  options: Required<DecodeOptions>,
): Promise<Sharp> {
  // Shrink while read, keeping at least 4x the training size on the short side (which a 'cover' resize scales to the
  // size): the final resize has enough to work with, and a huge image costs at most maxPixels of output.
  const minShortSide = 4 * size;
  if (format === 'bmp')
    return rawInput(decodeBmp(bytes, name, { maxPixels: options.maxPixels, minShortSide }), options.maxPixels);
  if (format === 'tiff') {
    const { image, layout } = await openTiff(bytes);
    checkPixelLimit(name, layout.width, layout.height, options.maxPixels);
    if (!libvipsReadsAsIs(layout, options.bands))
      return rawInput(
        await readTiffRgb(image, layout, { bands: options.bands, scale: options.scale, minShortSide }, name),
        options.maxPixels,
      );
  }
  // libvips checks the limit from the header; its refusal becomes our message (decodeImageBytes).
  return sharp(bytes, { failOn: 'error', limitInputPixels: options.maxPixels });
}

/** A libvips message on one line: it repeats lines, and a newline would break the list of bad files it joins. */
export function oneLine(message: string): string {
  return [
    ...new Set(
      message
        .split('\n')
        .map((line) => line.trim())
        .filter((line) => line !== ''),
    ),
  ].join('; ');
}

/** The reason an image was refused, without the name (`name: `) its message starts with. */
export function reasonOf(error: unknown, name: string): string {
  const message = (error as Error).message;
  return message.startsWith(`${name}: `) ? message.slice(name.length + 2) : message;
}

/** Picks bands (1-based) of a packed RGB image: one band becomes grey. */
function pickBands(rgb: Uint8Array, bands: number[], path: string): Uint8Array {
  if (bands.some((b) => b > 3))
    throw new Error(`${path}: --bands ${bands.join(',')} asks for more bands than the image's 3`);
  const out = new Uint8Array(rgb.length);
  for (let p = 0; p < rgb.length; p += 3)
    for (let c = 0; c < 3; c++) out[p + c] = rgb[p + bands[bands.length === 1 ? 0 : c] - 1];
  return out;
}

/** The last steps of every decode: alpha onto black, sRGB, the resize, packed 8-bit RGB of size x size. */
async function resizeToRgb(pipeline: Sharp, size: number, mode: ResizeMode): Promise<Uint8Array> {
  const { data, info } = await pipeline
    .flatten({ background: '#000000' })
    .toColourspace('srgb')
    .resize({ width: size, height: size, fit: mode === 'cover' ? 'cover' : 'fill', position: 'centre' })
    .raw({ depth: 'uchar' })
    .toBuffer({ resolveWithObject: true });
  if (info.channels !== 3 || info.width !== size || info.height !== size) {
    throw new Error(`decoded to ${info.width}x${info.height}x${info.channels}, expected ${size}x${size}x3`);
  }
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/**
 * Prepares packed 8-bit RGB pixels (a window of a scene) as a decoded image file is prepared. Pixels already of the
 * size are what libvips would give back (sRGB, no alpha, no resize): they are returned as they are.
 */
export function prepareRaw(raw: RawImage, size: number, mode: ResizeMode): Promise<Uint8Array> {
  if (raw.width === size && raw.height === size) return Promise.resolve(raw.data);
  return resizeToRgb(rawInput(raw, MAX_IMAGE_PIXELS), size, mode);
}

/** Decodes an image file; errors name it as printable() shows it. */
export async function decodeImage(
  path: string,
  size: number,
  mode: ResizeMode,
  decodeOptions: DecodeOptions = {},
): Promise<Uint8Array> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (error) {
    throw new Error(
      `${printable(path)}: cannot read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
    );
  }
  return decodeImageBytes(bytes, path, size, mode, decodeOptions);
}

/** Decodes an image held in memory (an upload); `path` names it in errors, as printable() shows it. */
export async function decodeImageBytes(
  data: Uint8Array,
  path: string,
  size: number,
  mode: ResizeMode,
  decodeOptions: DecodeOptions = {},
): Promise<Uint8Array> {
  const name = printable(path);
  const options: Required<DecodeOptions> = {
    bands: null,
    scale: DEFAULT_SCALE,
    maxPixels: MAX_IMAGE_PIXELS,
    ...decodeOptions,
  };
  const bytes = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (bytes.length === 0) throw new Error(`${name}: empty file (0 bytes)`);
  const format = sniffFormat(bytes.subarray(0, 16));
  if (format === undefined) throw new Error(`${name}: not an image (no JPEG, PNG, TIFF, BMP or WebP signature)`);
  try {
    const rgb = await resizeToRgb(await pipelineFor(name, bytes, format, size, options), size, mode);
    return options.bands !== null && format !== 'tiff' ? pickBands(rgb, options.bands, name) : rgb;
  } catch (error) {
    const message = (error as Error).message;
    if (message.startsWith(`${name}: `)) throw error;
    // Only what libvips reads itself gets here: our own decoders checked the size before they read a pixel.
    if (/exceeds pixel limit/.test(message)) {
      const { width = 0, height = 0 } = await sharp(bytes, { limitInputPixels: false }).metadata();
      throw new ImageTooLargeError(name, width, height, options.maxPixels);
    }
    throw new Error(`${name}: corrupt or unreadable ${format.toUpperCase()} image: ${printable(oneLine(message))}`);
  }
}
