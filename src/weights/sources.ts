// Weights users bring, read into named tensors without executing anything: a PyTorch checkpoint (torch.save's zip
// format, through the restricted pickle reader), a safetensors file (timm / Hugging Face, or ours), or a folder of
// .npy tensors (the ONNX Model Zoo's MobileNetV2 with BatchNorm folded into its convolutions).
import { closeSync, readdirSync, readSync } from 'node:fs';
import { join } from 'node:path';

import {
  decodeSafetensors,
  MODEL_FILE,
  openRegularFile,
  readCheckpointFile,
  readNpy,
  readTorchFile,
  resolveCheckpoint,
  statForReading,
} from '../io/index.js';
import type { Tensor } from '../torch/index.js';

export type SourceKind = 'pytorch' | 'safetensors' | 'npy-folded';

export interface WeightSet {
  /** The file or folder read. */
  path: string;
  kind: SourceKind;
  /** Every tensor under its name in the source (nested dicts flattened with dots). */
  tensors: Map<string, Tensor>;
  /** The element type each tensor had in the source, where it was widened on reading (float16 -> float32, ...). */
  sourceDtypes: Map<string, string>;
  /** Non-tensor entries (epoch numbers, names) of a PyTorch checkpoint, and a safetensors file's metadata. */
  values: Map<string, number | string | boolean | null>;
}

const NPY_FOLDED = /^(conv|gemm)_(\d+)_(weight|bias)\.npy$/;

/** The first bytes of `path`; FIFOs, devices and sockets are refused (reading them would block or never end). */
function sniff(path: string): Buffer {
  const fd = openRegularFile(path);
  try {
    const head = Buffer.alloc(16);
    const n = readSync(fd, head, 0, 16, 0);
    return head.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}

/** Reads a weight source; the error names the path and says what kinds are understood. */
export function readWeights(path: string): WeightSet {
  const stats = statForReading(path);
  if (stats === undefined) throw new Error(`${path}: no such file or folder`);
  if (stats.isDirectory()) return readFolder(path);
  const head = sniff(path);
  if (head.length === 0) throw new Error(`${path}: empty file`);
  // Safetensors first: its header length's low byte may be 0x80, a pickle's first byte; a pickle's ninth is never '{'.
  if (head.length >= 9 && head[8] === 0x7b /* '{' */ && head.readUInt32LE(4) === 0) {
    // A model.safetensors inside a dsdnet checkpoint is checked against its manifest.
    const { tensors, metadata, widened } = decodeSafetensors(readCheckpointFile(path), path);
    return { path, kind: 'safetensors', tensors, sourceDtypes: widened, values: new Map(Object.entries(metadata)) };
  }
  if (head.subarray(0, 4).equals(Buffer.from('PK\x03\x04', 'latin1')) || head[0] === 0x80) {
    const { tensors, sourceDtypes, values } = readTorchFile(path);
    return { path, kind: 'pytorch', tensors, sourceDtypes, values };
  }
  throw new Error(`${path}: not a PyTorch checkpoint (torch.save), a safetensors file or a folder of .npy tensors`);
}

/** The file a source's weights are read from: the source itself, or a dsdnet run's or checkpoint's latest model. */
export function modelFileOf(path: string): string | undefined {
  const stats = statForReading(path);
  if (stats?.isFile() === true) return path;
  if (stats?.isDirectory() !== true) return undefined;
  const files = readdirSync(path);
  return files.includes(MODEL_FILE) || files.includes('checkpoints') || files.includes('latest')
    ? join(resolveCheckpoint(path, 'latest'), MODEL_FILE)
    : undefined;
}

function readFolder(path: string): WeightSet {
  const model = modelFileOf(path);
  if (model !== undefined) return readWeights(model);
  const files = readdirSync(path);
  const npy = files.filter((f) => NPY_FOLDED.test(f));
  if (npy.length === 0) {
    throw new Error(
      `${path}: a folder of weights must be a dsdnet run or checkpoint (model.safetensors) or hold the ONNX Model Zoo's conv_N_weight.npy / conv_N_bias.npy files; found neither`,
    );
  }
  const tensors = new Map<string, Tensor>();
  for (const file of npy.sort(
    (a, b) => Number(NPY_FOLDED.exec(a)![2]) - Number(NPY_FOLDED.exec(b)![2]) || a.localeCompare(b),
  )) {
    const [, op, index, role] = NPY_FOLDED.exec(file)!;
    tensors.set(`${op}_${index}.${role}`, readNpy(join(path, file)));
  }
  return { path, kind: 'npy-folded', tensors, sourceDtypes: new Map(), values: new Map() };
}

export function disposeWeights(weights: WeightSet): void {
  for (const t of weights.tensors.values()) t.dispose();
}
