// What an exported model file says about itself (metadata_props), read without libtorch: the class names, the
// preprocessing and the training run. Loaders of exported models (Node, the browser page) rely on this alone.
import onnxProto from 'onnx-proto';

import type { SampleScale } from '../data/index.js';
import { modelSettingsProblems } from '../trained/index.js';

const { onnx } = onnxProto;

/** The metadata key holding ModelInfo as JSON. */
export const METADATA_KEY = 'dsdnet';
export const ONNX_FORMAT = 'dsdnet-onnx-1';

export interface ModelInfo {
  format: typeof ONNX_FORMAT;
  classNames: string[];
  backbone: string;
  /** What the graph takes: normalised float32 N x 3 x S x S, or uint8 decoded images N x D x D x 3 (see pixels-input.ts). */
  input: 'float32' | 'uint8';
  /** The network's input: size x size, the centre window of the image resized (short side) to decodeSize. */
  inputSize: number;
  decodeSize: number;
  resize: 'cover';
  /** Per channel, applied to RGB in 0..1: (x - mean) / std. */
  mean: number[];
  std: number[];
  /** Band choice and sample scaling of the training images (see src/data/tiff.ts). */
  bands: number[] | null;
  scale: unknown;
  /** The training run: checkpoint, method, epoch, seed, final metrics when the run finished; names, no paths. */
  run: Record<string, unknown>;
}

/** A model's metadata_props. */
export function onnxMetadata(bytes: Uint8Array): Record<string, string> {
  const model = onnx.ModelProto.decode(bytes);
  return Object.fromEntries(model.metadataProps.map((p) => [p.key ?? '', p.value ?? '']));
}

/** The batch size the model's input is fixed to (export --batch N), or null for a dynamic batch. */
export function fixedInputBatch(bytes: Uint8Array): number | null {
  const dim = onnx.ModelProto.decode(bytes).graph?.input?.[0]?.type?.tensorType?.shape?.dim?.[0];
  const value = Number(dim?.dimValue ?? 0);
  return dim?.dimParam || !(value >= 1) ? null : value;
}

/** The ModelInfo of an exported model; `source` names the file in errors. */
export function readModelInfo(bytes: Uint8Array, source: string): ModelInfo {
  let metadata: Record<string, string>;
  try {
    metadata = onnxMetadata(bytes);
  } catch (error) {
    throw new Error(`${source}: not an ONNX model (${(error as Error).message})`);
  }
  const text = metadata[METADATA_KEY];
  if (text === undefined)
    throw new Error(
      `${source}: an ONNX model without dsdnet's metadata (class names, preprocessing); export it with dsdnet export`,
    );
  let info: ModelInfo;
  try {
    info = JSON.parse(text) as ModelInfo;
  } catch (error) {
    throw new Error(`${source}: its dsdnet metadata is not JSON (${(error as Error).message})`);
  }
  if (info === null || typeof info !== 'object' || info.format !== ONNX_FORMAT)
    throw new Error(`${source}: its dsdnet metadata is not of format ${ONNX_FORMAT}`);
  info.input ??= 'float32'; // files exported before the option
  // The file is as untrusted as a flag: its settings meet the command line's limits.
  const problems = modelSettingsProblems({
    backbone: info.backbone,
    classNames: info.classNames,
    size: info.inputSize,
    decodeSize: info.decodeSize,
    bands: info.bands,
    scale: info.scale as SampleScale,
  });
  const channelValues = (values: unknown, positive: boolean): boolean =>
    Array.isArray(values) && values.length === 3 && values.every((v) => Number.isFinite(v) && (!positive || v > 0));
  if (!channelValues(info.mean, false) || !channelValues(info.std, true))
    problems.push('mean and std must be three finite numbers each, std above 0');
  if (info.input !== 'float32' && info.input !== 'uint8')
    problems.push(`input must be 'float32' or 'uint8', got ${JSON.stringify(info.input)}`);
  if (problems.length > 0) throw new Error(`${source}: its dsdnet metadata cannot be used: ${problems.join('; ')}`);
  return info;
}
