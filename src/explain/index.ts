// Explaining trained models: pooled features, how well they separate the classes, and 2-D pictures of them.
export { type FeatureOptions, poolFeatures } from './features.js';
export { DISTANCES, type Distance, type FeatureRows, knnAccuracy, type KnnResult, silhouetteScore } from './separability.js';
export { type Projection, type ProjectionMethod, PROJECTIONS, project2d, unitRows } from './embedding.js';
export { MAX_TSNE_POINTS, tsne, type TsneOptions } from './tsne.js';
export { type EmbeddedPoint, embeddingSpec, type ScatterPanel } from './embedding-chart.js';
