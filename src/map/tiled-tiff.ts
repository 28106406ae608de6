// A streaming writer of tiled, deflate-compressed 8-bit TIFFs (geotiff.js writes whole, uncompressed images only):
// the header first with a placeholder, tiles appended as they are made, the IFD and its values at the end, then the
// header patched to point at it. It writes a temporary file beside the output and renames it into place when
// finished, so a crash or an interrupt never leaves a torn output. Classic TIFF: files past 4 GiB are refused.
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { promisify } from 'node:util';
import { deflate } from 'node:zlib';

import { checkWriteTarget, errnoText, fsyncDir } from '../io/index.js';

const deflateAsync = promisify(deflate);

/** TIFF field types used here. */
export const TIFF_ASCII = 2;
export const TIFF_SHORT = 3;
export const TIFF_LONG = 4;
export const TIFF_DOUBLE = 12;

export interface TiffTag {
  tag: number;
  type: typeof TIFF_ASCII | typeof TIFF_SHORT | typeof TIFF_LONG | typeof TIFF_DOUBLE;
  /** Numbers, or the text of an ASCII tag (its NUL is added). */
  values: readonly number[] | string;
}

export interface TiledTiffSpec {
  width: number;
  height: number;
  /** Interleaved 8-bit samples per pixel. */
  bands: number;
  /** Tile width and height (a multiple of 16, as TIFF requires). */
  tile: number;
  photometric: 'minisblack' | 'rgb' | 'palette';
  /** Palette images: 256 (r, g, b) entries of 0..255. */
  palette?: readonly [number, number, number][];
  /** Georeferencing, metadata and other tags, written as given. */
  tags?: readonly TiffTag[];
}

/** The largest offset a classic TIFF can hold. */
export const MAX_CLASSIC_BYTES = 2 ** 32 - 1;

const TYPE_BYTES: Record<number, number> = { [TIFF_ASCII]: 1, [TIFF_SHORT]: 2, [TIFF_LONG]: 4, [TIFF_DOUBLE]: 8 };

export class TiledTiffWriter {
  readonly tilesAcross: number;
  readonly tilesDown: number;
  private readonly fd: number;
  private readonly tmp: string;
  private readonly target: string;
  private offset = 8;
  private readonly offsets: number[] = [];
  private readonly counts: number[] = [];

  /** Starts `path` (as a temporary file beside it); `path` is checked as writeFileAtomic checks it. */
  constructor(
    private readonly path: string,
    private readonly spec: TiledTiffSpec,
  ) {
    if (spec.tile % 16 !== 0) throw new Error(`TIFF tiles must be a multiple of 16 px, got ${spec.tile}`);
    this.tilesAcross = Math.ceil(spec.width / spec.tile);
    this.tilesDown = Math.ceil(spec.height / spec.tile);
    this.target = checkWriteTarget(path);
    this.tmp = `${this.target}.tmp-${process.pid}-${Date.now().toString(36)}`;
    this.fd = this.guard(() => openSync(this.tmp, 'w'));
    this.write(new Uint8Array(8)); // the header, patched by finish()
  }

  /** Tiles written so far; they are written in row-major order. */
  get tilesWritten(): number {
    return this.offsets.length;
  }

  /**
   * Appends one row of tiles from `rows` (interleaved samples, `spec.width` px wide, `count` rows starting at the
   * row of tiles' top, count <= tile); the part of the last row of tiles below the image is written as zeros.
   */
  async writeTileRow(rows: Uint8Array, count: number): Promise<void> {
    const { width, bands, tile } = this.spec;
    const tiles = Array.from({ length: this.tilesAcross }, (_, tx) => {
      const block = new Uint8Array(tile * tile * bands);
      const x0 = tx * tile;
      const span = Math.min(tile, width - x0) * bands;
      for (let y = 0; y < count; y++)
        block.set(rows.subarray((y * width + x0) * bands, (y * width + x0) * bands + span), y * tile * bands);
      return deflateAsync(block);
    });
    for (const compressed of await Promise.all(tiles)) {
      this.offsets.push(this.offset);
      this.counts.push(compressed.byteLength);
      this.write(compressed);
    }
  }

