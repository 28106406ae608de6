// Reading a whole file with an error that names it (and says why: ENOENT, EACCES, EISDIR...).
import { readFileSync } from 'node:fs';

export function readBytes(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new Error(`${path}: cannot read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
}
