// Decoded images as the loader sees them: uint8 RGB at one size, read by index. The decode cache serves them from
// files (cache.ts); InMemoryImages holds them in one array (tests, tools, a worker's copy).
import type { ResizeMode } from './decode.js';

export interface DecodedImages {
  /** Relative paths, in dataset order. */
  readonly paths: readonly string[];
  readonly labels: Int32Array;
  readonly size: number;
  readonly mode: ResizeMode;
  /** The images at `indices`, in that order: indices.length x size x size x 3 bytes, RGB, row-major. */
  read(indices: readonly number[]): Uint8Array;
}

/** Bytes of one decoded image. */
export function imageBytes(size: number): number {
  return size * size * 3;
}

export class InMemoryImages implements DecodedImages {
  constructor(
    readonly paths: readonly string[],
    readonly labels: Int32Array,
    readonly size: number,
    readonly mode: ResizeMode,
    /** paths.length images, one after the other. */
    readonly pixels: Uint8Array,
  ) {
    if (pixels.length !== paths.length * imageBytes(size))
      throw new RangeError(
        `${paths.length} images of ${size} px need ${paths.length * imageBytes(size)} bytes, got ${pixels.length}`,
      );
  }

  read(indices: readonly number[]): Uint8Array {
    const bytes = imageBytes(this.size);
    const out = new Uint8Array(indices.length * bytes);
    indices.forEach((index, k) => out.set(this.pixels.subarray(index * bytes, (index + 1) * bytes), k * bytes));
    return out;
  }
}
