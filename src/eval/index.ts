// Evaluation: metrics, their files, and charts.
export {
  type ClassMetrics,
  computeMetrics,
  confusionCsv,
  confusionMatrix,
  meanStd,
  type Metrics,
  metricsCsv,
  metricsFromConfusion,
} from './metrics.js';
export { confusionSpec, curvesSpec, type EpochPoint, renderSvg, writeChart } from './charts.js';
export {
  aggregateRuns,
  type PairedRow,
  pairedTable,
  pairWithFloat32,
  pairWithPlain,
  type PrecisionRow,
  precisionTable,
  type RunSummary,
  settingOf,
  VARIANT_TABLE_NOTE,
  variantName,
  type VariantRow,
  variantTable,
} from './aggregate.js';
export { evaluate, type EvaluateOptions, type Evaluation, forEachEvalBatch } from './evaluate.js';
export {
  checkImageFiles,
  decodeFiles,
  type Prediction,
  type PredictFilesOptions,
  predictFiles,
  type Preparation,
  type Scorer,
  topClasses,
} from './predict-files.js';
export { predict, type PredictOptions } from './predict.js';
