// Land-use maps of whole scenes: sliding-window classification of a GeoTIFF into a georeferenced class map.
export { Blender, type Grid, hann, makeGrid, NODATA_CLASS } from './grid.js';
export { classColours } from './legend.js';
export { type MapOptions, type MapResult, MapInterrupted, mapScene, MIN_TILE, previewPath } from './map-scene.js';
export { type MemoryPlan, planMemory } from './memory.js';
export { progressPath } from './resume.js';
export {
  TIFF_ASCII,
  TIFF_DOUBLE,
  TIFF_LONG,
  TIFF_SHORT,
  type TiffTag,
  TiledTiffWriter,
  type TiledTiffSpec,
} from './tiled-tiff.js';
