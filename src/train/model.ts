// Loading a trained classifier (from a run folder, a checkpoint, or a bare model.safetensors) and predicting on
// image files with it.
import { statSync } from 'node:fs';
import { availableParallelism } from 'node:os';

import { type DecodeOptions, decodeImage, DEFAULT_SCALE, evalBatch, imageBytes, mapLimit } from '../data/index.js';
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

export interface Prediction {
  file: string;
  top: { label: string; index: number; probability: number }[];
}

export interface PredictOptions {
  /** Classes per image (default 5). */
  topK?: number;
  batchSize?: number;
  precision?: Precision;
  /** Leave out files that cannot be decoded (with a warning) instead of failing. */
  skipBad?: boolean;
  onWarning?: (message: string) => void;
}

/** Every file must exist and be a regular file: checked for all of them before any decoding. */
function checkFiles(files: readonly string[]): void {
  const problems = files.flatMap((file) => {
    try {
      return statSync(file).isFile() ? [] : [`${file}: not a file`];
    } catch (error) {
      return [`${file}: cannot read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`];
    }
  });
  if (problems.length > 0) throw new Error(`${problems.length} of the ${files.length} image argument(s) cannot be used:\n${problems.map((p) => `  ${p}`).join('\n')}`);
}

/** Decodes a chunk of files; failures are named together, or left out with skipBad. */
async function decodeChunk(files: readonly string[], size: number, decode: DecodeOptions, options: PredictOptions): Promise<{ files: string[]; pixels: Uint8Array }> {
  const decoded = await mapLimit(files, 2 * availableParallelism(), (file) => decodeImage(file, size, 'cover', decode).catch((error: Error) => error));
  const failures = decoded.filter((d): d is Error => d instanceof Error).map((e) => e.message);
  if (failures.length > 0 && !options.skipBad) throw new Error(`${failures.length} image file(s) could not be decoded (leave them out with --skip-bad):\n${failures.map((f) => `  ${f}`).join('\n')}`);
  for (const f of failures) options.onWarning?.(`skipping ${f}`);
  const good = decoded.flatMap((d, i) => (d instanceof Error ? [] : [{ file: files[i], pixels: d }]));
  const pixels = new Uint8Array(good.length * imageBytes(size));
  good.forEach((g, i) => pixels.set(g.pixels, i * imageBytes(size)));
  return { files: good.map((g) => g.file), pixels };
}

/** Top-k classes for each image file (resized and centre-cropped as in evaluation), decoded a batch at a time. */
export async function predict(loaded: LoadedModel, files: readonly string[], options: PredictOptions = {}): Promise<Prediction[]> {
  const { topK = 5, batchSize = 32, precision = 'fp32' } = options;
  if (!(Number.isInteger(topK) && topK >= 1)) throw new RangeError(`top-k must be a positive integer, got ${topK}`);
  if (!(Number.isInteger(batchSize) && batchSize >= 1)) throw new RangeError(`batch size must be a positive integer, got ${batchSize}`);
  checkFiles(files);
  const k = Math.min(topK, loaded.classNames.length);
  const out: Prediction[] = [];
  for (let start = 0; start < files.length; start += batchSize) {
    const chunk = await decodeChunk(files.slice(start, start + batchSize), loaded.decodeSize, loaded.decode, options);
    if (chunk.files.length === 0) continue;
    const batch = (): Tensor => evalBatch(chunk.pixels, chunk.files.length, loaded.decodeSize, loaded.size);
    const probabilities = tidy(() => noGrad(() => withPrecision(precision, () => loaded.model.forward(batch())).float().softmax(1)).data() as Float32Array);
    chunk.files.forEach((file, i) => {
      const row = Array.from(probabilities.subarray(i * loaded.classNames.length, (i + 1) * loaded.classNames.length));
      const ranked = row.map((p, index) => ({ index, probability: p })).sort((a, b) => b.probability - a.probability).slice(0, k);
      out.push({ file, top: ranked.map((r) => ({ label: loaded.classNames[r.index], index: r.index, probability: r.probability })) });
    });
  }
  return out;
}
