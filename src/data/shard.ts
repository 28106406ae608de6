// A decode-cache shard: the decoded images of up to a thousand files of one class folder, in one file:
//   'DSDNETS1' | u64 LE offset of the trailer | count x size x size x 3 bytes of RGB | trailer (JSON)
// Images sit at fixed offsets, so a batch reads each with one positioned read and nothing holds a dataset in
// memory. The trailer comes last because which files failed to decode is known only at the end: they are kept there
// with the reason (their pixels are zero), so that later runs know them without decoding again.
import {
  closeSync,
  fstatSync,
  fsyncSync,
  ftruncateSync,
  openSync,
  readSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';

import type { ResizeMode } from './decode.js';
import { imageBytes } from './images.js';

const MAGIC = 'DSDNETS1';
const PREFIX_BYTES = 16;

export interface ShardContent {
  /** Relative paths of the images, in slot order. */
  paths: readonly string[];
  size: number;
  mode: ResizeMode;
}

export interface ShardTrailer extends ShardContent {
  /** Files that could not be decoded: relative path -> reason. */
  bad: Record<string, string>;
}

function writeAll(fd: number, bytes: Uint8Array, position: number): void {
  for (let done = 0; done < bytes.length;) done += writeSync(fd, bytes, done, bytes.length - done, position + done);
}

function readAll(fd: number, target: Uint8Array, offset: number, length: number, position: number, file: string): void {
  for (let done = 0; done < length;) {
    const n = readSync(fd, target, offset + done, length - done, position + done);
    if (n === 0) throw new Error(`${file}: decode cache shard ended early (truncated on disk?); delete it to rebuild`);
    done += n;
  }
}

/** Writes a shard image by image, in any order, to a temporary file renamed into place when committed. */
export class ShardWriter {
  private readonly tmp: string;
  private readonly fd: number;
  private readonly bytes: number;

  constructor(
    readonly file: string,
    readonly content: ShardContent,
  ) {
    this.tmp = `${file}.tmp-${process.pid}`;
    this.bytes = imageBytes(content.size);
    this.fd = openSync(this.tmp, 'w');
    ftruncateSync(this.fd, PREFIX_BYTES + content.paths.length * this.bytes);
  }

  write(slot: number, pixels: Uint8Array): void {
    if (pixels.length !== this.bytes) throw new RangeError(`image of ${pixels.length} bytes, expected ${this.bytes}`);
    writeAll(this.fd, pixels, PREFIX_BYTES + slot * this.bytes);
  }

  /** Writes the trailer and the prefix, syncs, and renames the file into place. */
  commit(bad: Record<string, string>): void {
    const trailerOffset = PREFIX_BYTES + this.content.paths.length * this.bytes;
    const trailer: ShardTrailer = {
      paths: [...this.content.paths],
      size: this.content.size,
      mode: this.content.mode,
      bad,
    };
    writeAll(this.fd, Buffer.from(JSON.stringify(trailer)), trailerOffset);
    const prefix = Buffer.alloc(PREFIX_BYTES);
    prefix.write(MAGIC, 0, 'latin1');
    prefix.writeBigUInt64LE(BigInt(trailerOffset), 8);
    writeAll(this.fd, prefix, 0);
    fsyncSync(this.fd);
    closeSync(this.fd);
    renameSync(this.tmp, this.file);
  }

  abort(): void {
    closeSync(this.fd);
    rmSync(this.tmp, { force: true });
  }
}

/** An open shard: checked against what it must hold, then read image by image. */
export class ShardReader {
  private fd: number | null;
  private readonly bytes: number;

  private constructor(
    readonly file: string,
    fd: number,
    readonly trailer: ShardTrailer,
  ) {
    this.fd = fd;
    this.bytes = imageBytes(trailer.size);
  }

  /**
   * Opens the shard if it exists and holds `expected`; undefined if it does not exist. A damaged or foreign file
   * throws a message that says why.
   */
  static open(file: string, expected: ShardContent): ShardReader | undefined {
    let fd: number;
    try {
      fd = openSync(file, 'r');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
    try {
      const length = fstatSync(fd).size;
      const prefix = Buffer.alloc(PREFIX_BYTES);
      if (length < PREFIX_BYTES) throw new Error('shorter than its header');
      readAll(fd, prefix, 0, PREFIX_BYTES, 0, file);
      if (prefix.toString('latin1', 0, 8) !== MAGIC) throw new Error('bad magic');
      const trailerOffset = Number(prefix.readBigUInt64LE(8));
      const pixelBytes = expected.paths.length * imageBytes(expected.size);
      if (trailerOffset !== PREFIX_BYTES + pixelBytes || length <= trailerOffset)
        throw new Error(`expected ${pixelBytes} bytes of pixels and a trailer in ${length} bytes`);
      const raw = Buffer.alloc(length - trailerOffset);
      readAll(fd, raw, 0, raw.length, trailerOffset, file);
      const trailer = JSON.parse(raw.toString('utf8')) as ShardTrailer;
      const same =
        trailer.size === expected.size &&
        trailer.mode === expected.mode &&
        trailer.paths.length === expected.paths.length &&
        trailer.paths.every((p, i) => p === expected.paths[i]);
      if (!same || typeof trailer.bad !== 'object' || trailer.bad === null) throw new Error('it holds other images');
      return new ShardReader(file, fd, trailer);
    } catch (error) {
      closeSync(fd);
      throw new Error(`${file}: damaged decode cache shard (${(error as Error).message})`);
    }
  }

  /** Copies the image in `slot` to `target` at byte `offset`. */
  readInto(slot: number, target: Uint8Array, offset: number): void {
    if (this.fd === null) throw new Error(`${this.file}: shard already closed`);
    readAll(this.fd, target, offset, this.bytes, PREFIX_BYTES + slot * this.bytes, this.file);
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }
}
