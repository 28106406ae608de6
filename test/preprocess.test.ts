// The page's image preparation (libvips as WebAssembly, src/serve/shared/preprocess.ts) against the server's and the
// CLI's (sharp, native libvips): the same bytes for real photos and for the kinds of file that take other paths
// (JPEG shrink-on-load, alpha, grey, 16-bit, an embedded colour profile, upscaling, TIFF, WebP).
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import sharp from 'sharp';
import Vips from 'wasm-vips';

import { decodeImageBytes } from '../src/data/decode.js';
import {
  decodeWithVips,
  jpegShrinkOnLoad,
  NeedsServerDecoderError,
  type Vips as VipsModule,
} from '../src/serve/shared/preprocess.js';
import { encodeBlankRleBmp } from './support/bmp.js';
import { encodeTiff } from './support/tiff.js';

const ucmerced = fileURLToPath(new URL('../../../shared/datasets/ucmerced', import.meta.url));
const tiffs = fileURLToPath(new URL('../../../shared/datasets/ucmerced-tiff-sample', import.meta.url));
const sharedSkip =
  existsSync(ucmerced) && existsSync(tiffs) ? false : `../shared/datasets is absent (looked for ${ucmerced})`;

let vips: VipsModule;
test.before(async () => {
  vips = (await Vips({ dynamicLibraries: [] })) as unknown as VipsModule;
});

/** Bytes that differ between the two decodes of `bytes` at `size` px, and the largest difference. */
async function compare(
  bytes: Buffer,
  name: string,
  size: number,
  bands: number[] | null = null,
): Promise<{ differing: number; largest: number }> {
  const viaSharp = await decodeImageBytes(bytes, name, size, 'cover', { bands });
  const viaWasm = decodeWithVips(vips, bytes, name, size, bands);
  assert.equal(viaWasm.length, viaSharp.length, name);
  let differing = 0;
  let largest = 0;
  for (let i = 0; i < viaSharp.length; i++) {
    const d = Math.abs(viaSharp[i] - viaWasm[i]);
    if (d > 0) differing++;
    largest = Math.max(largest, d);
  }
  return { differing, largest };
}

/** A smooth, busy test card of w x h with `channels` channels (values in 0..255). */
function card(w: number, h: number, channels: number): Buffer {
  const out = Buffer.alloc(w * h * channels);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      for (let c = 0; c < channels; c++)
        out[(y * w + x) * channels + c] = (x * (c + 1) * 7 + y * 3 + ((x * y) % 29) * 5) % 256;
  return out;
}

test('jpegShrinkOnLoad follows sharp: 8, 4, 2 when they fit, halved at the integer part', () => {
  assert.deepEqual([1.9, 2, 2.5, 3.9, 4, 4.5, 7.9, 8, 8.5, 20].map(jpegShrinkOnLoad), [1, 1, 1, 2, 2, 2, 4, 4, 4, 8]);
});

test('libvips in WebAssembly prepares generated images as sharp does, bit for bit', async () => {
  const raw = (w: number, h: number, channels: 1 | 2 | 3 | 4) =>
    sharp(card(w, h, channels), { raw: { width: w, height: h, channels } });
  const cases: [string, Buffer][] = [
    ['large.jpg (shrink-on-load)', await raw(1200, 900, 3).jpeg({ quality: 90 }).toBuffer()],
    ['odd.jpg', await raw(301, 257, 3).jpeg().toBuffer()],
    ['grey.jpg', await raw(300, 200, 1).jpeg().toBuffer()],
    ['rgba.png', await raw(200, 260, 4).png().toBuffer()],
    ['grey-alpha.png', await raw(180, 150, 2).png().toBuffer()],
    ['wide.png (16-bit)', await raw(160, 120, 3).toColourspace('rgb16').png().toBuffer()],
    ['p3.jpg (colour profile)', await raw(256, 256, 3).withIccProfile('p3').jpeg().toBuffer()],
    ['small.png (upscaled)', await raw(40, 30, 3).png().toBuffer()],
    ['rgb.tif', await raw(250, 240, 3).tiff().toBuffer()],
    ['lossy.webp', await raw(320, 200, 3).webp().toBuffer()],
  ];
  for (const size of [64, 146]) {
    for (const [name, bytes] of cases)
      assert.deepEqual(await compare(bytes, name, size), { differing: 0, largest: 0 }, `${name} at ${size} px`);
  }
  assert.deepEqual(
    await compare(cases[1][1], 'bands.jpg', 64, [3, 2, 1]),
    { differing: 0, largest: 0 },
    '--bands 3,2,1',
  );
});

test('what the page cannot prepare as the server does is refused naming it: BMP, a wide TIFF', async () => {
  assert.throws(
    () => decodeWithVips(vips, encodeBlankRleBmp(8, 8), 'scan.bmp', 32),
    (e: Error) =>
      e instanceof NeedsServerDecoderError &&
      /^scan\.bmp: a BMP image is decoded by dsdnet's own reader on the server/.test(e.message),
  );
  const wide = encodeTiff({
    width: 64,
    height: 64,
    bands: 3,
    bits: 16,
    format: 'uint',
    data: new Uint16Array(64 * 64 * 3).fill(4000),
  });
  assert.throws(() => decodeWithVips(vips, wide, 'wide.tif', 32), { message: /^wide\.tif: a TIFF with wide samples/ });
});

test(
  'libvips in WebAssembly prepares UC Merced photos (JPEG and TIFF) as sharp does, bit for bit',
  { skip: sharedSkip },
  async () => {
    const files = [ucmerced, tiffs].flatMap((root) =>
      readdirSync(root)
        .sort()
        .flatMap((c) =>
          readdirSync(join(root, c))
            .sort()
            .slice(0, 2)
            .map((f) => join(root, c, f)),
        ),
    );
    let differing = 0;
    for (const size of [73, 256])
      for (const file of files) differing += (await compare(readFileSync(file), file, size)).differing;
    console.log(`${files.length} photos at 73 and 256 px: ${differing} bytes differ`);
    assert.equal(differing, 0);
  },
);
