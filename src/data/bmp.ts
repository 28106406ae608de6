// A decoder for Windows bitmaps (libvips, and so sharp, reads no BMP): uncompressed 24- and 32-bit, 32-bit with
// bit fields, and 8-bit palette images, bottom-up or top-down. Returns packed RGB.

export interface RawImage {
  width: number;
  height: number;
  /** width * height * 3 bytes, row-major RGB. */
  data: Uint8Array;
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
  if (!(compression === 0 || (compression === 3 && bitCount === 32))) fail(`compression ${compression} is not supported (only uncompressed)`);
  if (![8, 24, 32].includes(bitCount)) fail(`${bitCount} bits per pixel is not supported (8, 24 or 32)`);
  const stride = Math.ceil((width * bitCount) / 32) * 4;
  if (pixelOffset + stride * height > bytes.length) fail(`truncated: ${stride * height} bytes of pixels expected, ${Math.max(0, bytes.length - pixelOffset)} present`);
  let palette: Uint8Array | null = null;
  if (bitCount === 8) {
    const colours = view.getUint32(46, true) || 256;
    const start = 14 + headerSize;
    if (start + colours * 4 > pixelOffset) fail('truncated palette');
    palette = bytes.subarray(start, start + colours * 4);
  }
  const out = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    const row = pixelOffset + (topDown ? y : height - 1 - y) * stride;
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * 3;
      if (palette !== null) {
        const p = bytes[row + x] * 4;
        if (p + 2 >= palette.length) fail(`palette index ${bytes[row + x]} out of range`);
        out[o] = palette[p + 2];
        out[o + 1] = palette[p + 1];
        out[o + 2] = palette[p];
      } else {
        const i = row + x * (bitCount / 8);
        out[o] = bytes[i + 2];
        out[o + 1] = bytes[i + 1];
        out[o + 2] = bytes[i];
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