  /** Writes the IFD, patches the header and renames the file into place. */
  finish(): void {
    const { width, height, bands, tile, photometric, palette } = this.spec;
    if (this.offsets.length !== this.tilesAcross * this.tilesDown)
      throw new Error(`${this.path}: ${this.offsets.length} of ${this.tilesAcross * this.tilesDown} tiles written`);
    const tags: TiffTag[] = [
      { tag: 256, type: TIFF_LONG, values: [width] },
      { tag: 257, type: TIFF_LONG, values: [height] },
      { tag: 258, type: TIFF_SHORT, values: new Array(bands).fill(8) },
      { tag: 259, type: TIFF_SHORT, values: [8] }, // Adobe deflate
      { tag: 262, type: TIFF_SHORT, values: [{ minisblack: 1, rgb: 2, palette: 3 }[photometric]] },
      { tag: 277, type: TIFF_SHORT, values: [bands] },
      { tag: 284, type: TIFF_SHORT, values: [1] },
      { tag: 322, type: TIFF_LONG, values: [tile] },
      { tag: 323, type: TIFF_LONG, values: [tile] },
      { tag: 324, type: TIFF_LONG, values: this.offsets },
      { tag: 325, type: TIFF_LONG, values: this.counts },
      { tag: 339, type: TIFF_SHORT, values: new Array(bands).fill(1) },
      ...(this.spec.tags ?? []),
    ];
    if (palette)
      tags.push({
        tag: 320,
        type: TIFF_SHORT,
        values: [0, 1, 2].flatMap((c) => Array.from({ length: 256 }, (_, i) => (palette[i]?.[c] ?? 0) * 257)),
      });
    const colour = photometric === 'rgb' ? 3 : 1;
    if (bands > colour) tags.push({ tag: 338, type: TIFF_SHORT, values: new Array(bands - colour).fill(0) }); // ExtraSamples: unspecified
    tags.sort((a, b) => a.tag - b.tag);
    if (this.offset % 2 === 1) this.write(new Uint8Array(1)); // the IFD starts on a word boundary
    const ifd = this.offset;
    const encoded = tags.map((t) => (typeof t.values === 'string' ? Buffer.from(`${t.values}\0`, 'latin1') : null));
    const counts = tags.map((t, i) => encoded[i]?.byteLength ?? (t.values as readonly number[]).length);
    let extra = ifd + 2 + tags.length * 12 + 4;
    const places = tags.map((t, i) => {
      const size = counts[i] * TYPE_BYTES[t.type];
      if (size <= 4) return -1;
      const at = extra;
      extra += size + (size % 2);
      return at;
    });
    if (extra > MAX_CLASSIC_BYTES)
      this.fail(new Error(`the file would be ${extra} bytes; a classic TIFF holds at most 4 GiB`));
    const out = Buffer.alloc(extra - ifd);
    const put = (at: number, type: number, values: readonly number[] | Buffer): void => {
      values.forEach((v: number, k: number) => {
        const p = at - ifd + k * TYPE_BYTES[type];
        if (type === TIFF_ASCII) out.writeUInt8(v, p);
        else if (type === TIFF_SHORT) out.writeUInt16LE(v, p);
        else if (type === TIFF_LONG) out.writeUInt32LE(v, p);
        else out.writeDoubleLE(v, p);
      });
    };
    out.writeUInt16LE(tags.length, 0);
    tags.forEach((t, i) => {
      const entry = ifd + 2 + i * 12;
      out.writeUInt16LE(t.tag, entry - ifd);
      out.writeUInt16LE(t.type, entry - ifd + 2);
      out.writeUInt32LE(counts[i], entry - ifd + 4);
      const values = encoded[i] ?? (t.values as readonly number[]);
      if (places[i] < 0) put(entry + 8, t.type, values);
      else {
        out.writeUInt32LE(places[i], entry - ifd + 8);
        put(places[i], t.type, values);
      }
    });
    this.write(out);
    const header = Buffer.from([0x49, 0x49, 42, 0, 0, 0, 0, 0]);
    header.writeUInt32LE(ifd, 4);
    this.guard(() => {
      writeSync(this.fd, header, 0, 8, 0);
      fsyncSync(this.fd);
      closeSync(this.fd);
      renameSync(this.tmp, this.target);
    });
    fsyncDir(dirname(this.target));
  }

  /** Closes and removes the temporary file (an interrupt or an error); the output is left as it was. */
  abort(): void {
    try {
      closeSync(this.fd);
    } catch {
      // already closed
    }
    rmSync(this.tmp, { force: true });
  }

  private write(bytes: Uint8Array): void {
    if (this.offset + bytes.byteLength > MAX_CLASSIC_BYTES)
      this.fail(new Error('past 4 GiB, more than a classic TIFF holds'));
    this.guard(() => {
      let done = 0;
      while (done < bytes.byteLength)
        done += writeSync(this.fd, bytes, done, bytes.byteLength - done, this.offset + done);
    });
    this.offset += bytes.byteLength;
  }

  private guard<T>(run: () => T): T {
    try {
      return run();
    } catch (error) {
      return this.fail(error);
    }
  }

  private fail(error: unknown): never {
    this.abort();
    throw new Error(`${this.path}: cannot write (${errnoText(error)}); it is left as it was`, { cause: error });
  }
}
