// The sliding windows over a scene and how their class probabilities blend into one per pixel. Windows start every
// `stride` px from the top-left corner and run past the right and bottom edges (padded, rather than a shortened last
// stride), so every pixel is covered by the same pattern of windows. A pixel's probabilities are the average of those
// of the windows covering it, weighted by a 2-D Hann window (the product of one along x and one along y), so a
// window's centre counts most and the seams between windows blend.

export interface Grid {
  width: number;
  height: number;
  tile: number;
  stride: number;
  across: number;
  down: number;
  count: number;
}

function windowsAlong(size: number, tile: number, stride: number): number {
  return size <= tile ? 1 : Math.ceil((size - tile) / stride) + 1;
}

export function makeGrid(width: number, height: number, tile: number, stride: number): Grid {
  const across = windowsAlong(width, tile, stride);
  const down = windowsAlong(height, tile, stride);
  return { width, height, tile, stride, across, down, count: across * down };
}

/**
 * The coordinates [lo, hi) of the scene that a run of `length` px from `start` reads, its part past the edge
 * mirrored back (see reflect() in scene.ts).
 */
export function readSpan(start: number, length: number, size: number): [number, number] {
  if (start + length <= size) return [start, start + length];
  if (length >= size) return [0, size];
  return [Math.max(0, Math.min(start, 2 * (size - 1) - (start + length - 1))), size];
}

/** A Hann window sampled at pixel centres: above 0 everywhere, so an edge pixel covered by one window keeps its class. */
export function hann(tile: number): Float64Array {
  return Float64Array.from({ length: tile }, (_, i) => Math.sin((Math.PI * (i + 0.5)) / tile) ** 2);
}

/** The windows [first, last] along one axis that cover coordinate `v`. */
function covering(v: number, tile: number, stride: number, count: number): [number, number] {
  return [Math.max(0, Math.ceil((v - tile + 1) / stride)), Math.min(count - 1, Math.floor(v / stride))];
}

/** The value class maps hold where the scene is nodata (and that GDAL_NODATA names). */
export const NODATA_CLASS = 255;

/**
 * Renders rows of the map from the window table: per window, its class probabilities and then 1 if it was scored
 * (0 and all-zero probabilities for a window that was all nodata, so it adds nothing).
 */
export class Blender {
  private readonly weights: Float64Array;
  private readonly rowBlend: Float64Array;
  private readonly acc: Float64Array;

  constructor(
    private readonly grid: Grid,
    private readonly classes: number,
    private readonly table: Float32Array,
  ) {
    this.weights = hann(grid.tile);
    this.rowBlend = new Float64Array(grid.across * (classes + 1));
    this.acc = new Float64Array(classes + 1);
  }

  /**
   * Row y: class indices into `classOut` (width bytes; NODATA_CLASS where `nodata` is 1 or no scored window covers
   * the pixel) and, when given, probabilities x 255 into `probOut` (width x classes bytes; 0 where nodata).
   */
  renderRow(y: number, classOut: Uint8Array, probOut: Uint8Array | null, nodata: Uint8Array | null): void {
    const { tile, stride, across, down, width } = this.grid;
    const k = this.classes + 1;
    const { weights, rowBlend, acc, table } = this;
    // Blend along y first: one vector per window column, then each pixel blends at most tile / stride of them.
    rowBlend.fill(0);
    const [iy0, iy1] = covering(y, tile, stride, down);
    for (let iy = iy0; iy <= iy1; iy++) {
      const w = weights[y - iy * stride];
      for (let ix = 0; ix < across; ix++) {
        const from = (iy * across + ix) * k;
        for (let c = 0; c < k; c++) rowBlend[ix * k + c] += w * table[from + c];
      }
    }
    for (let x = 0; x < width; x++) {
      const [ix0, ix1] = covering(x, tile, stride, across);
      acc.fill(0);
      for (let ix = ix0; ix <= ix1; ix++) {
        const w = weights[x - ix * stride];
        for (let c = 0; c < k; c++) acc[c] += w * rowBlend[ix * k + c];
      }
      const total = acc[this.classes];
      if ((nodata !== null && nodata[x] === 1) || !(total > 0)) {
        classOut[x] = NODATA_CLASS;
        probOut?.fill(0, x * this.classes, (x + 1) * this.classes);
        continue;
      }
      let best = 0;
      for (let c = 1; c < this.classes; c++) if (acc[c] > acc[best]) best = c;
      classOut[x] = best;
      if (probOut !== null)
        for (let c = 0; c < this.classes; c++) probOut[x * this.classes + c] = Math.round((255 * acc[c]) / total);
    }
  }
}
