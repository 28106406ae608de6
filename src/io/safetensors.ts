// The safetensors format (8-byte little-endian header length, a JSON header of dtype/shape/data_offsets per tensor
// plus optional string metadata, then the raw little-endian bytes), readable by Python's safetensors and by hand.
import { closeSync, fstatSync, readSync } from 'node:fs';

import { type DType, DTYPE_BYTES, fromTypedArray, isHalf, type Tensor, typedArrayOf } from '../torch/index.js';
import { writeFileAtomic } from './atomic.js';
import { halfToFloat } from './half.js';
import { alignedBytes, openRegularFile, readBytes } from './read.js';
import { shapeProblem } from './shape.js';

const TO_FORMAT: Record<DType, string> = {
  float32: 'F32',
  float64: 'F64',
  bfloat16: 'BF16',
  float16: 'F16',
  int64: 'I64',
  int32: 'I32',
  uint8: 'U8',
  bool: 'BOOL',
};
/** Formats read as they are; the 16-bit floats are widened (below), since weights load into float32 models. */
const FROM_FORMAT = new Map(
  Object.entries(TO_FORMAT)
    .filter(([dtype]) => !isHalf(dtype as DType))
    .map(([dtype, format]) => [format, dtype as DType]),
);

/** Formats read widened exactly: half precision to float32 (weights load into float32 models), small ints to int32. */
const WIDENED: Record<string, { name: string; bytes: number; read: (bytes: Uint8Array) => Float32Array | Int32Array }> =
  {
    F16: {
      name: 'float16',
      bytes: 2,
      read: (b) => halfToFloat(new Uint16Array(b.buffer, b.byteOffset, b.byteLength / 2)),
    },
    BF16: {
      name: 'bfloat16',
      bytes: 2,
      read: (b) => {
        const half = new Uint16Array(b.buffer, b.byteOffset, b.byteLength / 2);
        return new Float32Array(Uint32Array.from(half, (h) => h << 16).buffer); // bfloat16 is the top half of a float32
      },
    },
    I16: {
      name: 'int16',
      bytes: 2,
      read: (b) => Int32Array.from(new Int16Array(b.buffer, b.byteOffset, b.byteLength / 2)),
    },
    I8: { name: 'int8', bytes: 1, read: (b) => Int32Array.from(new Int8Array(b.buffer, b.byteOffset, b.byteLength)) },
  };
const MAX_HEADER_BYTES = 100 * 1024 * 1024;

export type Metadata = Record<string, string>;

interface HeaderEntry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

/** The file as byte chunks: header then each tensor's bytes, in the map's order. */
export function encodeSafetensors(tensors: ReadonlyMap<string, Tensor>, metadata: Metadata = {}): Uint8Array[] {
  const header: Record<string, HeaderEntry | Metadata> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  const bodies: Uint8Array[] = [];
  let offset = 0;
  for (const [name, tensor] of tensors) {
    if (name === '__metadata__') throw new Error("safetensors: '__metadata__' cannot name a tensor");
    const bytes = tensor.bytes();
    header[name] = {
      dtype: TO_FORMAT[tensor.dtype],
      shape: tensor.shape,
      data_offsets: [offset, offset + bytes.byteLength],
    };
    bodies.push(bytes);
    offset += bytes.byteLength;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8); // keeps the data 8-byte aligned, as the reference writer does
  const headerBytes = Buffer.from(json, 'utf8');
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(headerBytes.byteLength));
  return [prefix, headerBytes, ...bodies];
}

/** Writes atomically (temporary file, fsync, rename). */
export function writeSafetensors(path: string, tensors: ReadonlyMap<string, Tensor>, metadata: Metadata = {}): void {
  writeFileAtomic(path, encodeSafetensors(tensors, metadata));
}

export interface SafetensorsContent {
  tensors: Map<string, Tensor>;
  metadata: Metadata;
  /** The file's element type of each tensor read widened (F16, BF16, I16, I8), by name. */
  widened: Map<string, string>;
}

