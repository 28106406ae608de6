// Every image kind users bring decodes to what it shows: wide and float TIFF samples stretched by their real range,
// chosen bands of multi-band TIFFs, alpha flattened onto black, palette and grey images, every BMP variant, and
// images above libvips' default pixel limit; images above ours are refused by name.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import sharp from 'sharp';

import {
  decodeBmp,
  decodeImage,
  type DecodeOptions,
  encodeBmp,
  type RawImage,
  scanDataset,
} from '../src/data/index.js';
import { openTiff, readTiffRgb } from '../src/data/tiff.js';
import { encodeBitfieldBmp, encodeBlankRleBmp, encodePaletteBmp } from './support/bmp.js';
import { makeDataset } from './support/images.js';
import { encodeTiff, type TiffSpec } from './support/tiff.js';

const dataModule = new URL('../src/data/index.js', import.meta.url).href;
const dir = mkdtempSync(join(tmpdir(), 'dsdnet-kinds-'));
const N = 32; // images are N x N and decoded at N: no resampling, so values can be checked exactly
const file = (name: string, bytes: Uint8Array): string => {
  writeFileSync(join(dir, name), bytes);
  return join(dir, name);
};
const decode = (path: string, options: DecodeOptions = {}): Promise<Uint8Array> =>
  decodeImage(path, N, 'exact', options);
/** Interleaved samples: band b of pixel (x, y) is value(b, x, y). */
function samples<T extends Uint8Array | Uint16Array | Float32Array>(
  array: T,
  bands: number,
  value: (b: number, x: number, y: number) => number,
): T {
  for (let i = 0; i < array.length; i++) {
    const p = Math.floor(i / bands);
    array[i] = value(i % bands, p % N, Math.floor(p / N));
  }
  return array;
}
const tiff = (spec: Omit<TiffSpec, 'width' | 'height'>): Uint8Array => encodeTiff({ width: N, height: N, ...spec });
const pixel = (rgb: Uint8Array, x: number, y: number): number[] =>
  Array.from(rgb.subarray((y * N + x) * 3, (y * N + x) * 3 + 3));

test('12-bit-in-16 TIFF: stretched by its real range, not crushed to black; a fixed range maps exactly', async () => {
  const path = file(
    'u12.tif',
    tiff({
      bands: 3,
      bits: 16,
      format: 'uint',
      data: samples(new Uint16Array(N * N * 3), 3, (_b, x, y) => (x + N * y) * 4),
    }),
  );
  const stretched = await decode(path);
  assert.equal(Math.min(...stretched), 0);
  assert.equal(Math.max(...stretched), 255);
  assert.ok(
    stretched.reduce((s, v) => s + v, 0) / stretched.length > 100,
    'mid-grey on average, where dividing by 256 would give 8',
  );
  const ranged = await decode(path, { scale: { kind: 'range', min: 0, max: 4095 } });
  for (const [x, y] of [
    [0, 0],
    [5, 3],
    [31, 31],
  ])
    assert.deepEqual(
      pixel(ranged, x, y),
      new Array(3).fill(Math.round(((x + N * y) * 4 * 255) / 4095)),
      `(${x}, ${y})`,
    );
});

test('float TIFF (reflectance): a range maps it, NaN becomes 0', async () => {
  const path = file(
    'f32.tif',
    tiff({
      bands: 3,
      bits: 32,
      format: 'float',
      data: samples(new Float32Array(N * N * 3), 3, (b, x) => (x === 0 ? NaN : (x / 31) * (b + 1) * 0.3)),
    }),
  );
  const rgb = await decode(path, { scale: { kind: 'range', min: 0, max: 1 } });
  assert.deepEqual(pixel(rgb, 0, 0), [0, 0, 0]);
  assert.deepEqual(
    pixel(rgb, 31, 7),
    [1, 2, 3].map((k) => Math.round(Math.fround(k * 0.3) * 255)),
  );
});

