// Decoding one image file to RGB at the training size with sharp (libvips), or with our BMP decoder.
import { readFile } from 'node:fs/promises';

import sharp, { type Sharp } from 'sharp';

import { decodeBmp } from './bmp.js';
import { sniffFormat } from './formats.js';

/** 'cover': scale the short side to the size, then centre-crop; 'exact': stretch to size x size. */
export type ResizeMode = 'cover' | 'exact';

export async function decodeImage(path: string, size: number, mode: ResizeMode): Promise<Uint8Array> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (error) {
    throw new Error(`${path}: cannot read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  if (bytes.length === 0) throw new Error(`${path}: empty file (0 bytes)`);
  const format = sniffFormat(bytes.subarray(0, 16));
  if (format === undefined) throw new Error(`${path}: not an image (no JPEG, PNG, TIFF, BMP or WebP signature)`);
  let pipeline: Sharp;
  if (format === 'bmp') {
    const raw = decodeBmp(bytes, path);
    pipeline = sharp(raw.data, { raw: { width: raw.width, height: raw.height, channels: 3 } });
  } else {
    pipeline = sharp(bytes, { failOn: 'truncated' });
  }
  try {
    const { data, info } = await pipeline
      .removeAlpha()
      .toColourspace('srgb')
      .resize({ width: size, height: size, fit: mode === 'cover' ? 'cover' : 'fill', position: 'centre' })
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3 || info.width !== size || info.height !== size) {
      throw new Error(`decoded to ${info.width}x${info.height}x${info.channels}, expected ${size}x${size}x3`);
    }
    return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  } catch (error) {
    throw new Error(`${path}: corrupt or unreadable ${format.toUpperCase()} image: ${(error as Error).message}`);
  }
}
