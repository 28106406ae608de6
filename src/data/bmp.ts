// A decoder for Windows bitmaps (libvips, and so sharp, reads no BMP): 1-, 4- and 8-bit palettes, uncompressed or
// run-length encoded (RLE8, RLE4); 16- and 32-bit with bit fields (masks) or their defaults (5-5-5, BGRX); 24-bit;
// bottom-up or top-down. Returns packed RGB; alpha is not used.

export interface RawImage {
  width: number;
  height: number;
  /** width * height * 3 bytes, row-major RGB. */
  data: Uint8Array;
}

const BI_RGB = 0;
const BI_RLE8 = 1;
const BI_RLE4 = 2;
const BI_BITFIELDS = 3;
const BI_ALPHABITFIELDS = 6;

/** A channel mask as a shift and a scale to 0..255. */
function channel(mask: number): { mask: number; shift: number; max: number } {
  if (mask === 0) return { mask: 0, shift: 0, max: 1 };
  let shift = 0;
  while (((mask >>> shift) & 1) === 0) shift++;
  return { mask, shift, max: mask >>> shift };
}

/** Palette indices of an RLE8 or RLE4 bitmap, bottom-up rows as stored (skipped pixels take index 0). */
function decodeRle(bytes: Uint8Array, start: number, width: number, height: number, four: boolean, fail: (why: string) => never): Uint8Array {
  const indices = new Uint8Array(width * height);
  let [x, y, i] = [0, 0, start];
  const put = (index: number): void => {
    if (x < width && y < height) indices[y * width + x] = index;
    x++;
  };
  for (;;) {
    if (i + 1 >= bytes.length) fail('run-length data ends before its end-of-bitmap code');
    const [count, value] = [bytes[i], bytes[i + 1]];
    i += 2;
    if (count > 0) {
      for (let k = 0; k < count; k++) put(four ? (k % 2 === 0 ? value >> 4 : value & 15) : value);
    } else if (value === 0) {
      [x, y] = [0, y + 1];
    } else if (value === 1) {
      return indices;
    } else if (value === 2) {
      if (i + 1 >= bytes.length) fail('truncated run-length delta');
      [x, y, i] = [x + bytes[i], y + bytes[i + 1], i + 2];
    } else {
      const stored = four ? Math.ceil(value / 2) : value;
      if (i + stored > bytes.length) fail('truncated run-length literal');
      for (let k = 0; k < value; k++) put(four ? (k % 2 === 0 ? bytes[i + (k >> 1)] >> 4 : bytes[i + (k >> 1)] & 15) : bytes[i + k]);
      i += stored + (stored % 2);
    }
    if (y > height) fail('run-length data runs past the last row');
  }
}

export function decodeBmp(bytes: Uint8Array, source: string): RawImage {
  const fail = (why: string): never => {
    throw new Error(`${source}: corrupt BMP: ${why}`);
  };
  if (bytes.length < 26 || bytes[0] !== 0x42 || bytes[1] !== 0x4d) fail('missing the BM header');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const pixelOffset = view.getUint32(10, true);
  const headerSize = view.getUint32(14, true);
  if (headerSize < 40 || 14 + headerSize > bytes.length) fail(`unsupported or truncated info header (${headerSize} bytes)`);
  const width = view.getInt32(18, true);
  const rawHeight = view.getInt32(22, true);
  const bitCount = view.getUint16(28, true);
  const compression = view.getUint32(30, true);
  const topDown = rawHeight < 0;
  const height = Math.abs(rawHeight);
  if (width <= 0 || height <= 0 || width > 65535 || height > 65535) fail(`implausible size ${width}x${rawHeight}`);
  if (![1, 4, 8, 16, 24, 32].includes(bitCount)) fail(`${bitCount} bits per pixel is not supported (1, 4, 8, 16, 24 or 32)`);
  const rle = compression === BI_RLE8 || compression === BI_RLE4;
  const fields = compression === BI_BITFIELDS || compression === BI_ALPHABITFIELDS;
  const supported = compression === BI_RGB || (compression === BI_RLE8 && bitCount === 8) || (compression === BI_RLE4 && bitCount === 4) || (fields && (bitCount === 16 || bitCount === 32));
  if (!supported) fail(`compression ${compression} with ${bitCount} bits per pixel is not supported`);
  if (rle && topDown) fail('a run-length encoded bitmap cannot be top-down');
  const stride = Math.ceil((width * bitCount) / 32) * 4;
  if (!rle && pixelOffset + stride * height > bytes.length) fail(`truncated: ${stride * height} bytes of pixels expected, ${Math.max(0, bytes.length - pixelOffset)} present`);

  let palette: Uint8Array | null = null;
  if (bitCount <= 8) {
    const colours = view.getUint32(46, true) || 2 ** bitCount;
    const start = 14 + headerSize;
    if (start + colours * 4 > pixelOffset || start + colours * 4 > bytes.length) fail('truncated palette');
    palette = bytes.subarray(start, start + colours * 4);
  }
  // Masks follow a 40-byte header, or sit inside a V4/V5 header at the same place.
  const maskAt = 54;
  const defaults = bitCount === 16 ? [0x7c00, 0x03e0, 0x001f] : [0xff0000, 0x00ff00, 0x0000ff];
  if (fields && maskAt + 12 > bytes.length) fail('truncated bit-field masks');
  const masks = (fields ? [0, 1, 2].map((k) => view.getUint32(maskAt + 4 * k, true)) : defaults).map(channel);

  const indices = rle ? decodeRle(bytes, pixelOffset, width, height, compression === BI_RLE4, fail) : null;
  const out = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    const storedRow = topDown ? y : height - 1 - y;
    const row = pixelOffset + storedRow * stride;
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * 3;
      if (palette !== null) {
        let index: number;
        if (indices !== null) index = indices[storedRow * width + x];
        else if (bitCount === 8) index = bytes[row + x];
        else if (bitCount === 4) index = (bytes[row + (x >> 1)] >> (x % 2 === 0 ? 4 : 0)) & 15;
        else index = (bytes[row + (x >> 3)] >> (7 - (x % 8))) & 1;
        const p = index * 4;
        if (p + 2 >= palette.length) fail(`palette index ${index} out of range`);
        out[o] = palette[p + 2];
        out[o + 1] = palette[p + 1];
        out[o + 2] = palette[p];
      } else if (bitCount === 24) {
        const i = row + x * 3;
        out[o] = bytes[i + 2];
        out[o + 1] = bytes[i + 1];
        out[o + 2] = bytes[i];
      } else {
        const value = bitCount === 16 ? view.getUint16(row + x * 2, true) : view.getUint32(row + x * 4, true);
        masks.forEach((m, c) => (out[o + c] = Math.round((((value & m.mask) >>> m.shift) * 255) / m.max)));
      }
    }
  }
  return { width, height, data: out };
}

/** Header-only: the size, without decoding pixels. */
export function bmpSize(bytes: Uint8Array, source: string): { width: number; height: number } {
  if (bytes.length < 26) throw new Error(`${source}: corrupt BMP: missing the info header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { width: view.getInt32(18, true), height: Math.abs(view.getInt32(22, true)) };
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