test('RGB+NIR and multispectral TIFFs: the first three bands by default, others with --bands; an absent band is named', async () => {
  const value = (b: number, x: number): number => 500 * (b + 1) + x;
  const rgbn = file(
    'rgbn.tif',
    tiff({
      bands: 4,
      bits: 16,
      format: 'uint',
      data: samples(new Uint16Array(N * N * 4), 4, value),
      extraSamples: [0],
    }),
  );
  const scale = { kind: 'range', min: 0, max: 2500 } as const;
  const expected = (bands: number[], x: number): number[] =>
    bands.map((b) => Math.round((value(b - 1, x) * 255) / 2500));
  assert.deepEqual(pixel(await decode(rgbn, { scale }), 9, 2), expected([1, 2, 3], 9));
  assert.deepEqual(pixel(await decode(rgbn, { scale, bands: [4, 3, 2] }), 9, 2), expected([4, 3, 2], 9));
  assert.deepEqual(pixel(await decode(rgbn, { scale, bands: [4] }), 9, 2), expected([4, 4, 4], 9), 'one band is grey');
  const five = file(
    'five.tif',
    tiff({
      bands: 5,
      bits: 8,
      format: 'uint',
      data: samples(new Uint8Array(N * N * 5), 5, (b) => 40 * (b + 1)),
      photometric: 'minisblack',
      extraSamples: [0, 0, 0, 0],
    }),
  );
  assert.deepEqual(
    pixel(await decode(five, { bands: [5, 4, 3] }), 4, 4),
    [200, 160, 120],
    '8-bit samples are used as they are',
  );
  await assert.rejects(decode(five, { bands: [6, 2, 1] }), /five\.tif: --bands 6,2,1 asks for band 6, the image has 5/);
  const jpeg = file(
    'rgb.jpg',
    await sharp({ create: { width: N, height: N, channels: 3, background: { r: 250, g: 128, b: 5 } } })
      .jpeg({ quality: 100 })
      .toBuffer(),
  );
  const swapped = pixel(await decode(jpeg, { bands: [3, 2, 1] }), 3, 3);
  assert.ok(Math.abs(swapped[0] - 5) <= 2 && Math.abs(swapped[2] - 250) <= 2, `bands of a JPEG: ${swapped}`);
  await assert.rejects(
    decode(jpeg, { bands: [4, 3, 2] }),
    /rgb\.jpg: --bands 4,3,2 asks for more bands than the image's 3/,
  );
});

test('alpha is flattened onto black: RGBA PNG, 8-bit and 16-bit RGBA TIFF', async () => {
  const rgba = samples(new Uint8Array(N * N * 4), 4, (b, x) => (b === 3 ? (x < N / 2 ? 0 : 255) : [200, 100, 50][b]));
  const png = file(
    'rgba.png',
    await sharp(rgba, { raw: { width: N, height: N, channels: 4 } })
      .png()
      .toBuffer(),
  );
  const tif8 = file('rgba8.tif', tiff({ bands: 4, bits: 8, format: 'uint', data: rgba, extraSamples: [2] }));
  const rgba16 = samples(new Uint16Array(N * N * 4), 4, (b, x) =>
    b === 3 ? (x < N / 2 ? 0 : 65535) : [2000, 1000, 500][b],
  );
  const tif16 = file('rgba16.tif', tiff({ bands: 4, bits: 16, format: 'uint', data: rgba16, extraSamples: [2] }));
  for (const [path, right] of [
    [png, [200, 100, 50]],
    [tif8, [200, 100, 50]],
    [tif16, [204, 102, 51]],
  ] as const) {
    const rgb = await decode(path, path === tif16 ? { scale: { kind: 'range', min: 0, max: 2500 } } : {});
    assert.deepEqual(pixel(rgb, 2, 5), [0, 0, 0], `${path}: transparent`);
    assert.deepEqual(pixel(rgb, 30, 5), right, `${path}: opaque`);
  }
});

