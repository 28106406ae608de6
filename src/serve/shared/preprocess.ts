// Image preparation that the page runs in the browser and Node runs for ONNX Runtime: one file, served to the page
// as it is compiled (no imports, nothing of Node). `decodeWithVips` is libvips itself (wasm-vips) doing, operation
// by operation, what `decodeImageBytes` (src/data/decode.ts) asks of sharp (the same libvips, native): the same
// pixels, bit for bit (test/preprocess.test.ts). `prepareInput` and `softmaxRows` are the float steps around the
// network of a model that takes normalised float input.

/** The parts of a wasm-vips image this file uses (the package's own types would pull it into every build). */
export interface VipsImage {
  readonly width: number;
  readonly height: number;
  readonly bands: number;
  readonly format: string;
  readonly interpretation: string;
  hasAlpha(): boolean;
  getTypeof(name: string): number;
  iccTransform(profile: string, options: Record<string, unknown>): VipsImage;
  colourspace(space: string): VipsImage;
  flatten(options: Record<string, unknown>): VipsImage;
  resize(scale: number, options: Record<string, unknown>): VipsImage;
  crop(left: number, top: number, width: number, height: number): VipsImage;
  cast(format: string): VipsImage;
  writeToMemory(): Uint8Array;
  delete(): void;
}

export interface Vips {
  Image: { newFromBuffer(data: Uint8Array, strOptions?: string, options?: Record<string, unknown>): VipsImage };
}

/** An image the page cannot prepare as the server does: the server's own decoders handle it (BMP, wide TIFFs). */
export class NeedsServerDecoderError extends Error {
  constructor(name: string, what: string) {
    super(`${name}: ${what} is decoded by dsdnet's own reader on the server; run it on the server`);
    this.name = 'NeedsServerDecoderError';
  }
}

/** The signatures of src/data/formats.ts that this file needs (it imports nothing, to be served as it is). */
function isJpeg(b: Uint8Array): boolean {
  return b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff;
}
function isWebp(b: Uint8Array): boolean {
  return (
    b.length >= 12 &&
    String.fromCharCode(...b.subarray(0, 4)) === 'RIFF' &&
    String.fromCharCode(...b.subarray(8, 12)) === 'WEBP'
  );
}
function isTiff(b: Uint8Array): boolean {
  return (
    b.length >= 4 &&
    ((b[0] === 0x49 && b[1] === 0x49 && b[2] === 0x2a && b[3] === 0x00) ||
      (b[0] === 0x4d && b[1] === 0x4d && b[2] === 0x00 && b[3] === 0x2a))
  );
}

/**
 * sharp's JPEG shrink-on-load for a 'cover' resize by `shrink` (sharp's pipeline.cc): the largest of 8, 4, 2 that
 * fits, halved when it would equal the shrink's integer part (libjpeg rounding).
 */
export function jpegShrinkOnLoad(shrink: number): number {
  const factor = shrink >= 8 ? 8 : shrink >= 4 ? 4 : shrink >= 2 ? 2 : 1;
  return factor > 1 && Math.trunc(shrink) === factor ? factor / 2 : factor;
}

/**
 * Decodes image bytes to size x size RGB (row-major, 3 bytes a pixel) as `decodeImageBytes(bytes, name, size,
 * 'cover', { bands })` does: shrink-on-load for JPEG and WebP, the embedded colour profile to sRGB, alpha flattened onto black,
 * a lanczos3 resize of the short side to `size`, the centre crop (sharp's rounding), 8-bit sRGB, then the bands.
 */
