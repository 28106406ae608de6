// What our own decoders (BMP, wide TIFF) share: the pixel limit, checked from the header before anything is
// allocated, and a box shrink fed one source row at a time, so that a huge image costs the memory of its output.

export interface RawImage {
  width: number;
  height: number;
  /** width * height * 3 bytes, row-major RGB. */
  data: Uint8Array;
}

/** Largest image accepted, in pixels (libvips' own default is 268 million). */
export const MAX_IMAGE_PIXELS = 2 ** 30;

export function tooLargeReason(width: number, height: number, maxPixels = MAX_IMAGE_PIXELS): string {
  const count = (n: number): string => n.toLocaleString('en-US');
  return `${width} x ${height} = ${count(width * height)} pixels is above the limit of ${count(maxPixels)}; cut it into tiles first (e.g. gdal_retile.py)`;
}

/** An image whose declared size is above the pixel limit (a server answers it with 413). */
export class ImageTooLargeError extends Error {
  constructor(source: string, width: number, height: number, maxPixels: number) {
    super(`${source}: ${tooLargeReason(width, height, maxPixels)}`);
    this.name = 'ImageTooLargeError';
  }
}

/** Throws `SOURCE: W x H = N pixels is above the limit ...` for an image larger than maxPixels. */
export function checkPixelLimit(source: string, width: number, height: number, maxPixels = MAX_IMAGE_PIXELS): void {
  if (width * height > maxPixels) throw new ImageTooLargeError(source, width, height, maxPixels);
}

/**
 * The largest integer factor that keeps the short side at least `minShortSide` (1: no shrink). Sized from the short
 * side, since a 'cover' resize scales that one to the training size: an elongated image is never shrunk below it.
 */
export function shrinkFactor(width: number, height: number, minShortSide: number): number {
  return Math.max(1, Math.floor(Math.min(width, height) / minShortSide));
}

/** Interleaved samples as decoders give them. */
export type Samples =
  Uint8Array | Int8Array | Uint16Array | Int16Array | Uint32Array | Int32Array | Float32Array | Float64Array;

/**
 * Averages `factor` x `factor` boxes of source pixels (the boxes at the right and bottom edges average the pixels
 * they have) into `out`, from rows or runs of one value added one source row at a time. Every source pixel must be
 * added once, and the rows of one box one after another, in either order (bottom-up bitmaps come last row first).
 * Holds one row of sums besides the output; with a factor of 1, pixels go straight to it.
 */
export class BoxShrink<Out extends Uint8Array | Float64Array> {
  readonly width: number;
  readonly height: number;
  readonly out: Out;
  private readonly sums: Float64Array;
  private box = -1;

  constructor(
    private readonly sourceWidth: number,
    private readonly sourceHeight: number,
    private readonly channels: number,
    private readonly factor: number,
    makeOut: (length: number) => Out,
  ) {
    this.width = Math.ceil(sourceWidth / factor);
    this.height = Math.ceil(sourceHeight / factor);
    this.sums = new Float64Array(this.width * channels);
    this.out = makeOut(this.width * this.height * channels);
  }

  /** Adds source row `y`: sourceWidth x channels values, interleaved, from `row[offset]` on. */
  addRow(y: number, row: Samples, offset = 0): void {
    const length = this.sourceWidth * this.channels;
    if (this.factor === 1) return void this.out.set(row.subarray(offset, offset + length), y * length);
    this.enter(y);
    const { channels, factor, sourceWidth, sums } = this;
    for (let x = 0, o = 0; x < sourceWidth; o += channels) {
      for (const end = Math.min(sourceWidth, x + factor); x < end; x++)
        for (let c = 0; c < channels; c++) sums[o + c] += row[offset + x * channels + c];
    }
  }

  /** Adds `count` pixels of one value (channels values) to source row `y` from column `x` on: one step per box. */
  addRun(y: number, x: number, count: number, value: ArrayLike<number>): void {
    const { channels, factor, sums } = this;
    if (factor === 1) {
      const start = (y * this.width + x) * channels;
      for (let k = 0; k < count * channels; k++) this.out[start + k] = value[k % channels];
      return;
    }
    this.enter(y);
    for (let end = x + count; x < end;) {
      const box = Math.floor(x / factor);
      const inBox = Math.min(end, (box + 1) * factor) - x;
      for (let c = 0; c < channels; c++) sums[box * channels + c] += value[c] * inBox;
      x += inBox;
    }
  }

  /** The shrunk image, once every source pixel was added. */
  finish(): Out {
    this.flush();
    return this.out;
  }

  /** Starts the box that holds source row `y`, writing the one before when it is another. */
  private enter(y: number): void {
    const box = Math.floor(y / this.factor);
    if (box === this.box) return;
    this.flush();
    this.box = box;
  }

  private flush(): void {
    if (this.box < 0) return;
    const { box, channels, factor, sums, out } = this;
    const rounded = out instanceof Uint8Array;
    const rows = Math.min(factor, this.sourceHeight - box * factor);
    for (let ox = 0; ox < this.width; ox++) {
      const count = Math.min(factor, this.sourceWidth - ox * factor) * rows;
      for (let c = 0; c < channels; c++) {
        const mean = sums[ox * channels + c] / count;
        out[(box * this.width + ox) * channels + c] = rounded ? Math.round(mean) : mean;
      }
    }
    sums.fill(0);
  }
}