test('palette and grey images: PNG palette, grey, grey + alpha, 16-bit grey TIFF', async () => {
  const colours = samples(new Uint8Array(N * N * 3), 3, (b, x) => (x < N / 2 ? [255, 0, 0] : [0, 0, 255])[b]);
  const palette = file(
    'palette.png',
    await sharp(colours, { raw: { width: N, height: N, channels: 3 } })
      .png({ palette: true, colours: 2, dither: 0 })
      .toBuffer(),
  );
  assert.equal((await sharp(palette).metadata()).isPalette, true, 'a palette PNG');
  const rgb = await decode(palette);
  assert.deepEqual(pixel(rgb, 1, 1), [255, 0, 0]);
  assert.deepEqual(pixel(rgb, 30, 1), [0, 0, 255]);
  const grey = samples(new Uint8Array(N * N), 1, (_b, x) => 8 * x);
  assert.deepEqual(
    pixel(
      await decode(
        file(
          'grey.png',
          await sharp(grey, { raw: { width: N, height: N, channels: 1 } })
            .png()
            .toBuffer(),
        ),
      ),
      7,
      0,
    ),
    [56, 56, 56],
  );
  const greyAlpha = samples(new Uint8Array(N * N * 2), 2, (b, x) => (b === 0 ? 100 : x < N / 2 ? 0 : 255));
  const ga = await decode(
    file(
      'grey-alpha.png',
      await sharp(greyAlpha, { raw: { width: N, height: N, channels: 2 } })
        .png()
        .toBuffer(),
    ),
  );
  assert.deepEqual(
    [pixel(ga, 0, 0), pixel(ga, 31, 0)],
    [
      [0, 0, 0],
      [100, 100, 100],
    ],
  );
  const grey16 = file(
    'grey16.tif',
    tiff({ bands: 1, bits: 16, format: 'uint', data: samples(new Uint16Array(N * N), 1, (_b, x) => 1000 + 100 * x) }),
  );
  assert.deepEqual(
    pixel(await decode(grey16, { scale: { kind: 'range', min: 1000, max: 4100 } }), 31, 9),
    [255, 255, 255],
  );
});

const [BW, BH] = [13, 5]; // odd width: row padding and half-filled bytes

/** Every BMP kind, and the RGB it shows. */
function bmpKinds(): { kind: string; bytes: Uint8Array; rgb: Uint8Array }[] {
  const [w, h] = [BW, BH];
  const palette: [number, number, number][] = Array.from({ length: 16 }, (_, i) => [
    i * 16,
    255 - i * 16,
    (i * 40) % 256,
  ]);
  const indices = (levels: number): Uint8Array =>
    Uint8Array.from({ length: w * h }, (_, i) => (i % w < 4 ? 1 : (i * 7) % levels));
  const expectPalette = (idx: Uint8Array): Uint8Array =>
    Uint8Array.from({ length: w * h * 3 }, (_, i) => palette[idx[Math.floor(i / 3)]][i % 3]);
  const kinds = (
    [
      [1, false],
      [4, false],
      [8, false],
      [8, true],
      [4, true],
    ] as const
  ).map(([bits, rle]) => {
    const idx = indices(2 ** Math.min(bits, 4));
    return {
      kind: `${bits}-bit${rle ? ' RLE' : ''}`,
      bytes: encodePaletteBmp(w, h, bits, idx, palette.slice(0, 2 ** Math.min(bits, 4)), rle),
      rgb: expectPalette(idx),
    };
  });
  const rgb = Uint8Array.from({ length: w * h * 3 }, (_, i) => (i * 37) % 256);
  const packed565 = Uint32Array.from(
    { length: w * h },
    (_, p) => ((rgb[3 * p] >> 3) << 11) | ((rgb[3 * p + 1] >> 2) << 5) | (rgb[3 * p + 2] >> 3),
  );
  const expected565 = Uint8Array.from({ length: w * h * 3 }, (_, i) => {
    const c = i % 3;
    const bitsOf = c === 1 ? 6 : 5;
    return Math.round(((rgb[i] >> (8 - bitsOf)) * 255) / (2 ** bitsOf - 1));
  });
  kinds.push({
    kind: '16-bit 5-6-5',
    bytes: encodeBitfieldBmp(w, h, 16, [0xf800, 0x07e0, 0x001f], packed565),
    rgb: expected565,
  });
  const packedRgba = Uint32Array.from(
    { length: w * h },
    (_, p) => (rgb[3 * p] | (rgb[3 * p + 1] << 8) | (rgb[3 * p + 2] << 16) | (0xff << 24)) >>> 0,
  );
  kinds.push({
    kind: '32-bit RGBA',
    bytes: encodeBitfieldBmp(w, h, 32, [0x000000ff, 0x0000ff00, 0x00ff0000], packedRgba),
    rgb,
  });
  kinds.push({ kind: '24-bit', bytes: encodeBmp({ width: w, height: h, data: rgb }), rgb });
  return kinds;
}