export function decodeSafetensors(bytes: Uint8Array, source: string): SafetensorsContent {
  const fail = (why: string): never => {
    throw new Error(`${source}: not a readable safetensors file: ${why}`);
  };
  if (bytes.byteLength < 8) fail(`${bytes.byteLength} bytes, shorter than the 8-byte header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = Number(view.getBigUint64(0, true));
  if (headerLength > MAX_HEADER_BYTES) fail(`header length ${headerLength} is implausible`);
  if (8 + headerLength > bytes.byteLength)
    fail(`truncated: the header needs ${headerLength} bytes, ${bytes.byteLength - 8} present`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset + 8, headerLength).toString('utf8')) as Record<
      string,
      unknown
    >;
  } catch (error) {
    return fail(`the header is not JSON (${(error as Error).message})`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) fail('the header is not a JSON object');
  const dataStart = 8 + headerLength;
  const dataLength = bytes.byteLength - dataStart;
  const metadata = (header.__metadata__ ?? {}) as Metadata;
  const tensors = new Map<string, Tensor>();
  const widened = new Map<string, string>();
  for (const [name, raw] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const entry = raw as HeaderEntry;
    const dtype = FROM_FORMAT.get(entry?.dtype);
    const wide = WIDENED[entry?.dtype];
    if (dtype === undefined && wide === undefined)
      fail(`tensor '${name}' has unsupported dtype ${JSON.stringify(entry?.dtype)}`);
    const shape = entry.shape;
    const problem = shapeProblem(shape);
    if (problem !== null) fail(`tensor '${name}' ${problem}`);
    const [begin, end] = entry.data_offsets ?? [];
    const expected = shape.reduce((a, b) => a * b, 1) * (dtype ? DTYPE_BYTES[dtype] : wide.bytes);
    if (!(Number.isSafeInteger(begin) && Number.isSafeInteger(end) && begin >= 0 && end >= begin))
      fail(`tensor '${name}' has invalid data_offsets`);
    if (end > dataLength) fail(`truncated: tensor '${name}' ends at byte ${end} of the data, which has ${dataLength}`);
    if (end - begin !== expected)
      fail(
        `tensor '${name}' has shape [${shape.join(', ')}] that needs ${expected} bytes of ${dtype ?? wide.name}, but its data_offsets span ${end - begin}`,
      );
    const stored = bytes.subarray(dataStart + begin, dataStart + end);
    if (dtype) {
      // The engine copies the bytes; only a misaligned tensor needs an aligned copy first.
      const data = alignedBytes(stored, DTYPE_BYTES[dtype]);
      tensors.set(
        name,
        fromTypedArray(
          typedArrayOf(dtype, data.buffer, data.byteOffset, data.byteLength / DTYPE_BYTES[dtype]),
          shape,
          dtype === 'bool' ? { dtype: 'bool' } : {},
        ),
      );
    } else {
      tensors.set(name, fromTypedArray(wide.read(new Uint8Array(stored)), shape));
      widened.set(name, wide.name);
    }
  }
  return { tensors, metadata, widened };
}

export function readSafetensors(path: string): SafetensorsContent {
  return decodeSafetensors(readBytes(path), path);
}

/**
 * The metadata of a safetensors file, read from its header alone (a weights file is not loaded to learn how it was
 * made); null where the file does not start like safetensors. The whole file is checked when it is read.
 */
export function readSafetensorsMetadata(path: string): Metadata | null {
  const fd = openRegularFile(path);
  try {
    const size = fstatSync(fd).size;
    const prefix = Buffer.alloc(8);
    if (readSync(fd, prefix, 0, 8, 0) < 8) return null;
    const headerLength = Number(prefix.readBigUInt64LE(0));
    if (headerLength > MAX_HEADER_BYTES || 8 + headerLength > size) return null;
    const header = Buffer.alloc(headerLength);
    if (readSync(fd, header, 0, headerLength, 8) < headerLength) return null;
    const parsed: unknown = JSON.parse(header.toString('utf8'));
    const isObject = (v: unknown): v is Record<string, unknown> =>
      v !== null && typeof v === 'object' && !Array.isArray(v);
    if (!isObject(parsed)) return null;
    return isObject(parsed.__metadata__) ? (parsed.__metadata__ as Metadata) : {};
  } catch (error) {
    if (error instanceof SyntaxError) return null;
    throw error;
  } finally {
    closeSync(fd);
  }
}
