// Reading a whole file with an error that names it (and says why: ENOENT, EACCES...), refusing what is not a regular
// file (a FIFO would block the process forever, a device never ends), and aligning its bytes for typed-array views.
import { closeSync, constants, fstatSync, openSync, readFileSync, type Stats, statSync } from 'node:fs';

/** What a non-regular file is, for errors: 'a folder', 'a FIFO (named pipe)', ... */
export function fileKind(stats: Stats): string {
  if (stats.isDirectory()) return 'a folder';
  if (stats.isFIFO()) return 'a FIFO (named pipe)';
  if (stats.isCharacterDevice()) return 'a character device';
  if (stats.isBlockDevice()) return 'a block device';
  if (stats.isSocket()) return 'a socket';
  return 'a special file';
}

function notRegular(path: string, stats: Stats): Error {
  return new Error(`${path}: cannot read: it is ${fileKind(stats)}, not a regular file`);
}

function cannotRead(path: string, error: unknown): Error {
  const { code, message } = error as NodeJS.ErrnoException;
  // A system error's code says it (ENOENT, EACCES); Node's own (ERR_FS_FILE_TOO_LARGE) are clearer as their message.
  return new Error(`${path}: cannot read (${code !== undefined && !code.startsWith('ERR_') ? code : message})`, {
    cause: error,
  });
}

/** What is at `path` (links followed); undefined where nothing is; `PATH: cannot read (ELOOP)` where it cannot say. */
export function statForReading(path: string): Stats | undefined {
  try {
    return statSync(path, { throwIfNoEntry: false });
  } catch (error) {
    throw cannotRead(path, error);
  }
}

/**
 * Opens `path` for reading, refusing folders, FIFOs, devices and sockets. O_NONBLOCK makes opening a FIFO return at
 * once (instead of waiting for a writer), so the check on what was opened never hangs and cannot be raced.
 */
export function openRegularFile(path: string): number {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    // Opening a socket fails (ENXIO): say what it is.
    const stats = statForReading(path);
    throw stats !== undefined && !stats.isFile() ? notRegular(path, stats) : cannotRead(path, error);
  }
  const stats = fstatSync(fd);
  if (!stats.isFile()) {
    closeSync(fd);
    throw notRegular(path, stats);
  }
  return fd;
}

export function readBytes(path: string): Buffer {
  const fd = openRegularFile(path);
  try {
    return readFileSync(fd);
  } catch (error) {
    throw cannotRead(path, error);
  } finally {
    closeSync(fd);
  }
}

/** `bytes`, or a copy of them where they do not start at a multiple of itemBytes (typed arrays need aligned offsets). */
export function alignedBytes(bytes: Uint8Array, itemBytes: number): Uint8Array {
  return bytes.byteOffset % itemBytes === 0 ? bytes : new Uint8Array(bytes);
}