/** The mean of each factor x factor box of an interleaved image, as a reference (edge boxes: the pixels they have). */
function boxMeans(
  values: ArrayLike<number>,
  width: number,
  height: number,
  channels: number,
  factor: number,
): number[] {
  const [w, h] = [Math.ceil(width / factor), Math.ceil(height / factor)];
  return Array.from({ length: w * h * channels }, (_, i) => {
    const [c, ox, oy] = [i % channels, Math.floor(i / channels) % w, Math.floor(i / channels / w)];
    let [sum, count] = [0, 0];
    for (let y = oy * factor; y < Math.min(height, (oy + 1) * factor); y++) {
      for (let x = ox * factor; x < Math.min(width, (ox + 1) * factor); x++, count++)
        sum += values[(y * width + x) * channels + c];
    }
    return sum / count;
  });
}

test('BMP: 1-, 4- and 8-bit palettes, RLE8, RLE4, 16-bit 5-6-5, 32-bit RGBA bit fields and 24-bit', () => {
  const kinds = bmpKinds();
  for (const { kind, bytes, rgb } of kinds) assert.deepEqual(decodeBmp(bytes, 'x.bmp').data, rgb, kind);
  const truncatedRle = kinds.find((k) => k.kind === '8-bit RLE')!.bytes;
  assert.throws(
    () => decodeBmp(truncatedRle.subarray(0, truncatedRle.length - 20), 'cut.bmp'),
    /cut\.bmp: corrupt BMP: (truncated run-length|run-length data ends)/,
  );
});

test('BMP: read box-shrunk to a short side, each pixel the mean of its box, every kind', () => {
  for (const { kind, bytes, rgb } of bmpKinds()) {
    const shrunk = decodeBmp(bytes, 'x.bmp', { minShortSide: 2 }); // 13 x 5 by a factor of 2: edge boxes of 1 x 2, 2 x 1, 1 x 1
    assert.deepEqual([shrunk.width, shrunk.height], [7, 3], kind);
    assert.deepEqual(Array.from(shrunk.data), boxMeans(rgb, BW, BH, 3, 2).map(Math.round), kind);
  }
});

test('an elongated BMP keeps 4x the size on its short side: 400 x 40 at 8 px decodes as its PNG twin, 400 x 70 is halved', async () => {
  const elongated = (width: number, height: number): RawImage => ({
    width,
    height,
    data: Uint8Array.from({ length: width * height * 3 }, (_, i) => (Math.floor(i / 3) * 37 + (i % 3) * 91) % 256),
  });
  const strip = elongated(400, 40);
  const png = await sharp(strip.data, { raw: { width: 400, height: 40, channels: 3 } })
    .png()
    .toBuffer();
  const [fromBmp, fromPng] = await Promise.all(
    [file('strip.bmp', encodeBmp(strip)), file('strip.png', png)].map((path) => decodeImage(path, 8, 'cover')),
  );
  assert.deepEqual(
    fromBmp,
    fromPng,
    'read at full resolution (a long-side shrink to 32 would give 31 x 4, then upsample)',
  );
  const halved = decodeBmp(encodeBmp(elongated(400, 70)), 'x.bmp', { minShortSide: 32 });
  assert.deepEqual([halved.width, halved.height], [200, 35]);
});

test('wide TIFF: read a window of strips at a time, box-shrunk to a short side, each pixel the mean of its box', async () => {
  const [w, h] = [37, 23];
  const values = Uint16Array.from(
    { length: w * h * 3 },
    (_, i) => 1000 + 37 * (Math.floor(i / 3) % w) + 11 * Math.floor(i / 3 / w) + 300 * (i % 3),
  );
  const { image, layout } = await openTiff(
    encodeTiff({ width: w, height: h, bands: 3, bits: 16, format: 'uint', data: values, rowsPerStrip: 4 }),
  );
  const shrunk = await readTiffRgb(
    image,
    layout,
    { bands: null, scale: { kind: 'range', min: 1000, max: 4000 }, minShortSide: 4 },
    'x.tif',
  );
  assert.deepEqual([shrunk.width, shrunk.height], [8, 5], 'a factor of 5');
  assert.deepEqual(
    Array.from(shrunk.data),
    boxMeans(values, w, h, 3, 5).map((v) => Math.round(Math.min(255, (v - 1000) * (255 / 3000)))),
  );
});

