// An exported classifier run by ONNX Runtime (onnxruntime-node), without libtorch: the model file's metadata says
// how to prepare images (resize, centre crop, normalisation, bands and scaling) and names the classes. The session
// runs on a worker thread of its own (onnx-worker.ts), so that the caller's thread goes on while a batch is scored;
// ONNX Runtime (45 MB of native code) is loaded there when a model is opened.
import { readFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';

import type * as Ort from 'onnxruntime-node';

import type { DecodedImages, DecodeOptions } from '../data/index.js';
import { predictFiles, type PredictFilesOptions, type Prediction } from '../eval/index.js';
import { fixedInputBatch, type ModelInfo, readModelInfo } from '../export/index.js';
import type { RunRequest, SessionStart, WorkerReply } from './onnx-worker.js';
import { softmaxRows } from './shared/preprocess.js';

/** The session's thread: requests in, logits out, in the order they were posted. */
class SessionThread {
  private readonly pending = new Map<number, { resolve: (logits: Float32Array) => void; reject: (e: Error) => void }>();
  private nextId = 0;
  private failure: Error | null = null;

  private constructor(
    private readonly worker: Worker,
    source: string,
  ) {
    worker.on('message', (reply: WorkerReply) => {
      if (reply.id === 'ready') return;
      const waiting = this.pending.get(reply.id);
      this.pending.delete(reply.id);
      if (this.pending.size === 0) worker.unref(); // an idle session does not keep the process alive
      if ('error' in reply) waiting?.reject(new Error(`${source}: ONNX Runtime: ${reply.error}`));
      else waiting?.resolve(reply.logits);
    });
    const fail = (error: Error): void => {
      this.failure = error;
      for (const waiting of this.pending.values()) waiting.reject(error);
      this.pending.clear();
    };
    worker.on('error', (error) => fail(new Error(`${source}: the ONNX Runtime thread failed: ${error.message}`)));
    worker.on('exit', (code) => fail(new Error(`${source}: the ONNX Runtime thread exited (${code})`)));
  }

  static start(start: SessionStart, source: string): Promise<SessionThread> {
    const worker = new Worker(new URL('./onnx-worker.js', import.meta.url), { workerData: start });
    return new Promise((resolve, reject) => {
      worker.once('error', reject);
      worker.once('message', (reply: WorkerReply) => {
        worker.off('error', reject);
        if ('error' in reply) {
          void worker.terminate();
          reject(new Error(`${source}: ONNX Runtime cannot load it: ${reply.error}`));
        } else resolve(new SessionThread(worker, source));
      });
    });
  }

  /** Logits for `count` decoded images; the pixels are copied (the caller may reuse its buffer at once). */
  run(pixels: Uint8Array, count: number): Promise<Float32Array> {
    if (this.failure !== null) return Promise.reject(this.failure);
    const id = this.nextId++;
    const copy = new Uint8Array(new ArrayBuffer(pixels.length));
    copy.set(pixels);
    const request: RunRequest = { id, pixels: copy, count };
    if (this.pending.size === 0) this.worker.ref();
    const result = new Promise<Float32Array>((resolve, reject) => this.pending.set(id, { resolve, reject }));
    this.worker.postMessage(request, [copy.buffer]);
    return result;
  }

  async release(): Promise<void> {
    if (this.failure !== null) return;
    const exited = new Promise((resolve) => this.worker.once('exit', resolve));
    this.worker.ref(); // until it has exited
    this.worker.postMessage('release');
    await exited;
  }
}

export class OnnxClassifier {
  private constructor(
    readonly source: string,
    readonly info: ModelInfo,
    private readonly session: SessionThread,
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
    const session = await SessionThread.start({ bytes, info, options }, source);
    return new OnnxClassifier(source, info, session, bytes, fixedInputBatch(bytes));
  }

  get decode(): DecodeOptions {
    return { bands: this.info.bands, scale: this.info.scale as DecodeOptions['scale'] };
  }

  /**
   * Logits (count x classes) for decoded images of decodeSize px. A fixed-batch model gets them in runs of its batch,
   * the last one padded with blank images whose logits are dropped.
   */
  async logits(pixels: Uint8Array, count: number): Promise<Float32Array> {
    const d = this.info.decodeSize;
    if (!(Number.isInteger(count) && count >= 1) || pixels.length !== count * d * d * 3)
      throw new RangeError(
        `${this.source}: expected ${count} decoded images of ${d} x ${d} x 3 bytes (${count * d * d * 3}), got ${pixels.length} bytes`,
      );
    const batch = this.fixedBatch;
    if (batch === null || batch === count) return this.session.run(pixels, count);
    const perImage = d * d * 3;
    const classes = this.info.classNames.length;
    const out = new Float32Array(count * classes);
    for (let start = 0; start < count; start += batch) {
      const n = Math.min(batch, count - start);
      const chunk = new Uint8Array(batch * perImage);
      chunk.set(pixels.subarray(start * perImage, (start + n) * perImage));
      out.set((await this.session.run(chunk, batch)).subarray(0, n * classes), start * classes);
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
