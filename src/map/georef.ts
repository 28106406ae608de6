// The georeferencing of a GeoTIFF, carried to the maps made from it as it is: the geotransform (ModelPixelScale and
// ModelTiepoint, or ModelTransformation) and the GeoKey directory with its double and ASCII parameters (the CRS).
import type { GeoTIFFImage } from 'geotiff';

import { TIFF_ASCII, TIFF_DOUBLE, TIFF_SHORT, type TiffTag } from './tiled-tiff.js';

const GEO_TAGS: readonly { tag: number; type: TiffTag['type'] }[] = [
  { tag: 33550, type: TIFF_DOUBLE }, // ModelPixelScale
  { tag: 33922, type: TIFF_DOUBLE }, // ModelTiepoint
  { tag: 34264, type: TIFF_DOUBLE }, // ModelTransformation
  { tag: 34735, type: TIFF_SHORT }, // GeoKeyDirectory
  { tag: 34736, type: TIFF_DOUBLE }, // GeoDoubleParams
  { tag: 34737, type: TIFF_ASCII }, // GeoAsciiParams
];

/** A geotransform needs a tiepoint with a pixel scale, or a transformation matrix. */
const TRANSFORM_TAGS = [33922, 34264];

/** The image's georeferencing tags, as read; empty when it has none (no geotransform). */
export async function georeferencing(image: GeoTIFFImage): Promise<TiffTag[]> {
  const tags: TiffTag[] = [];
  for (const { tag, type } of GEO_TAGS) {
    const value = (await image.fileDirectory.loadValue(tag)) as ArrayLike<number> | string | undefined;
    if (value === undefined) continue;
    tags.push({ tag, type, values: typeof value === 'string' ? value.replace(/\0+$/, '') : Array.from(value) });
  }
  return tags.some((t) => TRANSFORM_TAGS.includes(t.tag)) ? tags : [];
}
