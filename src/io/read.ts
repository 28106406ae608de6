// Reading a whole file with an error that names it (and says why: ENOENT, EACCES, EISDIR...), and aligning its bytes
// for typed-array views.
import { readFileSync } from 'node:fs';

export function readBytes(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new Error(`${path}: cannot read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
}

/** `bytes`, or a copy of them where they do not start at a multiple of itemBytes (typed arrays need aligned offsets). */
export function alignedBytes(bytes: Uint8Array, itemBytes: number): Uint8Array {
  return bytes.byteOffset % itemBytes === 0 ? bytes : new Uint8Array(bytes);
}
