// The decode cache: every image of a dataset decoded once, resized to the training size, and stored as uint8 RGB in
// one file keyed by the dataset's content (relative paths, sizes, modification times), the size and the resize
// mode. Later runs load it in about a second instead of decoding again.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { availableParallelism, homedir } from 'node:os';
import { join } from 'node:path';

import sharp from 'sharp';

import { writeFileAtomic } from '../io/index.js';
import { mapLimit } from './concurrency.js';
import { decodeImage, type ResizeMode } from './decode.js';
import { Progress } from './progress.js';
import type { Dataset } from './scan.js';

const MAGIC = 'DSDNETC1';

export interface DecodedImages {
  /** Relative paths, in dataset order. */
  paths: string[];
  labels: Int32Array;
  size: number;
  mode: ResizeMode;
  /** paths.length x size x size x 3 bytes, RGB, row-major. */
  pixels: Uint8Array;
  /** Where it was loaded from or written to. */
  file: string;
  fromCache: boolean;
}

export interface CacheOptions {
  size: number;
  mode?: ResizeMode;
  /** Folder for cache files; default $DSDNET_CACHE, else $XDG_CACHE_HOME/dsdnet, else ~/.cache/dsdnet. */
  cacheDir?: string;
  progress?: boolean;
  /** Images decoded at once (default: twice the cores). */
  concurrency?: number;
}

export function defaultCacheDir(): string {
  return process.env.DSDNET_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'dsdnet');
}

export function cacheKey(dataset: Dataset, size: number, mode: ResizeMode): string {
  const hash = createHash('sha256').update(`${MAGIC}\n${size}\n${mode}\n${dataset.classes.join('\n')}\n`);
  for (const item of dataset.items) {
    const { mtimeMs } = statSync(join(dataset.root, item.path));
    hash.update(`${item.path}\t${item.label}\t${item.bytes}\t${Math.round(mtimeMs)}\n`);
  }
  return hash.digest('hex').slice(0, 32);
}

function encodeCache(images: Omit<DecodedImages, 'file' | 'fromCache'>): Uint8Array[] {
  const header = Buffer.from(JSON.stringify({ paths: images.paths, labels: Array.from(images.labels), size: images.size, mode: images.mode }));
  const prefix = Buffer.alloc(16);
  prefix.write(MAGIC, 0, 'latin1');
  prefix.writeBigUInt64LE(BigInt(header.length), 8);
  return [prefix, header, images.pixels];
}

function decodeCache(file: string): DecodedImages {
  const bytes = readFileSync(file);
  const fail = (why: string): never => {
    throw new Error(`${file}: damaged decode cache (${why}); delete it to rebuild`);
  };
  if (bytes.length < 16 || bytes.toString('latin1', 0, 8) !== MAGIC) fail('bad magic');
  const headerLength = Number(bytes.readBigUInt64LE(8));
  if (16 + headerLength > bytes.length) fail('truncated header');
  const header = JSON.parse(bytes.toString('utf8', 16, 16 + headerLength)) as { paths: string[]; labels: number[]; size: number; mode: ResizeMode };
  const pixelBytes = header.paths.length * header.size * header.size * 3;
  if (bytes.length !== 16 + headerLength + pixelBytes) fail(`expected ${pixelBytes} bytes of pixels, found ${bytes.length - 16 - headerLength}`);
  return {
    paths: header.paths,
    labels: Int32Array.from(header.labels),
    size: header.size,
    mode: header.mode,
    pixels: new Uint8Array(bytes.buffer, bytes.byteOffset + 16 + headerLength, pixelBytes),
    file,
    fromCache: true,
  };
}

/** Loads the dataset's decoded images from the cache, decoding (with a progress bar) and caching them if needed. */
export async function loadDecoded(dataset: Dataset, options: CacheOptions): Promise<DecodedImages> {
  const { size, mode = 'cover', progress = true } = options;
  if (!(Number.isInteger(size) && size >= 8 && size <= 4096)) throw new RangeError(`image size must be an integer in [8, 4096], got ${size}`);
  const dir = options.cacheDir ?? defaultCacheDir();
  const file = join(dir, `${cacheKey(dataset, size, mode)}-${size}-${mode}.u8`);
  if (existsSync(file)) return decodeCache(file);
  const n = dataset.items.length;
  const pixels = new Uint8Array(n * size * size * 3);
  const bar = new Progress(`decoding ${n} images at ${size} px`, n, progress);
  const concurrency = options.concurrency ?? 2 * availableParallelism();
  const previous = sharp.concurrency();
  sharp.concurrency(1); // one libvips thread per image; images decode in parallel instead
  try {
    await mapLimit(dataset.items, concurrency, async (item, i) => {
      pixels.set(await decodeImage(join(dataset.root, item.path), size, mode), i * size * size * 3);
      bar.tick();
    });
  } finally {
    sharp.concurrency(previous);
  }
  const images = { paths: dataset.items.map((i) => i.path), labels: Int32Array.from(dataset.items, (i) => i.label), size, mode, pixels };
  mkdirSync(dir, { recursive: true });
  writeFileAtomic(file, encodeCache(images));
  return { ...images, file, fromCache: false };
}