export function decodeWithVips(
  vips: Vips,
  bytes: Uint8Array,
  name: string,
  size: number,
  bands: number[] | null = null,
): Uint8Array {
  if (bytes.length >= 2 && bytes[0] === 0x42 && bytes[1] === 0x4d)
    throw new NeedsServerDecoderError(name, 'a BMP image');
  const made: VipsImage[] = [];
  const keep = (image: VipsImage): VipsImage => (made.push(image), image);
  try {
    const load = (options: Record<string, unknown> = {}): VipsImage =>
      keep(vips.Image.newFromBuffer(bytes, '', { access: 'sequential', fail_on: 'error', ...options }));
    let image = load();
    if (isTiff(bytes) && (bands !== null || image.format !== 'uchar' || image.bands > 4))
      throw new NeedsServerDecoderError(name, 'a TIFF with wide samples, extra bands or a band choice');
    // sharp's shrink-on-load: an integer factor for JPEG, the whole shrink for WebP.
    const loadShrink = Math.min(image.width, image.height) / size;
    if (isJpeg(bytes) && jpegShrinkOnLoad(loadShrink) > 1) image = load({ shrink: jpegShrinkOnLoad(loadShrink) });
    else if (isWebp(bytes) && loadShrink > 1) image = load({ scale: 1 / loadShrink });
    // sharp's ResolveShrink for 'cover': one factor, the smaller, never past the image's own size.
    const shrink = Math.min(image.width / size, image.height / size);
    const [hshrink, vshrink] = [Math.min(shrink, image.width), Math.min(shrink, image.height)];
    if (image.getTypeof('icc-profile-data') !== 0)
      image = keep(
        image.iccTransform('srgb', { embedded: true, intent: 'perceptual', depth: image.format === 'ushort' ? 16 : 8 }),
      );
    else if (image.interpretation === 'cmyk')
      image = keep(image.iccTransform('srgb', { input_profile: 'cmyk', intent: 'perceptual' }));
    if (image.hasAlpha()) image = keep(image.flatten({ background: [0, 0, 0] }));
    if (hshrink !== 1 || vshrink !== 1)
      image = keep(image.resize(1 / hshrink, { vscale: 1 / vshrink, kernel: 'lanczos3' }));
    image = keep(
      image.crop(Math.trunc((image.width - size + 1) / 2), Math.trunc((image.height - size + 1) / 2), size, size),
    );
    if (image.interpretation !== 'srgb' || image.bands !== 3) image = keep(image.colourspace('srgb'));
    if (image.format !== 'uchar') image = keep(image.cast('uchar'));
    const rgb = image.writeToMemory();
    if (rgb.length !== size * size * 3)
      throw new Error(`${name}: decoded to ${rgb.length} bytes, expected ${size}x${size}x3`);
    return bands === null || isTiff(bytes) ? rgb : pickBands(rgb, bands, name);
  } finally {
    for (const image of made) image.delete();
  }
}

/** Picks bands (1-based) of packed RGB: one band becomes grey (as decode.ts does for formats other than TIFF). */
export function pickBands(rgb: Uint8Array, bands: readonly number[], name: string): Uint8Array {
  if (bands.some((b) => b > 3))
    throw new Error(`${name}: --bands ${bands.join(',')} asks for more bands than the image's 3`);
  const out = new Uint8Array(rgb.length);
  for (let p = 0; p < rgb.length; p += 3)
    for (let c = 0; c < 3; c++) out[p + c] = rgb[p + bands[bands.length === 1 ? 0 : c] - 1];
  return out;
}

/** Normalised float32 NCHW input from decoded images: the centre inputSize window, (x / 255 - mean) / std. */
export function prepareInput(
  pixels: Uint8Array,
  count: number,
  info: { decodeSize: number; inputSize: number; mean: readonly number[]; std: readonly number[] },
): Float32Array {
  const { decodeSize: d, inputSize: s, mean, std } = info;
  const offset = Math.floor((d - s) / 2);
  const out = new Float32Array(count * 3 * s * s);
  for (let n = 0; n < count; n++) {
    for (let c = 0; c < 3; c++) {
      const plane = (n * 3 + c) * s * s;
      for (let y = 0; y < s; y++) {
        const row = (n * d + y + offset) * d + offset;
        for (let x = 0; x < s; x++) out[plane + y * s + x] = (pixels[(row + x) * 3 + c] / 255 - mean[c]) / std[c];
      }
    }
  }
  return out;
}

/** Probabilities from logits, row by row (count x classes). */
export function softmaxRows(logits: ArrayLike<number>, classes: number): Float64Array {
  const out = new Float64Array(logits.length);
  for (let r = 0; r < logits.length / classes; r++) {
    let max = -Infinity;
    for (let c = 0; c < classes; c++) max = Math.max(max, logits[r * classes + c]);
    let sum = 0;
    for (let c = 0; c < classes; c++) sum += out[r * classes + c] = Math.exp(logits[r * classes + c] - max);
    for (let c = 0; c < classes; c++) out[r * classes + c] /= sum;
  }
  return out;
}