test('BMP: the declared size meets the pixel limit before anything is allocated; a bitmap declaring 900 million pixels in a kilobyte decodes in the memory of its output', async () => {
  const path = file('declares-900M.bmp', encodeBlankRleBmp(30000, 30000, [200, 40, 7]));
  const started = performance.now();
  await assert.rejects(
    decode(path, { maxPixels: 1e6 }),
    /declares-900M\.bmp: 30000 x 30000 = 900,000,000 pixels is above the limit of 1,000,000; cut it into tiles first/,
  );
  assert.ok(performance.now() - started < 1000, `refused in ${Math.round(performance.now() - started)} ms`);
  // Peak memory is the process's, so it is measured in a fresh one: the refusal, then a decode under the default limit.
  const script = `
    const { decodeImage } = await import(${JSON.stringify(dataModule)});
    const refused = await decodeImage(${JSON.stringify(path)}, 32, 'exact', { maxPixels: 1e6 }).then(() => 'decoded', (e) => e.message);
    const refusalKiB = process.resourceUsage().maxRSS;
    const rgb = await decodeImage(${JSON.stringify(path)}, 32, 'exact');
    console.log(JSON.stringify({ refused, refusalKiB, pixel: Array.from(rgb.subarray(0, 3)), peakKiB: process.resourceUsage().maxRSS }));`;
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal(child.status, 0, child.stderr);
  const result = JSON.parse(child.stdout) as { refused: string; refusalKiB: number; pixel: number[]; peakKiB: number };
  assert.match(result.refused, /900,000,000 pixels is above the limit of 1,000,000/);
  assert.ok(result.refusalKiB < 300 * 1024, `peak RSS ${Math.round(result.refusalKiB / 1024)} MiB when refused`);
  assert.deepEqual(result.pixel, [200, 40, 7]);
  assert.ok(
    result.peakKiB < 300 * 1024,
    `peak RSS ${Math.round(result.peakKiB / 1024)} MiB when decoded (the full image is 2.7 GB)`,
  );
});

test('a BMP between libvips default limit (268 million pixels) and ours decodes', async () => {
  const path = file('declares-280M.bmp', encodeBlankRleBmp(20000, 14000, [90, 120, 30]));
  assert.deepEqual(pixel(await decode(path), 3, 3), [90, 120, 30]);
});

test('an image above libvips default limit decodes; one above ours is refused by name at the scan', async () => {
  const huge = file(
    'huge.png',
    await sharp({
      create: { width: 17000, height: 16000, channels: 3, background: { r: 90, g: 120, b: 30 } },
      limitInputPixels: false,
    })
      .png({ compressionLevel: 1 })
      .toBuffer(),
  );
  assert.deepEqual(pixel(await decode(huge), 3, 3), [90, 120, 30], '272 megapixels');
  const root = await makeDataset(2);
  mkdirSync(join(root, 'alpha', 'maps'));
  writeFileSync(
    join(root, 'alpha', 'maps', 'mosaic.tif'),
    encodeTiff({ width: 40000, height: 30000, bands: 3, bits: 8, format: 'uint', data: new Uint8Array(16) }),
  );
  await assert.rejects(
    scanDataset(root),
    /alpha\/maps\/mosaic\.tif: 40000 x 30000 = 1,200,000,000 pixels is above the limit of 1,073,741,824; cut it into tiles first/,
  );
  await assert.rejects(
    decode(huge, { maxPixels: 1e8 }),
    /huge\.png: 17000 x 16000 = 272,000,000 pixels is above the limit of 100,000,000/,
  );
});

test('a TIFF whose strip lies beyond the end of the file is named as corrupt, 8-bit (libvips) and 16-bit (geotiff)', async () => {
  for (const [bits, data] of [
    [8, new Uint8Array(N * N * 3).fill(100)],
    [16, new Uint16Array(N * N * 3).fill(1000)],
  ] as const) {
    const bytes = tiff({ bands: 3, bits, format: 'uint', data, rowsPerStrip: 8 });
    // Point the last strip past the end of the file, as a cut-off download leaves it.
    const view = new DataView(bytes.buffer);
    const ifd = view.getUint32(4, true);
    for (let e = 0; e < view.getUint16(ifd, true); e++) {
      const at = ifd + 2 + 12 * e;
      if (view.getUint16(at, true) === 273)
        view.setUint32(view.getUint32(at + 8, true) + 12, bytes.length + 4096, true);
    }
    const path = file(`broken-strip-${bits}.tif`, bytes);
    await assert.rejects(
      decode(path),
      new RegExp(`broken-strip-${bits}\\.tif: corrupt or unreadable TIFF image`),
      `${bits}-bit`,
    );
  }
});
