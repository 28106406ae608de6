// A writer of torch.save's zip format, for tests: real-size PyTorch checkpoints of our backbones without Python.
// What it writes is what torch.save(state_dict) writes: a zip archive of stored (uncompressed) entries
//   archive/data.pkl      pickle protocol 2 of an OrderedDict of tensors (optionally inside {'state_dict': ...})
//   archive/data/<key>    each tensor's storage, little-endian, its data aligned to 64 bytes as torch aligns it
//   archive/version       '3'
// where each tensor is torch._utils._rebuild_tensor_v2(storage, 0, size, stride, False, OrderedDict()) and its storage
// the persistent id ('storage', torch.FloatStorage | torch.LongStorage, key, 'cpu', numel). float32 and int64 only.
import { writeFileSync } from 'node:fs';

import { crc32 } from '../../src/io/zip.js';
import type { Tensor } from '../../src/torch/index.js';

export interface TorchSaveOptions {
  /** Wrap the state dict as a training checkpoint does: { [wrap]: state_dict, ...extra }. */
  wrap?: string;
  /** Plain values beside the state dict when wrapped ('epoch': 90, 'arch': 'resnet18'). */
  extra?: Record<string, number | string>;
  /** Prefix every key (DataParallel's 'module.'). */
  prefix?: string;
  /** The archive's top folder ('archive', as torch >= 2.0 names it; torch 1.x uses the file's stem). */
  archive?: string;
}

const STORAGE_CLASSES: Partial<Record<Tensor['dtype'], string>> = { float32: 'FloatStorage', int64: 'LongStorage' };

/** Pickle protocol 2, the few opcodes torch.save's state dicts use. */
class Pickler {
  private readonly parts: Buffer[] = [];
  private readonly memo = new Map<string, number>();

  private op(...bytes: number[]): void {
    this.parts.push(Buffer.from(bytes));
  }

  private raw(buffer: Buffer): void {
    this.parts.push(buffer);
  }

  proto(): void {
    this.op(0x80, 2); // PROTO 2
  }

  /** GLOBAL 'module\nname\n', memoized (BINPUT) the first time and fetched (BINGET) after. */
  global(module: string, name: string): void {
    const key = `${module}.${name}`;
    const index = this.memo.get(key);
    if (index !== undefined) {
      if (index < 256)
        this.op(0x68, index); // BINGET
      else this.raw(Buffer.concat([Buffer.from([0x6a]), u32(index)])); // LONG_BINGET
      return;
    }
    this.raw(Buffer.from(`c${module}\n${name}\n`, 'latin1'));
    const next = this.memo.size;
    this.memo.set(key, next);
    if (next < 256)
      this.op(0x71, next); // BINPUT
    else this.raw(Buffer.concat([Buffer.from([0x72]), u32(next)])); // LONG_BINPUT
  }

  string(s: string): void {
    const utf8 = Buffer.from(s, 'utf8');
    this.raw(Buffer.concat([Buffer.from([0x58]), u32(utf8.length), utf8])); // BINUNICODE
  }

  int(n: number): void {
    if (!Number.isSafeInteger(n)) throw new Error(`not an integer: ${n}`);
    if (n >= 0 && n < 0x100)
      this.op(0x4b, n); // BININT1
    else if (n >= 0 && n < 0x10000)
      this.op(0x4d, n & 0xff, n >> 8); // BININT2
    else if (n >= -0x80000000 && n < 0x80000000) {
      const b = Buffer.alloc(5);
      b[0] = 0x4a; // BININT
      b.writeInt32LE(n, 1);
      this.raw(b);
    } else {
      // LONG1: the shortest little-endian two's complement.
      let v = BigInt(n);
      const bytes: number[] = [];
      do {
        bytes.push(Number(v & 0xffn));
        v >>= 8n;
      } while (!(
        (v === 0n && (bytes[bytes.length - 1] & 0x80) === 0) ||
        (v === -1n && (bytes[bytes.length - 1] & 0x80) !== 0)
      ));
      this.op(0x8a, bytes.length, ...bytes);
    }
  }

