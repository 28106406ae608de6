// Datasets: scanning class folders, reproducible splits, decoding.
export {
  type Dataset,
  DatasetError,
  type DatasetItem,
  type FileProblem,
  problemLine,
  scanDataset,
  type ScanOptions,
  withoutItems,
} from './scan.js';
export {
  makeSplit,
  readSplit,
  repeatedSplits,
  type Split,
  type SplitEntry,
  splitHash,
  type SplitSpec,
  withoutFiles,
  writeSplit,
} from './split.js';
export { deriveSeed, Rng } from './random.js';
export { type DecodeOptions, decodeImage, decodeImageBytes, prepareRaw, type ResizeMode } from './decode.js';
export { ImageTooLargeError, MAX_IMAGE_PIXELS, type RawImage, type Samples } from './raster.js';
export {
  type BandChoice,
  chosenBands,
  DEFAULT_SCALE,
  type SampleScale,
  stretchOf,
  type TiffLayout,
  tiffLayout,
} from './tiff.js';
export { type BmpOptions, decodeBmp, encodeBmp } from './bmp.js';
export { type ImageFormat, IMAGE_EXTENSIONS, sniffFormat } from './formats.js';
export {
  CachedImages,
  type CacheOptions,
  defaultCacheDir,
  loadDecoded,
  MAX_DECODE_SIZE,
  MIN_DECODE_SIZE,
  SHARD_IMAGES,
} from './cache.js';
export { type DecodedImages, imageBytes, InMemoryImages } from './images.js';
export {
  AUGMENT_PRESETS,
  type AugmentConfig,
  augmentBatch,
  evalBatch,
  IMAGENET_MEAN,
  IMAGENET_STD,
  LIGHT_AUGMENT,
  NO_AUGMENT,
  normalize,
  type RandAugmentConfig,
  RECIPE_AUGMENT,
} from './augment.js';
export { type Batch, BatchLoader, type LoaderOptions } from './loader.js';
export { BatchQueue, placeBatch, toDevice } from './placement.js';
export { mapLimit } from './concurrency.js';
export { Progress } from './progress.js';
