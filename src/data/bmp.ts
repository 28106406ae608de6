// A decoder for Windows bitmaps (libvips, and so sharp, reads no BMP): 1-, 4- and 8-bit palettes, uncompressed or
// run-length encoded (RLE8, RLE4); 16- and 32-bit with bit fields (masks) or their defaults (5-5-5, BGRX); 24-bit;
// bottom-up or top-down. Returns packed RGB; alpha is not used. The declared size meets the pixel limit before
// anything is allocated, and rows are decoded one at a time (and box-shrunk on the way when asked), so that a bitmap
// declaring a huge size in a few bytes of run-length codes costs the memory of its output, not of its size.
import { BoxShrink, checkPixelLimit, type RawImage, shrinkFactor } from './raster.js';

export interface BmpOptions {
  /** Largest size accepted, in pixels; default MAX_IMAGE_PIXELS. */
  maxPixels?: number;
  /** Shrink by the largest integer factor (box filter) that keeps the short side at least this many pixels; default none. */
  minShortSide?: number;
}

const BI_RGB = 0;
const BI_RLE8 = 1;
const BI_RLE4 = 2;
const BI_BITFIELDS = 3;
const BI_ALPHABITFIELDS = 6;

type Fail = (why: string) => never;

function failFor(source: string): Fail {
  return (why) => {
    throw new Error(`${source}: corrupt BMP: ${why}`);
  };
}

interface BmpHeader {
  width: number;
  height: number;
  topDown: boolean;
  bitCount: number;
  compression: number;
  headerSize: number;
  pixelOffset: number;
}

