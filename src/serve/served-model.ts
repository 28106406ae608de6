// What the server serves, whichever engine runs it (ONNX Runtime or libtorch).
import type { DecodeOptions } from '../data/index.js';
import type { ModelInfo } from '../export/index.js';

export type ServeEngine = 'onnx' | 'libtorch';

export interface ServedModel {
  engine: ServeEngine;
  info: ModelInfo;
  decode: DecodeOptions;
  /** The dataset folder of the run it was trained on, from the run's own config (a run folder or checkpoint). */
  dataset?: string;
  /** The ONNX model the page runs in the browser. */
  onnxBytes: Uint8Array;
  /** Class probabilities (count x classes) for decoded images of info.decodeSize px. */
  probabilities(pixels: Uint8Array, count: number): Promise<ArrayLike<number>>;
  close(): Promise<void>;
}