  float(x: number): void {
    const b = Buffer.alloc(9);
    b[0] = 0x47; // BINFLOAT, big-endian
    b.writeDoubleBE(x, 1);
    this.raw(b);
  }

  bool(b: boolean): void {
    this.op(b ? 0x88 : 0x89); // NEWTRUE / NEWFALSE
  }

  /** A tuple of the values `items` push. */
  tuple(items: (() => void)[]): void {
    if (items.length === 0) return this.op(0x29); // EMPTY_TUPLE
    if (items.length > 3) this.op(0x28); // MARK
    for (const item of items) item();
    this.op(items.length === 1 ? 0x85 : items.length === 2 ? 0x86 : items.length === 3 ? 0x87 : 0x74); // TUPLE1..3 / TUPLE
  }

  intTuple(values: readonly number[]): void {
    this.tuple(values.map((v) => () => this.int(v)));
  }

  /** collections.OrderedDict() */
  orderedDict(): void {
    this.global('collections', 'OrderedDict');
    this.op(0x29, 0x52); // EMPTY_TUPLE, REDUCE
  }

  emptyDict(): void {
    this.op(0x7d); // EMPTY_DICT
  }

  /** SETITEMS on the dict on the stack, in batches of 1000 as pickle writes them. */
  setItems(items: [string, () => void][]): void {
    for (let i = 0; i < items.length; i += 1000) {
      this.op(0x28); // MARK
      for (const [key, value] of items.slice(i, i + 1000)) {
        this.string(key);
        value();
      }
      this.op(0x75); // SETITEMS
    }
  }

  /** The persistent id of a storage, loaded by BINPERSID. */
  storage(cls: string, key: string, numel: number): void {
    this.tuple([
      () => this.string('storage'),
      () => this.global('torch', cls),
      () => this.string(key),
      () => this.string('cpu'),
      () => this.int(numel),
    ]);
    this.op(0x51); // BINPERSID
  }

  reduce(): void {
    this.op(0x52);
  }

  build(): void {
    this.op(0x62);
  }

  stop(): Buffer {
    this.op(0x2e);
    return Buffer.concat(this.parts);
  }
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
}

const contiguousStrides = (shape: readonly number[]): number[] => {
  const strides = new Array<number>(shape.length);
  let step = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    strides[d] = step;
    step *= Math.max(1, shape[d]);
  }
  return strides;
};

/** The storage bytes of a float32 or int64 tensor, row-major. */
function storageBytes(t: Tensor): Buffer {
  const c = t.contiguous();
  const data = c.data();
  const copy = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const bytes = Buffer.from(copy); // own the bytes before `c` can be released
  if (c !== t) c.dispose();
  return bytes;
}