/** The file and info headers (their first 54 bytes), checked for what this decoder supports. */
function readHeader(bytes: Uint8Array, fail: Fail): BmpHeader {
  if (bytes.length < 2 || bytes[0] !== 0x42 || bytes[1] !== 0x4d) fail('missing the BM header');
  if (bytes.length < 54) fail(`truncated info header (${bytes.length} bytes in all)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerSize = view.getUint32(14, true);
  if (headerSize < 40) fail(`unsupported or truncated info header (${headerSize} bytes)`);
  const width = view.getInt32(18, true);
  const rawHeight = view.getInt32(22, true);
  const bitCount = view.getUint16(28, true);
  const compression = view.getUint32(30, true);
  const topDown = rawHeight < 0;
  const height = Math.abs(rawHeight);
  if (width <= 0 || height <= 0 || width > 65535 || height > 65535) fail(`implausible size ${width}x${rawHeight}`);
  if (![1, 4, 8, 16, 24, 32].includes(bitCount))
    fail(`${bitCount} bits per pixel is not supported (1, 4, 8, 16, 24 or 32)`);
  const fields = compression === BI_BITFIELDS || compression === BI_ALPHABITFIELDS;
  const supported =
    compression === BI_RGB ||
    (compression === BI_RLE8 && bitCount === 8) ||
    (compression === BI_RLE4 && bitCount === 4) ||
    (fields && (bitCount === 16 || bitCount === 32));
  if (!supported) fail(`compression ${compression} with ${bitCount} bits per pixel is not supported`);
  if ((compression === BI_RLE8 || compression === BI_RLE4) && topDown)
    fail('a run-length encoded bitmap cannot be top-down');
  return { width, height, topDown, bitCount, compression, headerSize, pixelOffset: view.getUint32(10, true) };
}

/** `count` pixels of one palette index, from column `x` on. */
type Span = (x: number, count: number, index: number) => void;

/**
 * The palette indices of an RLE8 or RLE4 bitmap, one stored (bottom-up) row at a time, as spans: a run costs one
 * step whatever its length, and what the codes skip (deltas, ends of lines, the end of the bitmap) takes index 0.
 */
class RleRows {
  private at: number;
  private x = 0;
  private y = 0;
  private ended = false;

  constructor(
    private readonly bytes: Uint8Array,
    start: number,
    private readonly width: number,
    private readonly height: number,
    private readonly four: boolean,
    private readonly fail: Fail,
  ) {
    this.at = start;
  }

  /** Stored row `row` as spans that cover it from left to right; rows are read in order, from 0. */
  read(row: number, span: Span): void {
    let filled = 0;
    const put: Span = (x, count, index) => {
      const end = Math.min(this.width, x + count);
      if (end <= x) return;
      if (x > filled) span(filled, x - filled, 0);
      span(x, end - x, index);
      filled = end;
    };
    while (!this.ended && this.y === row) this.step(put);
    if (filled < this.width) span(filled, this.width - filled, 0);
  }

  /** Reads on after the last row to the end-of-bitmap code, which must be there. */
  finish(): void {
    while (!this.ended) this.step(() => undefined);
  }

  /** One code: a run, a literal block, an end of line, a delta or the end of the bitmap. */
  private step(put: Span): void {
    const { bytes, four, fail } = this;
    let i = this.at;
    if (i + 1 >= bytes.length) fail('run-length data ends before its end-of-bitmap code');
    const [count, value] = [bytes[i], bytes[i + 1]];
    i += 2;
    if (count > 0) {
      // An RLE4 run alternates the byte's two nibbles.
      if (!four || value >> 4 === (value & 15)) put(this.x, count, four ? value & 15 : value);
      else for (let k = 0; k < count; k++) put(this.x + k, 1, k % 2 === 0 ? value >> 4 : value & 15);
      this.x += count;
    } else if (value === 0) {
      [this.x, this.y] = [0, this.y + 1];
    } else if (value === 1) {
      this.ended = true;
    } else if (value === 2) {
      if (i + 1 >= bytes.length) fail('truncated run-length delta');
      [this.x, this.y, i] = [this.x + bytes[i], this.y + bytes[i + 1], i + 2];
    } else {
      const stored = four ? Math.ceil(value / 2) : value;
      if (i + stored > bytes.length) fail('truncated run-length literal');
      for (let k = 0; k < value; k++)
        put(this.x + k, 1, four ? (k % 2 === 0 ? bytes[i + (k >> 1)] >> 4 : bytes[i + (k >> 1)] & 15) : bytes[i + k]);
      this.x += value;
      i += stored + (stored % 2);
    }
    this.at = i;
    if (this.y > this.height) fail('run-length data runs past the last row');
  }
}

/** A channel mask as a shift and a scale to 0..255. */
function channel(mask: number): { mask: number; shift: number; max: number } {
  if (mask === 0) return { mask: 0, shift: 0, max: 1 };
  let shift = 0;
  while (((mask >>> shift) & 1) === 0) shift++;
  return { mask, shift, max: mask >>> shift };
}

/** Decodes stored rows, in file order, into a shrink; finish() checks what follows the last row. */
interface RowReader {
  read(stored: number, y: number, shrink: BoxShrink<Uint8Array>): void;
  finish(): void;
}

/** Rows stored pixel by pixel: each decoded to RGB, then added whole. */
function uncompressedRows(width: number, decode: (stored: number, rgb: Uint8Array) => void): RowReader {
  const rgb = new Uint8Array(width * 3);
  return {
    read(stored, y, shrink) {
      decode(stored, rgb);
      shrink.addRow(y, rgb);
    },
    finish: () => undefined,
  };
}

/** The reader for the header's kind of pixels, once the file was checked to hold them. */
function rowReader(bytes: Uint8Array, header: BmpHeader, fail: Fail): RowReader {
  const { width, height, bitCount, compression, headerSize, pixelOffset } = header;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const rle = compression === BI_RLE8 || compression === BI_RLE4;
  const stride = Math.ceil((width * bitCount) / 32) * 4;
  if (!rle && pixelOffset + stride * height > bytes.length)
    fail(`truncated: ${stride * height} bytes of pixels expected, ${Math.max(0, bytes.length - pixelOffset)} present`);
  const rowAt = (stored: number): number => pixelOffset + stored * stride;
  if (bitCount <= 8) {
    const count = view.getUint32(46, true) || 2 ** bitCount;
    const start = 14 + headerSize;
    if (start + count * 4 > pixelOffset || start + count * 4 > bytes.length) fail('truncated palette');
    // Entries are B, G, R, unused; indices never reach past 2^bitCount.
    const colours = Array.from({ length: Math.min(count, 2 ** bitCount) }, (_, i) =>
      Uint8Array.of(bytes[start + 4 * i + 2], bytes[start + 4 * i + 1], bytes[start + 4 * i]),
    );
    const colour = (index: number): Uint8Array => colours[index] ?? fail(`palette index ${index} out of range`);
    if (rle) {
      const runs = new RleRows(bytes, pixelOffset, width, height, compression === BI_RLE4, fail);
      return {
        read: (stored, y, shrink) => runs.read(stored, (x, n, index) => shrink.addRun(y, x, n, colour(index))),
        finish: () => runs.finish(),
      };
    }
    return uncompressedRows(width, (stored, rgb) => {
      const row = rowAt(stored);
      for (let x = 0; x < width; x++) {
        const index =
          bitCount === 8
            ? bytes[row + x]
            : bitCount === 4
              ? (bytes[row + (x >> 1)] >> (x % 2 === 0 ? 4 : 0)) & 15
              : (bytes[row + (x >> 3)] >> (7 - (x % 8))) & 1;
        const c = colour(index);
        rgb[3 * x] = c[0];
        rgb[3 * x + 1] = c[1];
        rgb[3 * x + 2] = c[2];
      }
    });
  }
  if (bitCount === 24) {
    return uncompressedRows(width, (stored, rgb) => {
      const row = rowAt(stored);
      for (let x = 0; x < width; x++) {
        rgb[3 * x] = bytes[row + 3 * x + 2];
        rgb[3 * x + 1] = bytes[row + 3 * x + 1];
        rgb[3 * x + 2] = bytes[row + 3 * x];
      }
    });
  }
  // Masks follow a 40-byte header, or sit inside a V4/V5 header at the same place.
  const fields = compression === BI_BITFIELDS || compression === BI_ALPHABITFIELDS;
  const maskAt = 54;
  const defaults = bitCount === 16 ? [0x7c00, 0x03e0, 0x001f] : [0xff0000, 0x00ff00, 0x0000ff];
  if (fields && maskAt + 12 > bytes.length) fail('truncated bit-field masks');
  const masks = (fields ? [0, 1, 2].map((k) => view.getUint32(maskAt + 4 * k, true)) : defaults).map(channel);
  return uncompressedRows(width, (stored, rgb) => {
    const row = rowAt(stored);
    for (let x = 0; x < width; x++) {
      const value = bitCount === 16 ? view.getUint16(row + x * 2, true) : view.getUint32(row + x * 4, true);
      masks.forEach((m, c) => (rgb[3 * x + c] = Math.round((((value & m.mask) >>> m.shift) * 255) / m.max)));
    }
  });
}

export function decodeBmp(bytes: Uint8Array, source: string, options: BmpOptions = {}): RawImage {
  const fail = failFor(source);
  const header = readHeader(bytes, fail);
  const { width, height, topDown } = header;
  checkPixelLimit(source, width, height, options.maxPixels);
  if (14 + header.headerSize > bytes.length) fail(`unsupported or truncated info header (${header.headerSize} bytes)`);
  const rows = rowReader(bytes, header, fail);
  const shrink = new BoxShrink(
    width,
    height,
    3,
    shrinkFactor(width, height, options.minShortSide ?? Infinity),
    (length) => new Uint8Array(length),
  );
  for (let stored = 0; stored < height; stored++) rows.read(stored, topDown ? stored : height - 1 - stored, shrink);
  rows.finish();
  return { width: shrink.width, height: shrink.height, data: shrink.finish() };
}

/** Header-only: the size, checked, without decoding pixels. */
export function bmpSize(bytes: Uint8Array, source: string): { width: number; height: number } {
  const { width, height } = readHeader(bytes, failFor(source));
  return { width, height };
}

/** Encodes RGB as an uncompressed 24-bit bottom-up BMP (for tests and tools). */
export function encodeBmp(image: RawImage): Uint8Array {
  const { width, height, data } = image;
  const stride = Math.ceil((width * 3) / 4) * 4;
  const out = new Uint8Array(54 + stride * height);
  const view = new DataView(out.buffer);
  out[0] = 0x42;
  out[1] = 0x4d;
  view.setUint32(2, out.length, true);
  view.setUint32(10, 54, true);
  view.setUint32(14, 40, true);
  view.setInt32(18, width, true);
  view.setInt32(22, height, true);
  view.setUint16(26, 1, true);
  view.setUint16(28, 24, true);
  view.setUint32(34, stride * height, true);
  for (let y = 0; y < height; y++) {
    const row = 54 + (height - 1 - y) * stride;
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      out[row + x * 3] = data[i + 2];
      out[row + x * 3 + 1] = data[i + 1];
      out[row + x * 3 + 2] = data[i];
    }
  }
  return out;
}
