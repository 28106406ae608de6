// Loading a trained classifier (from a run folder, a checkpoint, or a bare model.safetensors) and predicting on
// image files with it.
import { type DecodeOptions, DEFAULT_SCALE, evalBatch } from '../data/index.js';
import { type Prediction, type PredictFilesOptions, predictFiles } from '../eval/index.js';
import { loadCheckpoint } from '../io/index.js';
import { type Backbone, createBackbone } from '../models/index.js';
import { noGrad, type Precision, tidy, withPrecision } from '../torch/index.js';
import { checkFinite } from '../weights/index.js';
import { decodeSize, modelSettingsProblems, type TrainConfig } from './config.js';
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
  const metadata = checkpoint.modelMetadata;
  const release = (): void => [...checkpoint.model.values(), ...checkpoint.tensors.values()].forEach((t) => t.dispose());
  const backbone = info.config?.backbone ?? metadata.backbone;
  const size = info.config?.size ?? Number(metadata.size);
  if ((info.classNames === undefined && metadata.classNames === undefined) || !backbone || (info.config === undefined && metadata.size === undefined)) {
    release();
    throw new Error(`${checkpoint.path}: not a dsdnet model (its metadata names no class list, backbone or input size)`);
  }
  let classNames: unknown;
  try {
    classNames = info.classNames ?? JSON.parse(metadata.classNames);
  } catch {
    classNames = metadata.classNames;
  }
  const settings = {
    backbone,
    classNames,
    size,
    decodeSize: info.config ? decodeSize(info.config) : Number(metadata.decodeSize ?? size),
    bands: info.config?.bands ?? null,
    scale: info.config?.scale ?? DEFAULT_SCALE,
  };
  const problems = modelSettingsProblems(settings);
  if (problems.length > 0) {
    release();
    throw new Error(`${checkpoint.path}: its settings cannot be used: ${problems.join('; ')}`);
  }
  const names = classNames as string[];
  if (options.expectClasses) checkClassNames(checkpoint.path, names, options.expectClasses);
  try {
    checkFinite(checkpoint.model, checkpoint.path, 'refusing a model that is not finite (its predictions would mean nothing)');
  } catch (error) {
    release();
    throw error;
  }
  const model = createBackbone(backbone, names.length);
  model.loadStateDict(checkpoint.model);
  release();
  model.eval();
  return { model, classNames: names, backbone, size, decodeSize: settings.decodeSize, decode: { bands: settings.bands, scale: settings.scale }, source: checkpoint.path, info };
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
