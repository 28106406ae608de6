// Bitmap variants for tests: 1-, 4- and 8-bit palettes (plain or run-length encoded), 16/32-bit bit fields, and
// blank run-length bitmaps that declare any size in a kilobyte.

interface Header {
  width: number;
  height: number;
  bits: number;
  compression: number;
  colours: number;
  extra: Uint8Array;
  pixels: Uint8Array;
}

function assemble(h: Header): Uint8Array {
  const pixelOffset = 54 + h.extra.length;
  const out = new Uint8Array(pixelOffset + h.pixels.length);
  const view = new DataView(out.buffer);
  out.set([0x42, 0x4d]);
  view.setUint32(2, out.length, true);
  view.setUint32(10, pixelOffset, true);
  view.setUint32(14, 40, true);
  view.setInt32(18, h.width, true);
  view.setInt32(22, h.height, true);
  view.setUint16(26, 1, true);
  view.setUint16(28, h.bits, true);
  view.setUint32(30, h.compression, true);
  view.setUint32(34, h.pixels.length, true);
  view.setUint32(46, h.colours, true);
  out.set(h.extra, 54);
  out.set(h.pixels, pixelOffset);
  return out;
}

/** A palette image, bottom-up; `rle` run-length encodes 8-bit (RLE8) or 4-bit (RLE4) indices, runs and literals mixed. */
export function encodePaletteBmp(
  width: number,
  height: number,
  bits: 1 | 4 | 8,
  indices: Uint8Array,
  palette: [number, number, number][],
  rle = false,
): Uint8Array {
  const paletteBytes = new Uint8Array(palette.length * 4);
  palette.forEach(([r, g, b], i) => paletteBytes.set([b, g, r, 0], i * 4));
  const rows: number[] = [];
  const stride = Math.ceil((width * bits) / 32) * 4;
  for (let y = height - 1; y >= 0; y--) {
    const line = Array.from(indices.subarray(y * width, (y + 1) * width));
    if (!rle) {
      const packed = new Array<number>(stride).fill(0);
      line.forEach((v, x) => (packed[Math.floor((x * bits) / 8)] |= v << (8 - bits - ((x * bits) % 8))));
      rows.push(...packed);
      continue;
    }
    // The first half of each row as repeated runs, the rest as one literal (absolute) block.
    let x = 0;
    while (x < width / 2) {
      let n = 1;
      while (x + n < width / 2 && line[x + n] === line[x] && n < 255) n++;
      rows.push(n, bits === 4 ? (line[x] << 4) | line[x] : line[x]);
      x += n;
    }
    const literal = line.slice(x);
    if (literal.length >= 3) {
      const packed =
        bits === 4
          ? Array.from(
              { length: Math.ceil(literal.length / 2) },
              (_, k) => (literal[2 * k] << 4) | (literal[2 * k + 1] ?? 0),
            )
          : literal;
      rows.push(0, literal.length, ...packed, ...(packed.length % 2 === 1 ? [0] : []));
    } else {
      for (const v of literal) rows.push(1, bits === 4 ? v << 4 : v);
    }
    rows.push(0, 0);
  }
  if (rle) rows.push(0, 1);
  return assemble({
    width,
    height,
    bits,
    compression: rle ? (bits === 8 ? 1 : 2) : 0,
    colours: palette.length,
    extra: paletteBytes,
    pixels: Uint8Array.from(rows),
  });
}

/** A 16- or 32-bit image with the given R, G, B masks (BI_BITFIELDS), from packed pixel values, bottom-up. */
export function encodeBitfieldBmp(
  width: number,
  height: number,
  bits: 16 | 32,
  masks: [number, number, number],
  values: Uint32Array,
): Uint8Array {
  const stride = Math.ceil((width * bits) / 32) * 4;
  const pixels = new Uint8Array(stride * height);
  const view = new DataView(pixels.buffer);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const at = (height - 1 - y) * stride + (x * bits) / 8;
      if (bits === 16) view.setUint16(at, values[y * width + x], true);
      else view.setUint32(at, values[y * width + x], true);
    }
  }
  const extra = new Uint8Array(12);
  masks.forEach((m, k) => new DataView(extra.buffer).setUint32(4 * k, m, true));
  return assemble({ width, height, bits, compression: 3, colours: 0, extra, pixels });
}

/**
 * An RLE8 bitmap of any declared size in about a kilobyte: a 256-colour palette whose entry 0 is `colour`, then at
 * once the end-of-bitmap code, so that every pixel takes entry 0. Without `end`, the codes stop short of it (corrupt).
 */
export function encodeBlankRleBmp(
  width: number,
  height: number,
  colour: [number, number, number] = [0, 0, 0],
  end = true,
): Uint8Array {
  const palette = new Uint8Array(256 * 4);
  palette.set([colour[2], colour[1], colour[0]]);
  return assemble({
    width,
    height,
    bits: 8,
    compression: 1,
    colours: 256,
    extra: palette,
    pixels: Uint8Array.from(end ? [0, 1] : [0, 0]),
  });
}
