// An exported classifier run by ONNX Runtime (onnxruntime-node), without libtorch: the model file's metadata says
// how to prepare images (resize, centre crop, normalisation, bands and scaling) and names the classes. ONNX Runtime
// (45 MB of native code) is loaded when a model is opened, not by every command that imports this room.
import { readFileSync } from 'node:fs';

import type * as Ort from 'onnxruntime-node';

import type { DecodedImages, DecodeOptions } from '../data/index.js';
import { predictFiles, type PredictFilesOptions, type Prediction } from '../eval/index.js';
import {
  fixedInputBatch,
  INPUT_NAME,
  type ModelInfo,
  OUTPUT_NAME,
  PIXELS_NAME,
  readModelInfo,
} from '../export/index.js';
import { prepareInput, softmaxRows } from './shared/preprocess.js';

export class OnnxClassifier {
  private constructor(
    readonly source: string,
    readonly info: ModelInfo,
    private readonly ort: typeof Ort,
    private readonly session: Ort.InferenceSession,
    readonly bytes: Uint8Array,
    /** A model exported with a fixed batch takes exactly that many images a run (null: any number). */
    readonly fixedBatch: number | null,
  ) {}

  static async load(path: string, options: Ort.InferenceSession.SessionOptions = {}): Promise<OnnxClassifier> {
    let bytes: Uint8Array;
    try {
      bytes = readFileSync(path);
    } catch (error) {
      throw new Error(`${path}: cannot read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
    }
    return OnnxClassifier.fromBytes(bytes, path, options);
  }

  /** A model held in memory; `source` names it in errors. */
  static async fromBytes(
    bytes: Uint8Array,
    source: string,
    options: Ort.InferenceSession.SessionOptions = {},
  ): Promise<OnnxClassifier> {
    const info = readModelInfo(bytes, source);
    const ort = await import('onnxruntime-node');
    const session = await ort.InferenceSession.create(bytes, options);
    return new OnnxClassifier(source, info, ort, session, bytes, fixedInputBatch(bytes));
  }

  get decode(): DecodeOptions {
    return { bands: this.info.bands, scale: this.info.scale as DecodeOptions['scale'] };
  }

  /**
   * Logits (count x classes) for decoded images of decodeSize px. A fixed-batch model gets them in runs of its batch,
   * the last one padded with blank images whose logits are dropped.
   */
  async logits(pixels: Uint8Array, count: number): Promise<Float32Array> {
    const { decodeSize: d, inputSize: s } = this.info;
    const run = async (chunk: Uint8Array, n: number): Promise<Float32Array> => {
      const feeds: Record<string, Ort.Tensor> =
        this.info.input === 'uint8'
          ? { [PIXELS_NAME]: new this.ort.Tensor('uint8', chunk, [n, d, d, 3]) }
          : { [INPUT_NAME]: new this.ort.Tensor('float32', prepareInput(chunk, n, this.info), [n, 3, s, s]) };
      return (await this.session.run(feeds))[OUTPUT_NAME].data as Float32Array;
    };
    const batch = this.fixedBatch;
    if (batch === null || batch === count) return run(pixels, count);
    const perImage = d * d * 3;
    const classes = this.info.classNames.length;
    const out = new Float32Array(count * classes);
    for (let start = 0; start < count; start += batch) {
      const n = Math.min(batch, count - start);
      const chunk = new Uint8Array(batch * perImage);
      chunk.set(pixels.subarray(start * perImage, (start + n) * perImage));
      out.set((await run(chunk, batch)).subarray(0, n * classes), start * classes);
    }
    return out;
  }

  /** Top-k classes for each image file, as `dsdnet predict` gives them with libtorch. */
  predict(files: readonly string[], options: PredictFilesOptions = {}): Promise<Prediction[]> {
    const score = async (pixels: Uint8Array, count: number): Promise<Float64Array> =>
      softmaxRows(await this.logits(pixels, count), this.info.classNames.length);
    return predictFiles(
      files,
      { decodeSize: this.info.decodeSize, decode: this.decode, classNames: this.info.classNames },
      score,
      options,
    );
  }

  async close(): Promise<void> {
    await this.session.release();
  }
}

/** Predicted class per image (argmax of the logits) for decoded images read a batch at a time. */
export async function classifyImages(
  classifier: OnnxClassifier,
  images: DecodedImages,
  indices: readonly number[],
  batchSize = 32,
): Promise<number[]> {
  const classes = classifier.info.classNames.length;
  const predictions: number[] = [];
  for (let start = 0; start < indices.length; start += batchSize) {
    const chunk = indices.slice(start, start + batchSize);
    const logits = await classifier.logits(images.read(chunk), chunk.length);
    for (let i = 0; i < chunk.length; i++) {
      let best = 0;
      for (let c = 1; c < classes; c++) if (logits[i * classes + c] > logits[i * classes + best]) best = c;
      predictions.push(best);
    }
  }
  return predictions;
}
