// Loading a trained classifier (from a run folder, a checkpoint, or a bare model.safetensors) and predicting on
// image files with it.
import { type DecodeOptions, DEFAULT_SCALE, evalBatch } from '../data/index.js';
import { type Prediction, type PredictFilesOptions, predictFiles } from '../eval/index.js';
import { loadCheckpoint } from '../io/index.js';
import { type Backbone, createBackbone } from '../models/index.js';
import { noGrad, type Precision, tidy, withPrecision } from '../torch/index.js';
import { decodeSize, type TrainConfig } from './config.js';
import { checkClassNames, type SnapshotInfo } from './snapshot.js';

export interface LoadedModel {
  model: Backbone;
  classNames: string[];
  backbone: string;
  /** Input size of the network. */
  size: number;
  /** Images are resized to this (short side, centre crop) before the centre `size` window is taken. */
  decodeSize: number;
  /** Band choice and sample scaling of the training images, applied to every image predicted on. */
  decode: Required<Pick<DecodeOptions, 'bands' | 'scale'>>;
  /** The checkpoint folder or file it came from. */
  source: string;
  info: Partial<SnapshotInfo<TrainConfig>>;
}

/** Loads the deployable model; `tag` picks 'latest' (default) or 'best' inside a run. */
export function loadModel(path: string, options: { tag?: string; expectClasses?: readonly string[] } = {}): LoadedModel {
  const checkpoint = loadCheckpoint<Partial<SnapshotInfo<TrainConfig>>>(path, options.tag ?? 'latest');
  const info = checkpoint.info;
  const classNames = info.classNames ?? (checkpoint.modelMetadata.classNames ? (JSON.parse(checkpoint.modelMetadata.classNames) as string[]) : undefined);
  const backbone = info.config?.backbone ?? checkpoint.modelMetadata.backbone;
  const size = info.config?.size ?? Number(checkpoint.modelMetadata.size);
  const resize = info.config ? decodeSize(info.config) : Number(checkpoint.modelMetadata.decodeSize ?? size);
  if (!classNames || !backbone || !(size > 0)) {
    throw new Error(`${checkpoint.path}: not a dsdnet model (its metadata names no class list, backbone or input size)`);
  }
  if (options.expectClasses) checkClassNames(checkpoint.path, classNames, options.expectClasses);
  const model = createBackbone(backbone, classNames.length);
  model.loadStateDict(checkpoint.model);
  for (const t of [...checkpoint.model.values(), ...checkpoint.tensors.values()]) t.dispose();
  model.eval();
  const decode = { bands: info.config?.bands ?? null, scale: info.config?.scale ?? DEFAULT_SCALE };
  return { model, classNames, backbone, size, decodeSize: resize, decode, source: checkpoint.path, info };
}

export interface PredictOptions extends PredictFilesOptions {
  precision?: Precision;
}

/** Top-k classes for each image file (resized and centre-cropped as in evaluation), decoded a batch at a time. */
export async function predict(loaded: LoadedModel, files: readonly string[], options: PredictOptions = {}): Promise<Prediction[]> {
  const precision = options.precision ?? 'fp32';
  const score = async (pixels: Uint8Array, count: number): Promise<Float32Array> =>
    tidy(() => noGrad(() => withPrecision(precision, () => loaded.model.forward(evalBatch(pixels, count, loaded.decodeSize, loaded.size))).float().softmax(1)).data() as Float32Array);
  return predictFiles(files, loaded, score, options);
}
