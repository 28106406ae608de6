// The georeferencing of generated scenes (tests, the README's pictures), as GeoTIFF tags.
import { TIFF_ASCII, TIFF_DOUBLE, TIFF_SHORT, type TiffTag } from '../../src/map/index.js';

/** A scene's georeferencing: 0.5 m pixels from (500000, 4200000) in WGS 84 / UTM zone 10N (EPSG:32610). */
const CITATION = 'WGS 84 / UTM zone 10N|';
export const GEO_TAGS: TiffTag[] = [
  { tag: 33550, type: TIFF_DOUBLE, values: [0.5, 0.5, 0] },
  { tag: 33922, type: TIFF_DOUBLE, values: [0, 0, 0, 500000, 4200000, 0] },
  // GTModelType projected, GTRasterType PixelIsArea, GTCitation (in GeoAsciiParams), ProjectedCSType 32610.
  {
    tag: 34735,
    type: TIFF_SHORT,
    values: [1, 1, 0, 4, 1024, 0, 1, 1, 1025, 0, 1, 1, 1026, 34737, CITATION.length, 0, 3072, 0, 1, 32610],
  },
  { tag: 34737, type: TIFF_ASCII, values: CITATION },
];
export const GEO_TRANSFORM = [500000, 0.5, 0, 4200000, 0, -0.5];
