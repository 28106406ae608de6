// How the map's own buffers fit `--max-memory`: the window table (all windows' probabilities, kept throughout), then
// in phase 1 two batches of prepared windows (one scored while the next is prepared), the band of scene rows under a
// row of windows and the windows being prepared; in phase 2 a strip of the map (and of the probabilities) and the scene rows read for
// its nodata. The model itself (ONNX Runtime's or libtorch's memory) is not counted.
import type { Grid } from './grid.js';

/** Output tiles are this many px square; a strip is a whole number of rows of them. */
export const OUTPUT_TILE = 256;

export interface MemoryNeeds {
  grid: Grid;
  classes: number;
  decodeSize: number;
  /** Bytes of one scene pixel's chosen bands as read. */
  pixelBytes: number;
  /** Bytes of a row of the scene's tiles or strips, decoded (held while they are read). */
  blockRowBytes: number;
  batch: number;
  probabilities: boolean;
  nodata: boolean;
}

export interface MemoryPlan {
  /** Windows scored together (at most the --batch asked for). */
  batch: number;
  /** Windows prepared at once (along a row of windows). */
  windowsPerRead: number;
  /** Rows of the map rendered and written at once (a multiple of OUTPUT_TILE). */
  stripRows: number;
  /** Scene rows read at once for the nodata of a strip. */
  nodataRows: number;
  /** Bytes the plan uses at most. */
  bytes: number;
}

const MIB = 2 ** 20;

export function planMemory(needs: MemoryNeeds, maxBytes = Infinity): MemoryPlan {
  const { grid, classes, decodeSize, pixelBytes } = needs;
  const { width, tile, stride } = grid;
  const table = grid.count * (classes + 1) * 4;
  // A prepared window and its probabilities, twice (one batch scored while the next is filled).
  const perWindow = 2 * (decodeSize * decodeSize * 3 + classes * 8);
  // The band of full-width scene rows under a row of windows, the rows read to move it down, and the RGB of the
  // windows prepared at once, before and after the resize.
  const band = (Math.min(tile, grid.height) + stride) * width * pixelBytes + needs.blockRowBytes;
  const region = (windows: number): number => band + windows * (tile * tile + decodeSize * decodeSize) * 3;
  const mapRowBytes = width * (1 + (needs.probabilities ? classes : 0));
  const sceneRowBytes = needs.nodata ? width * pixelBytes : 0;
  const stripTiles = Math.ceil(grid.height / OUTPUT_TILE);
  // Phase 2's per-row work buffers: the blend of each window column, the map's rows and a nodata mask row.
  const rowBuffers = grid.across * (classes + 1) * 8 + mapRowBytes + width;
  const phase1 = (batch: number, windows: number): number => table + batch * perWindow + region(windows);
  const phase2 = (tiles: number, rows: number): number =>
    table +
    rowBuffers +
    tiles * OUTPUT_TILE * mapRowBytes +
    (needs.nodata ? needs.blockRowBytes : 0) +
    rows * sceneRowBytes;
  const minimum = Math.max(phase1(1, 1), phase2(1, 1));
  if (minimum > maxBytes) {
    throw new Error(
      `--max-memory ${Math.round(maxBytes / MIB)}: mapping this scene needs at least ${Math.ceil(minimum / MIB)} MB ` +
        `(${grid.count} windows' probabilities ${(table / MIB).toFixed(1)} MB; the scene's rows under a row of ${tile} px windows, with their decoded tiles, ${(band / MIB).toFixed(1)} MB; ` +
        `a strip of ${OUTPUT_TILE} rows of ${width} px${needs.probabilities ? ` with ${classes} probability bands` : ''} ${((OUTPUT_TILE * mapRowBytes) / MIB).toFixed(1)} MB)`,
    );
  }
  const largest = (from: number, to: number, fits: (n: number) => boolean): number => {
    let n = from;
    while (n < to && fits(n + 1)) n++;
    return n;
  };
  const batch = largest(1, needs.batch, (n) => phase1(n, 1) <= maxBytes);
  const windowsPerRead = largest(1, grid.across, (n) => phase1(batch, n) <= maxBytes);
  const stripTilesFit = largest(1, stripTiles, (n) => phase2(n, 1) <= maxBytes);
  const stripRows = stripTilesFit * OUTPUT_TILE;
  const nodataRows = needs.nodata ? largest(1, stripRows, (n) => phase2(stripTilesFit, n) <= maxBytes) : 0;
  return {
    batch,
    windowsPerRead,
    stripRows,
    nodataRows,
    bytes: Math.max(phase1(batch, windowsPerRead), phase2(stripTilesFit, nodataRows)),
  };
}