/** The bytes torch.save(state, f) would write for `state` (a state dict of float32 and int64 tensors). */
export function encodeTorchSave(state: ReadonlyMap<string, Tensor>, options: TorchSaveOptions = {}): Buffer {
  const prefix = options.prefix ?? '';
  const archive = options.archive ?? 'archive';
  const storages: [string, Buffer][] = [];
  const p = new Pickler();
  p.proto();

  const stateDict = (): void => {
    p.orderedDict();
    p.setItems(
      [...state].map(([name, t]): [string, () => void] => {
        const cls = STORAGE_CLASSES[t.dtype];
        if (cls === undefined)
          throw new Error(`${name}: ${t.dtype} tensors are not supported by this writer (float32 and int64 only)`);
        const key = String(storages.length);
        storages.push([key, storageBytes(t)]);
        return [
          `${prefix}${name}`,
          () => {
            p.global('torch._utils', '_rebuild_tensor_v2');
            p.tuple([
              () => p.storage(cls, key, t.numel),
              () => p.int(0),
              () => p.intTuple(t.shape),
              () => p.intTuple(contiguousStrides(t.shape)),
              () => p.bool(false),
              () => p.orderedDict(),
            ]);
            p.reduce();
          },
        ];
      }),
    );
    // The state dict's _metadata attribute, set by BUILD as pickle restores an OrderedDict subclass's __dict__.
    p.emptyDict();
    p.setItems([
      [
        '_metadata',
        () => {
          p.orderedDict();
          p.setItems([
            [
              '',
              () => {
                p.emptyDict();
                p.setItems([['version', () => p.int(1)]]);
              },
            ],
          ]);
        },
      ],
    ]);
    p.build();
  };

  if (options.wrap === undefined) {
    stateDict();
  } else {
    p.emptyDict();
    p.setItems([
      [options.wrap, stateDict],
      ...Object.entries(options.extra ?? {}).map(([key, v]): [string, () => void] => [
        key,
        () => (typeof v === 'string' ? p.string(v) : Number.isInteger(v) ? p.int(v) : p.float(v)),
      ]),
    ]);
  }
  const pickle = p.stop();

  return zipStored([
    [`${archive}/data.pkl`, pickle],
    ...storages.map(([key, bytes]): [string, Buffer] => [`${archive}/data/${key}`, bytes]),
    [`${archive}/version`, Buffer.from('3\n')],
  ]);
}

/** Writes `state` to `path` as torch.save would. */
export function writeTorchSave(path: string, state: ReadonlyMap<string, Tensor>, options: TorchSaveOptions = {}): void {
  writeFileSync(path, encodeTorchSave(state, options));
}

/** A zip archive of stored entries, each entry's data aligned to 64 bytes by padding its local extra field. */
function zipStored(entries: [string, Buffer][]): Buffer {
  const ALIGN = 64;
  const parts: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const [name, data] of entries) {
    const nameBytes = Buffer.from(name, 'utf8');
    const crc = crc32(data);
    // An extra field of id 'FB' (as PyTorch's writer uses) whose padding puts the data on a 64-byte boundary.
    const headerEnd = offset + 30 + nameBytes.length + 4;
    const padding = (ALIGN - (headerEnd % ALIGN)) % ALIGN;
    const extra = Buffer.alloc(4 + padding, 'Z');
    extra.writeUInt16LE(0x4246, 0);
    extra.writeUInt16LE(padding, 2);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0); // local file header
    local.writeUInt16LE(20, 4); // version needed
    local.writeUInt16LE(0x800, 6); // UTF-8 names
    local.writeUInt16LE(0, 8); // stored
    local.writeUInt32LE(0, 10); // time, date
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(nameBytes.length, 26);
    local.writeUInt16LE(extra.length, 28);
    const record = Buffer.alloc(46);
    record.writeUInt32LE(0x02014b50, 0); // central directory header
    record.writeUInt16LE(20, 4); // version made by
    record.writeUInt16LE(20, 6); // version needed
    record.writeUInt16LE(0x800, 8);
    record.writeUInt16LE(0, 10);
    record.writeUInt32LE(0, 12);
    record.writeUInt32LE(crc, 16);
    record.writeUInt32LE(data.length, 20);
    record.writeUInt32LE(data.length, 24);
    record.writeUInt16LE(nameBytes.length, 28);
    // extra, comment, disk, internal and external attributes: 0
    record.writeUInt32LE(offset, 42);
    parts.push(local, nameBytes, extra, data);
    central.push(record, nameBytes);
    offset += local.length + nameBytes.length + extra.length + data.length;
  }
  const cdSize = central.reduce((s, b) => s + b.length, 0);
  if (offset + cdSize > 0xffffffff || entries.length > 0xffff)
    throw new Error('archive too large for this writer (no zip64)');
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  eocd.writeUInt16LE(entries.length, 8);
  eocd.writeUInt16LE(entries.length, 10);
  eocd.writeUInt32LE(cdSize, 12);
  eocd.writeUInt32LE(offset, 16);
  return Buffer.concat([...parts, ...central, eocd]);
}
