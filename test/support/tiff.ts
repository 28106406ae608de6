// A minimal baseline TIFF writer for tests: uncompressed, little-endian, any band count, 8/16-bit unsigned or
// 32-bit float samples, interleaved, in strips, with the photometric interpretation, extra-sample kinds, a
// palette and other tags (georeferencing, GDAL_NODATA) as given. Enough to make the remote sensing files users
// bring (16-bit, 12-bit-in-16, float, RGB+NIR, GeoTIFF scenes).

export interface TiffSpec {
  width: number;
  height: number;
  bands: number;
  bits: 8 | 16 | 32;
  format: 'uint' | 'float';
  /** Interleaved samples, width x height x bands. */
  data: Uint8Array | Uint16Array | Float32Array;
  photometric?: 'minisblack' | 'rgb' | 'palette';
  /** ExtraSamples values for bands beyond the colour ones (0 unspecified, 1 associated alpha, 2 unassociated alpha). */
  extraSamples?: number[];
  /** Palette images: 3 x 2^bits entries, 16-bit, all reds then greens then blues. */
  colormap?: Uint16Array;
  rowsPerStrip?: number;
  /** Other tags (georeferencing, GDAL_NODATA): ASCII text, or SHORT, LONG or DOUBLE values. */
  tags?: { tag: number; type: 2 | 3 | 4 | 12; values: readonly number[] | string }[];
}

const TYPE_BYTES: Record<number, number> = { 2: 1, 3: 2, 4: 4, 12: 8 };

export function encodeTiff(spec: TiffSpec): Uint8Array {
  const { width, height, bands, bits, format, data } = spec;
  const photometric = { minisblack: 1, rgb: 2, palette: 3 }[spec.photometric ?? (bands >= 3 ? 'rgb' : 'minisblack')];
  const rowsPerStrip = spec.rowsPerStrip ?? height;
  const rowBytes = width * bands * (bits / 8);
  const strips = Math.ceil(height / rowsPerStrip);
  const pixels = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const entries: [number, number, number[]][] = []; // tag, type (2 ASCII, 3 SHORT, 4 LONG, 12 DOUBLE), values
  entries.push(
    [256, 4, [width]],
    [257, 4, [height]],
    [258, 3, new Array(bands).fill(bits)],
    [259, 3, [1]],
    [262, 3, [photometric]],
  );
  entries.push(
    [273, 4, []],
    [277, 3, [bands]],
    [278, 4, [rowsPerStrip]],
    [279, 4, Array.from({ length: strips }, (_, s) => Math.min(rowsPerStrip, height - s * rowsPerStrip) * rowBytes)],
  );
  entries.push([284, 3, [1]]);
  if (spec.colormap) entries.push([320, 3, Array.from(spec.colormap)]);
  if (spec.extraSamples) entries.push([338, 3, spec.extraSamples]);
  entries.push([339, 3, new Array(bands).fill(format === 'float' ? 3 : 1)]);
  for (const { tag, type, values } of spec.tags ?? [])
    entries.push([tag, type, typeof values === 'string' ? [...Buffer.from(`${values}\0`, 'latin1')] : [...values]]);
  entries.sort((a, b) => a[0] - b[0]);
  // Layout: header, pixel data, then the IFD and the out-of-line values.
  const dataStart = 8;
  const ifdStart = dataStart + pixels.length + (pixels.length % 2);
  const ifdBytes = 2 + entries.length * 12 + 4;
  let extra = ifdStart + ifdBytes;
  const stripOffsets = entries.find((e) => e[0] === 273)!;
  stripOffsets[2] = Array.from({ length: strips }, (_, s) => dataStart + s * rowsPerStrip * rowBytes);
  const outOfLine: { at: number; type: number; values: number[] }[] = [];
  const layout = entries.map(([tag, type, values]) => {
    const size = TYPE_BYTES[type] * values.length;
    if (size <= 4) return { tag, type, values, offset: -1 };
    const at = extra;
    extra += size + (size % 2);
    outOfLine.push({ at, type, values });
    return { tag, type, values, offset: at };
  });
  const out = new Uint8Array(extra);
  const view = new DataView(out.buffer);
  out.set([0x49, 0x49, 42, 0]);
  view.setUint32(4, ifdStart, true);
  out.set(pixels, dataStart);
  view.setUint16(ifdStart, entries.length, true);
  const put = (at: number, type: number, v: number): void => {
    if (type === 2) view.setUint8(at, v);
    else if (type === 3) view.setUint16(at, v, true);
    else if (type === 4) view.setUint32(at, v, true);
    else view.setFloat64(at, v, true);
  };
  layout.forEach(({ tag, type, values, offset }, i) => {
    const at = ifdStart + 2 + i * 12;
    view.setUint16(at, tag, true);
    view.setUint16(at + 2, type, true);
    view.setUint32(at + 4, values.length, true);
    if (offset >= 0) view.setUint32(at + 8, offset, true);
    else values.forEach((v, k) => put(at + 8 + TYPE_BYTES[type] * k, type, v));
  });
  view.setUint32(ifdStart + 2 + entries.length * 12, 0, true);
  for (const { at, type, values } of outOfLine) values.forEach((v, k) => put(at + TYPE_BYTES[type] * k, type, v));
  return out;
}
