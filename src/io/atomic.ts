// Crash-safe file writes: write to a temporary file beside the target, fsync it, rename it into place, fsync the
// folder. A process killed at any point leaves either the old file or the new one, never a torn one. Errors name the
// file written (not the temporary one) and say why (ENOSPC, EACCES, EROFS...).
import {
  closeSync,
  fsyncSync,
  lstatSync,
  openSync,
  readlinkSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { dirname } from 'node:path';

import { fileKind } from './read.js';

/** Node's description of a system error without the call and path it appends: 'ENOSPC: no space left on device'. */
export function errnoText(error: unknown): string {
  const { code, message } = error as NodeJS.ErrnoException;
  if (code === undefined) return message;
  return message.startsWith(`${code}: `) ? message.split(', ')[0] : code;
}

export function fsyncDir(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch (error) {
    throw new Error(`${dir}: cannot sync the folder (${errnoText(error)})`, { cause: error });
  }
}

function writeAndSync(path: string, chunks: readonly Uint8Array[]): void {
  const fd = openSync(path, 'w');
  try {
    for (const chunk of chunks) {
      let offset = 0;
      while (offset < chunk.byteLength) offset += writeSync(fd, chunk, offset);
    }
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** `look()`, its failure as `PATH: cannot write (ELOOP: ...)` (a write to `path` cannot go ahead without it). */
function forWriting<T>(path: string, look: () => T): T {
  try {
    return look();
  } catch (error) {
    throw new Error(`${path}: cannot write (${errnoText(error)})`, { cause: error });
  }
}

/** Writes and fsyncs `path` in place (for files inside a folder that is itself published atomically). */
export function writeFileDurable(path: string, chunks: readonly Uint8Array[]): void {
  forWriting(path, () => writeAndSync(path, chunks));
}

const REFUSE_HINT = 'give the path of a file to create or replace';

/**
 * The file a write to `path` replaces: `path` itself, or the regular file a symbolic link at `path` names (the link
 * stays a link). Anything else already there (a folder, FIFO, device, socket, a link to one or to nothing) is refused
 * before a byte is written: renaming over it would replace, say, /dev/null with a regular file.
 */
export function checkWriteTarget(path: string): string {
  const stats = forWriting(path, () => lstatSync(path, { throwIfNoEntry: false }));
  if (stats === undefined || stats.isFile()) return path;
  if (!stats.isSymbolicLink())
    throw new Error(`${path}: refusing to write: it is ${fileKind(stats)}, not a regular file (${REFUSE_HINT})`);
  // A link in a loop, or through a folder this user cannot search, fails here (ELOOP, EACCES).
  const target = forWriting(path, () => statSync(path, { throwIfNoEntry: false }));
  if (target === undefined)
    throw new Error(
      `${path}: refusing to write: it is a symbolic link to ${forWriting(path, () => readlinkSync(path))}, which does not exist (${REFUSE_HINT})`,
    );
  const resolved = forWriting(path, () => realpathSync(path));
  if (!target.isFile())
    throw new Error(
      `${path}: refusing to write: it is a symbolic link to ${fileKind(target)} (${resolved}), not to a regular file (${REFUSE_HINT})`,
    );
  return resolved;
}

/** Replaces (or creates) the regular file `path` atomically; see checkWriteTarget for what else it refuses. */
export function writeFileAtomic(path: string, chunks: readonly Uint8Array[]): void {
  const target = checkWriteTarget(path);
  const tmp = `${target}.tmp-${process.pid}-${Date.now().toString(36)}`;
  try {
    writeAndSync(tmp, chunks);
    renameSync(tmp, target);
  } catch (error) {
    rmSync(tmp, { force: true });
    throw new Error(`${path}: cannot write (${errnoText(error)}); it is left as it was`, { cause: error });
  }
  fsyncDir(dirname(target));
}
