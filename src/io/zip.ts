// Reading zip archives from memory: the central directory, zip64 records, stored and deflated entries. Enough for
// torch.save files (stored entries, 64-byte aligned data) and for anything Python's zipfile writes. Every offset and
// length read from the file is checked against the buffer before use, so a damaged file gives an error, not garbage.
import { constants as bufferConstants } from 'node:buffer';
import * as zlib from 'node:zlib';

import { formatBytes } from './limits.js';

const EOCD_SIGNATURE = 0x06054b50;
const EOCD_SIZE = 22;
const ZIP64_LOCATOR_SIGNATURE = 0x07064b50;
const ZIP64_LOCATOR_SIZE = 20;
const ZIP64_EOCD_SIGNATURE = 0x06064b50;
const CENTRAL_SIGNATURE = 0x02014b50;
const CENTRAL_SIZE = 46;
const LOCAL_SIGNATURE = 0x04034b50;
const LOCAL_SIZE = 30;
const ZIP64_EXTRA_ID = 0x0001;
const MAX_COMMENT = 0xffff;

export interface ZipEntry {
  readonly name: string;
  readonly method: 'stored' | 'deflate';
  /** Bytes the entry occupies in the archive. */
  readonly compressedSize: number;
  /** Bytes once extracted. */
  readonly size: number;
  readonly crc32: number;
  /** Where its local header starts. */
  readonly localHeaderOffset: number;
  /** Where its central directory record starts. */
  readonly centralHeaderOffset: number;
  /** Where its (compressed) data starts. */
  readonly dataOffset: number;
}

