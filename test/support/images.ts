// Generated test images: a small dataset in every supported format, and broken files of every kind.
import { mkdirSync, writeFileSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import sharp from 'sharp';

import { encodeBmp, Rng } from '../../src/data/index.js';

/** A w x h RGB image: a colour gradient seeded by `tone`. */
export function pixels(w: number, h: number, tone: number): Uint8Array {
  const data = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = (y * w + x) * 3;
      data[i] = (tone * 40 + x * 3) % 256;
      data[i + 1] = (tone * 90 + y * 2) % 256;
      data[i + 2] = (tone * 17 + x + y) % 256;
    }
  }
  return data;
}

export async function encode(
  format: 'jpg' | 'png' | 'tif' | 'webp' | 'bmp',
  data: Uint8Array,
  w: number,
  h: number,
): Promise<Uint8Array> {
  if (format === 'bmp') return encodeBmp({ width: w, height: h, data });
  const image = sharp(Buffer.from(data), { raw: { width: w, height: h, channels: 3 } });
  const encoded =
    format === 'jpg'
      ? image.jpeg({ quality: 95 })
      : format === 'png'
        ? image.png()
        : format === 'tif'
          ? image.tiff()
          : image.webp({ lossless: true });
  return encoded.toBuffer();
}

export const FORMATS = ['jpg', 'png', 'tif', 'webp', 'bmp'] as const;

/**
 * classes alpha, beta, gamma; `perClass` images each, cycling through every format (with upper-case extensions too),
 * plus a hidden file and a non-image in each class.
 */
export async function makeDataset(perClass = 10, size: [number, number] = [40, 30]): Promise<string> {
  const root = mkdtempSync(join(tmpdir(), 'dsdnet-data-'));
  const [w, h] = size;
  for (const [c, name] of ['gamma', 'alpha', 'beta'].entries()) {
    mkdirSync(join(root, name));
    for (let i = 0; i < perClass; i++) {
      const format = FORMATS[i % FORMATS.length];
      const ext = i % 2 === 0 ? format : format.toUpperCase();
      writeFileSync(
        join(root, name, `${name}${String(i).padStart(2, '0')}.${ext}`),
        await encode(format, pixels(w, h, c * 10 + i), w, h),
      );
    }
    writeFileSync(join(root, name, '.DS_Store'), 'hidden');
    writeFileSync(join(root, name, 'notes.txt'), 'not an image');
  }
  return root;
}

/**
 * Classes anyone can tell apart: red, green and blue scenes (each image its own brightness and pixel noise, from a
 * seeded generator), for tests that training must pass by learning.
 */
export async function makeSeparableDataset(perClass: number, size = 40): Promise<string> {
  const root = mkdtempSync(join(tmpdir(), 'dsdnet-separable-'));
  const rng = new Rng(7);
  for (const [c, name] of ['blue', 'green', 'red'].entries()) {
    mkdirSync(join(root, name));
    for (let i = 0; i < perClass; i++) {
      const brightness = 120 + 100 * rng.next();
      const data = Uint8Array.from({ length: size * size * 3 }, (_, k) => {
        const base = k % 3 === 2 - c ? brightness : 40;
        return Math.max(0, Math.min(255, base + 60 * (rng.next() - 0.5)));
      });
      writeFileSync(
        join(root, name, `${name}${String(i).padStart(2, '0')}.png`),
        await encode('png', data, size, size),
      );
    }
  }
  return root;
}
