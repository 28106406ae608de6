// A georeferenced scene mosaicked from photos (a GeoTIFF of cells x cells photos of `cell` px, each resized to cover
// its cell), for the map test and the README's picture.
import { writeFileSync } from 'node:fs';

import sharp from 'sharp';

import { GEO_TAGS } from './geo.js';
import { encodeTiff } from './tiff.js';

/** Writes the mosaic to `path`; `photoAt(row, col)` names each cell's photo. Returns the scene's side in px. */
export async function writeMosaic(
  path: string,
  cells: number,
  cell: number,
  photoAt: (row: number, col: number) => string,
): Promise<number> {
  const side = cells * cell;
  const pixels = new Uint8Array(side * side * 3);
  for (let row = 0; row < cells; row++) {
    for (let col = 0; col < cells; col++) {
      const rgb = await sharp(photoAt(row, col)).resize(cell, cell, { fit: 'cover' }).removeAlpha().raw().toBuffer();
      for (let y = 0; y < cell; y++)
        pixels.set(rgb.subarray(y * cell * 3, (y + 1) * cell * 3), ((row * cell + y) * side + col * cell) * 3);
    }
  }
  const spec = {
    width: side,
    height: side,
    bands: 3,
    bits: 8 as const,
    format: 'uint' as const,
    data: pixels,
    rowsPerStrip: 16,
    tags: GEO_TAGS,
  };
  writeFileSync(path, encodeTiff(spec));
  return side;
}
