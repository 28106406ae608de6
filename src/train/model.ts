// Loading a trained classifier (from a run folder, a checkpoint, or a bare model.safetensors) and predicting on
// image files with it.
import { decodeImage, evalBatch } from '../data/index.js';
import { loadCheckpoint } from '../io/index.js';
import { type Backbone, createBackbone } from '../models/index.js';
import { noGrad, type Precision, type Tensor, tidy, withPrecision } from '../torch/index.js';
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
  return { model, classNames, backbone, size, decodeSize: resize, source: checkpoint.path, info };
}

export interface Prediction {
  file: string;
  top: { label: string; index: number; probability: number }[];
}

export interface PredictOptions {
  /** Classes per image (default 5). */
  topK?: number;
  batchSize?: number;
  precision?: Precision;
}

/** Top-k classes for each image file (resized and centre-cropped as in evaluation). */
export async function predict(loaded: LoadedModel, files: readonly string[], options: PredictOptions = {}): Promise<Prediction[]> {
  const { topK = 5, batchSize = 32, precision = 'fp32' } = options;
  const k = Math.min(topK, loaded.classNames.length);
  const out: Prediction[] = [];
  for (let start = 0; start < files.length; start += batchSize) {
    const chunk = files.slice(start, start + batchSize);
    const bytes = loaded.decodeSize * loaded.decodeSize * 3;
    const pixels = new Uint8Array(chunk.length * bytes);
    for (const [i, file] of chunk.entries()) pixels.set(await decodeImage(file, loaded.decodeSize, 'cover'), i * bytes);
    const batch = (): Tensor => evalBatch(pixels, chunk.length, loaded.decodeSize, loaded.size);
    const probabilities = tidy(() => noGrad(() => withPrecision(precision, () => loaded.model.forward(batch())).float().softmax(1)).data() as Float32Array);
    chunk.forEach((file, i) => {
      const row = Array.from(probabilities.subarray(i * loaded.classNames.length, (i + 1) * loaded.classNames.length));
      const ranked = row.map((p, index) => ({ index, probability: p })).sort((a, b) => b.probability - a.probability).slice(0, k);
      out.push({ file, top: ranked.map((r) => ({ label: loaded.classNames[r.index], index: r.index, probability: r.probability })) });
    });
  }
  return out;
}
