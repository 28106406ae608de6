// Seeing what a model sees: class activation maps (Grad-CAM, Grad-CAM++) and their pictures; pooled features, how
// well they separate the classes, and 2-D pictures of them.
export {
  CAM_METHODS,
  type CamMethod,
  type CamOptions,
  classActivationMaps,
  type ClassActivationMaps,
  upsampleMaps,
} from './gradcam.js';
export { checkOutputDir, type ExplainedImage, explainImages, type ExplainOptions } from './explain.js';
export { montage, overlay, type Panel, turbo } from './render.js';
export { type FeatureOptions, poolFeatures } from './features.js';
export {
  DISTANCES,
  type Distance,
  type FeatureRows,
  knnAccuracy,
  type KnnResult,
  silhouetteScore,
} from './separability.js';
export { type Projection, type ProjectionMethod, PROJECTIONS, project2d, unitRows } from './embedding.js';
export { MAX_TSNE_POINTS, tsne, type TsneOptions } from './tsne.js';
export { type EmbeddedPoint, embeddingSpec, type ScatterPanel } from './embedding-chart.js';
