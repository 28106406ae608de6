// Writes float32 .npy files (format 1.0) for tests: the ONNX Model Zoo's folded-weights layout without ../shared.
import { writeFileSync } from 'node:fs';

import type { Tensor } from '../../src/torch/index.js';

export function writeNpy(path: string, tensor: Tensor): void {
  const shape = tensor.shape.length === 1 ? `(${tensor.shape[0]},)` : `(${tensor.shape.join(', ')})`;
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': ${shape}, }`;
  header += ' '.repeat(63 - ((10 + header.length) % 64)) + '\n'; // the data starts 64-byte aligned
  const prefix = Buffer.alloc(10);
  Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]).copy(prefix);
  prefix.writeUInt16LE(header.length, 8);
  const data = tensor.contiguous().data() as Float32Array;
  writeFileSync(
    path,
    Buffer.concat([prefix, Buffer.from(header, 'latin1'), Buffer.from(data.buffer, data.byteOffset, data.byteLength)]),
  );
}