/** CRC-32 (ISO-HDLC, as zip uses): node's native one where present (Node >= 20.15), else a table. */
export function crc32(bytes: Uint8Array): number {
  const native = (zlib as { crc32?: (data: Uint8Array) => number }).crc32;
  if (typeof native === 'function') return native(bytes) >>> 0;
  let crc = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) crc = CRC_TABLE[(crc ^ bytes[i]) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

export class ZipArchive {
  /** Entries by name, in central directory order. */
  readonly entries: ReadonlyMap<string, ZipEntry>;

  private constructor(
    private readonly bytes: Uint8Array,
    readonly source: string,
    entries: Map<string, ZipEntry>,
  ) {
    this.entries = entries;
  }

  /** Parses the central directory; entry data is only checked when read. `source` names the file in errors. */
  static fromBuffer(bytes: Uint8Array, source: string): ZipArchive {
    return new ZipArchive(bytes, source, readCentralDirectory(bytes, source));
  }

  get names(): string[] {
    return [...this.entries.keys()];
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  /**
   * The entry's bytes, inflated if need be and checked against its CRC. Stored entries are views, not copies. An entry
   * declaring more than `maxBytes` is refused before anything is inflated, and inflating never goes past what it declares.
   */
  read(name: string, maxBytes: number): Uint8Array {
    const entry = this.entries.get(name);
    if (entry === undefined) throw new Error(`${this.source}: the zip archive has no entry '${name}'`);
    const fail = (why: string): never => {
      throw new Error(`${this.source}: zip entry '${name}' ${why}`);
    };
    if (entry.size > maxBytes)
      fail(
        `declares ${entry.size} bytes (${formatBytes(entry.size)}), more than the ${maxBytes} it may hold here; refusing to extract it`,
      );
    if (entry.size > bufferConstants.MAX_LENGTH)
      fail(`declares ${entry.size} bytes, more than one buffer holds (${bufferConstants.MAX_LENGTH})`);
    const raw = this.bytes.subarray(entry.dataOffset, entry.dataOffset + entry.compressedSize);
    let data: Uint8Array;
    if (entry.method === 'stored') {
      data = raw;
    } else {
      try {
        // maxOutputLength bounds the work a hostile "zip bomb" can ask for.
        data = zlib.inflateRawSync(raw, { maxOutputLength: Math.max(1, entry.size) });
      } catch (error) {
        return fail(`cannot be inflated (${(error as Error).message})`);
      }
    }
    if (data.byteLength !== entry.size) fail(`has ${data.byteLength} bytes, its header says ${entry.size}`);
    const crc = crc32(data);
    if (crc !== entry.crc32) fail(`is corrupt (CRC-32 ${hex(crc)}, its header says ${hex(entry.crc32)})`);
    return data;
  }
}

function hex(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`;
}

function readCentralDirectory(bytes: Uint8Array, source: string): Map<string, ZipEntry> {
  const fail = (why: string): never => {
    throw new Error(`${source}: not a readable zip archive: ${why}`);
  };
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const length = bytes.byteLength;
  const u16 = (at: number): number => view.getUint16(at, true);
  const u32 = (at: number): number => view.getUint32(at, true);
  const u64 = (at: number, what: string): number => {
    const value = view.getBigUint64(at, true);
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) fail(`${what} ${value} is implausible`);
    return Number(value);
  };

  if (length < EOCD_SIZE) fail(`${length} bytes, too short for a zip archive`);
  // The end-of-central-directory record sits at the end, followed by a comment of up to 64 KiB (and, rarely, junk).
  let eocd = -1;
  for (let at = length - EOCD_SIZE; at >= Math.max(0, length - EOCD_SIZE - MAX_COMMENT); at--) {
    if (u32(at) === EOCD_SIGNATURE && at + EOCD_SIZE + u16(at + 20) <= length) {
      eocd = at;
      break;
    }
  }
  if (eocd < 0) {
    const starts = length >= 4 && u32(0) === LOCAL_SIGNATURE;
    fail(
      starts
        ? 'truncated or damaged: no end-of-central-directory record'
        : 'no zip signature (no end-of-central-directory record)',
    );
  }
  if (u16(eocd + 4) !== 0 || u16(eocd + 6) !== 0) fail('multi-disk archives are not supported');
  let count = u16(eocd + 10);
  let cdSize = u32(eocd + 12);
  let cdOffset = u32(eocd + 16);

  const locator = eocd - ZIP64_LOCATOR_SIZE;
  if (locator >= 0 && u32(locator) === ZIP64_LOCATOR_SIGNATURE) {
    const record = u64(locator + 8, 'zip64 end-of-central-directory offset');
    if (record + 56 > locator) fail(`the zip64 end-of-central-directory record at ${record} lies outside the file`);
    if (u32(record) !== ZIP64_EOCD_SIGNATURE) fail(`no zip64 end-of-central-directory record at ${record}`);
    count = u64(record + 32, 'zip64 entry count');
    cdSize = u64(record + 40, 'zip64 central directory size');
    cdOffset = u64(record + 48, 'zip64 central directory offset');
  } else if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    fail('the end-of-central-directory record asks for zip64 records that are missing');
  }
  if (cdOffset + cdSize > length)
    fail(`truncated: the central directory (${cdSize} bytes at ${cdOffset}) ends past the file's ${length} bytes`);
  if (count * CENTRAL_SIZE > cdSize) fail(`${count} entries cannot fit in a central directory of ${cdSize} bytes`);

  const entries = new Map<string, ZipEntry>();
  const decoder = new TextDecoder('utf-8', { fatal: false });
  let at = cdOffset;
  const cdEnd = cdOffset + cdSize;
  for (let i = 0; i < count; i++) {
    if (at + CENTRAL_SIZE > cdEnd) fail(`the central directory ends inside entry ${i}`);
    if (u32(at) !== CENTRAL_SIGNATURE) fail(`entry ${i} of the central directory has a bad signature`);
    const flags = u16(at + 8);
    const methodCode = u16(at + 10);
    const crc = u32(at + 16);
    let compressedSize = u32(at + 20);
    let size = u32(at + 24);
    const nameLength = u16(at + 28);
    const extraLength = u16(at + 30);
    const commentLength = u16(at + 32);
    let localHeaderOffset = u32(at + 42);
    const next = at + CENTRAL_SIZE + nameLength + extraLength + commentLength;
    if (next > cdEnd) fail(`the central directory ends inside entry ${i}`);
    const name = decoder.decode(bytes.subarray(at + CENTRAL_SIZE, at + CENTRAL_SIZE + nameLength));
    const what = `entry '${name}'`;

    // zip64 extra field: 8-byte values for exactly the fields whose 32-bit slot holds 0xffffffff, in this order.
    const extraEnd = at + CENTRAL_SIZE + nameLength + extraLength;
    for (let x = at + CENTRAL_SIZE + nameLength; x + 4 <= extraEnd;) {
      const id = u16(x);
      const dataLength = u16(x + 2);
      const dataEnd = x + 4 + dataLength;
      if (dataEnd > extraEnd) fail(`${what} has an extra field running past its end`);
      if (id === ZIP64_EXTRA_ID) {
        let p = x + 4;
        const take = (field: string): number => {
          if (p + 8 > dataEnd) fail(`${what} has a zip64 extra field without its ${field}`);
          const value = u64(p, `${what}'s zip64 ${field}`);
          p += 8;
          return value;
        };
        if (size === 0xffffffff) size = take('size');
        if (compressedSize === 0xffffffff) compressedSize = take('compressed size');
        if (localHeaderOffset === 0xffffffff) localHeaderOffset = take('local header offset');
      }
      x = dataEnd;
    }

    if (flags & 0x1) fail(`${what} is encrypted`);
    const method =
      methodCode === 0
        ? 'stored'
        : methodCode === 8
          ? 'deflate'
          : fail(`${what} uses compression method ${methodCode} (only stored and deflate are supported)`);
    if (method === 'stored' && compressedSize !== size)
      fail(`${what} is stored but its sizes differ (${compressedSize} and ${size})`);
    if (entries.has(name)) fail(`the entry '${name}' appears twice`);

    if (localHeaderOffset + LOCAL_SIZE > length)
      fail(`truncated: ${what}'s local header at ${localHeaderOffset} lies past the file's end`);
    if (u32(localHeaderOffset) !== LOCAL_SIGNATURE)
      fail(`${what}'s local header at ${localHeaderOffset} has a bad signature`);
    const dataOffset = localHeaderOffset + LOCAL_SIZE + u16(localHeaderOffset + 26) + u16(localHeaderOffset + 28);
    if (dataOffset + compressedSize > length) {
      fail(`truncated: ${what} needs ${compressedSize} bytes at ${dataOffset}, the file has ${length} bytes`);
    }
    entries.set(name, {
      name,
      method,
      compressedSize,
      size,
      crc32: crc,
      localHeaderOffset,
      centralHeaderOffset: at,
      dataOffset,
    });
    at = next;
  }
  return entries;
}
