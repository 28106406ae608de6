// NumPy's .npy format (magic, version, a Python-literal header of descr/fortran_order/shape, then the raw array),
// read without evaluating the header: only the three keys and the little-endian dtypes our engine holds; written as
// float32 (version 1.0).

import { fromTypedArray, type Tensor } from '../torch/index.js';
import { writeFileAtomic } from './atomic.js';
import { halfToFloat } from './half.js';
import { readBytes } from './read.js';
import { shapeProblem } from './shape.js';

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

/** NumPy descr -> how to read it. Half precision is widened to float32 (exact). */
const DESCRS: Record<
  string,
  {
    bytes: number;
    read: (buffer: ArrayBuffer) => Float32Array | Float64Array | BigInt64Array | Int32Array | Uint8Array;
    dtype?: 'bool';
  }
> = {
  '<f4': { bytes: 4, read: (b) => new Float32Array(b) },
  '<f8': { bytes: 8, read: (b) => new Float64Array(b) },
  '<i8': { bytes: 8, read: (b) => new BigInt64Array(b) },
  '<i4': { bytes: 4, read: (b) => new Int32Array(b) },
  '|u1': { bytes: 1, read: (b) => new Uint8Array(b) },
  '|b1': { bytes: 1, read: (b) => new Uint8Array(b), dtype: 'bool' },
  '<f2': { bytes: 2, read: (b) => halfToFloat(new Uint16Array(b)) },
};

/** The header's value for `key`: a quoted string, True/False, or a tuple of integers. */
function headerField(header: string, key: string): string | undefined {
  const match = new RegExp(`['"]${key}['"]\\s*:\\s*('[^']*'|"[^"]*"|True|False|\\([^)]*\\))`).exec(header);
  return match?.[1];
}

export function decodeNpy(bytes: Uint8Array, source: string): Tensor {
  const fail = (why: string): never => {
    throw new Error(`${source}: not a readable .npy file: ${why}`);
  };
  if (bytes.byteLength < 10 || MAGIC.some((b, i) => bytes[i] !== b)) fail('no \\x93NUMPY signature');
  const major = bytes[6];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const [lengthBytes, headerLength] =
    major === 1
      ? [2, view.getUint16(8, true)]
      : major === 2 || major === 3
        ? [4, view.getUint32(8, true)]
        : fail(`unknown format version ${major}`);
  const dataStart = 8 + lengthBytes + headerLength;
  if (dataStart > bytes.byteLength) fail('truncated header');
  const header = Buffer.from(bytes.buffer, bytes.byteOffset + 8 + lengthBytes, headerLength).toString('latin1');
  const descr = headerField(header, 'descr')?.slice(1, -1);
  const format = descr === undefined ? undefined : DESCRS[descr];
  if (format === undefined) fail(`dtype ${descr ?? '(none)'} is not one of ${Object.keys(DESCRS).join(' ')}`);
  if (headerField(header, 'fortran_order') !== 'False')
    fail('Fortran-ordered arrays are not supported (save with np.ascontiguousarray)');
  const shapeText = headerField(header, 'shape');
  if (shapeText === undefined) fail('the header has no shape');
  const shape = shapeText!
    .slice(1, -1)
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map(Number);
  const problem = shapeProblem(shape);
  if (problem !== null) fail(`the array ${problem}`);
  const count = shape.reduce((a, b) => a * b, 1);
  const byteLength = count * format!.bytes;
  const present = bytes.byteLength - dataStart;
  if (byteLength > present) fail(`truncated: shape ${shapeText} needs ${byteLength} data bytes, ${present} present`);
  // np.save writes exactly the array's bytes: more means the header's shape is not the array's.
  if (byteLength < present)
    fail(
      `the array has shape ${shapeText} that needs ${byteLength} data bytes of ${descr}, but the file holds ${present}`,
    );
  const copy = new Uint8Array(bytes.subarray(dataStart, dataStart + byteLength)).buffer;
  return fromTypedArray(format!.read(copy), shape, format!.dtype ? { dtype: format!.dtype } : {});
}

export function readNpy(path: string): Tensor {
  return decodeNpy(readBytes(path), path);
}

/** A float32 array as .npy bytes (version 1.0, C order); the header is padded so the data starts 64-byte aligned, as NumPy does. */
export function encodeNpy(data: Float32Array, shape: readonly number[]): Uint8Array {
  const problem = shapeProblem(shape);
  if (problem !== null) throw new RangeError(`cannot write a .npy array that ${problem}`);
  const count = shape.reduce((a, b) => a * b, 1);
  if (count !== data.length)
    throw new RangeError(`shape (${shape.join(', ')}) holds ${count} values, the data ${data.length}`);
  const dims = shape.length === 1 ? `${shape[0]},` : shape.join(', ');
  const dict = `{'descr': '<f4', 'fortran_order': False, 'shape': (${dims}), }`;
  const unpadded = MAGIC.length + 4 + dict.length + 1;
  const header = `${dict}${' '.repeat((64 - (unpadded % 64)) % 64)}\n`;
  const bytes = new Uint8Array(MAGIC.length + 4 + header.length + data.byteLength);
  bytes.set(MAGIC);
  bytes.set([1, 0, header.length & 0xff, header.length >> 8], MAGIC.length);
  bytes.set(Buffer.from(header, 'latin1'), MAGIC.length + 4);
  // .npy is little-endian ('<f4'), as is every machine libtorch runs on here.
  bytes.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), MAGIC.length + 4 + header.length);
  return bytes;
}

/** Writes a float32 .npy file atomically. */
export function writeNpy(path: string, data: Float32Array, shape: readonly number[]): void {
  writeFileAtomic(path, [encodeNpy(data, shape)]);
}
