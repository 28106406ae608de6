// The torch.save reader: every fixture bit-exact against PyTorch's own values, hostile pickles refused by name, damaged,
// legacy, TorchScript and foreign files refused with errors naming the file, and random corruption never crashing.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { constants as zlibConstants, deflateRawSync } from 'node:zlib';

import { decodeTorchFile, readTorchFile, type TorchFileContent } from '../src/io/index.js';
import { PickleCallable, PickleDict, PickleTuple, type PickleValue, unpickle } from '../src/io/pickle.js';
import { crc32, ZipArchive } from '../src/io/zip.js';
import type { Tensor } from '../src/torch/index.js';

const FIXTURES = fileURLToPath(new URL('../../test/fixtures/pth/', import.meta.url));
const fixture = (name: string): string => join(FIXTURES, name);
const scratch = (): string => mkdtempSync(join(tmpdir(), 'dsdnet-pth-'));

interface ExpectedTensor {
  dtype: string;
  source: string;
  shape: number[];
  data: string[];
}
type Expected = Record<
  string,
  { tensors: Record<string, ExpectedTensor>; values: Record<string, number | string | boolean | null> }
>;

/** The generator's encoding: floats as hex bit patterns, ints as decimal strings, bools as 'true'/'false'. */
function encode(t: Tensor): string[] {
  const data = t.data();
  switch (t.dtype) {
    case 'float32':
      return Array.from(new Uint32Array(data.buffer, data.byteOffset, data.length), (v) =>
        v.toString(16).padStart(8, '0'),
      );
    case 'float64':
      return Array.from(new BigUint64Array(data.buffer, data.byteOffset, data.length), (v) =>
        v.toString(16).padStart(16, '0'),
      );
    case 'bool':
      return Array.from(data as Uint8Array, (v) => (v ? 'true' : 'false'));
    default:
      return Array.from(data as ArrayLike<number | bigint>, (v) => String(v));
  }
}

function dispose(content: TorchFileContent): void {
  for (const t of content.tensors.values()) t.dispose();
}

// ---- a small zip writer, to build archives the fixtures do not cover (deflate, zip64, other entries) ----

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(n);
  return b;
}
function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
}
function u64(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
}

/** An entry already deflated, declaring `size` bytes once inflated (true or not) and a CRC of 0. */
interface Deflated {
  deflated: Buffer;
  size: number;
}

function makeZip(
  entries: [string, Uint8Array | Deflated][],
  options: { deflate?: boolean; zip64?: boolean } = {},
): Buffer {
  const { deflate = false, zip64 = false } = options;
  const local: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const [name, data] of entries) {
    const nameBytes = Buffer.from(name, 'utf8');
    const given = data instanceof Uint8Array ? null : data;
    const body = given?.deflated ?? (deflate ? deflateRawSync(data as Uint8Array) : Buffer.from(data as Uint8Array));
    const size = given?.size ?? (data as Uint8Array).byteLength;
    const crc = given ? 0 : crc32(data as Uint8Array);
    const method = deflate || given ? 8 : 0;
    const wide = (n: number): number => (zip64 ? 0xffffffff : n);
    const localExtra = zip64 ? Buffer.concat([u16(1), u16(16), u64(size), u64(body.byteLength)]) : Buffer.alloc(0);
    const header = Buffer.concat([
      u32(0x04034b50),
      u16(zip64 ? 45 : 20),
      u16(0x800),
      u16(method),
      u16(0),
      u16(0x21),
      u32(crc),
      u32(wide(body.byteLength)),
      u32(wide(size)),
      u16(nameBytes.length),
      u16(localExtra.length),
      nameBytes,
      localExtra,
    ]);
    const centralExtra = zip64
      ? Buffer.concat([u16(1), u16(24), u64(size), u64(body.byteLength), u64(offset)])
      : Buffer.alloc(0);
    central.push(
      Buffer.concat([
        u32(0x02014b50),
        u16(zip64 ? 45 : 20),
        u16(zip64 ? 45 : 20),
        u16(0x800),
        u16(method),
        u16(0),
        u16(0x21),
        u32(crc),
        u32(wide(body.byteLength)),
        u32(wide(size)),
        u16(nameBytes.length),
        u16(centralExtra.length),
        u16(0),
        u16(0),
        u16(0),
        u32(0),
        u32(wide(offset)),
        nameBytes,
        centralExtra,
      ]),
    );
    local.push(header, body);
    offset += header.length + body.length;
  }
  const cd = Buffer.concat(central);
  const tail: Buffer[] = [];
  if (zip64) {
    const record = offset + cd.length;
    tail.push(
      u32(0x06064b50),
      u64(44),
      u16(45),
      u16(45),
      u32(0),
      u32(0),
      u64(entries.length),
      u64(entries.length),
      u64(cd.length),
      u64(offset),
    );
    tail.push(u32(0x07064b50), u32(0), u64(record), u32(1));
    tail.push(u32(0x06054b50), u16(0), u16(0), u16(0xffff), u16(0xffff), u32(0xffffffff), u32(0xffffffff), u16(0));
  } else {
    tail.push(
      u32(0x06054b50),
      u16(0),
      u16(0),
      u16(entries.length),
      u16(entries.length),
      u32(cd.length),
      u32(offset),
      u16(0),
    );
  }
  return Buffer.concat([...local, cd, ...tail]);
}

/** A fixture's entries, renamed under `prefix` and with `extra` ones added (or replaced). */
function entriesOf(name: string, extra: [string, Uint8Array][] = [], prefix?: string): [string, Uint8Array][] {
  const zip = ZipArchive.fromBuffer(readFileSync(fixture(name)), name);
  const replaced = new Map(extra);
  const out: [string, Uint8Array][] = [];
  for (const entry of zip.names) {
    const renamed = prefix === undefined ? entry : `${prefix}/${entry.slice(entry.indexOf('/') + 1)}`;
    if (!replaced.has(renamed)) out.push([renamed, zip.read(entry, Infinity)]);
  }
  return [...out, ...extra];
}

// ---- a small pickle assembler, for hostile pickles ----

type Part = number | number[] | string | Buffer;
const bytesOf = (part: Part): Buffer =>
  typeof part === 'number'
    ? Buffer.from([part])
    : typeof part === 'string'
      ? Buffer.from(part, 'latin1')
      : Buffer.isBuffer(part)
        ? part
        : Buffer.from(part);
const pk = (...parts: Part[]): Buffer =>
  Buffer.concat([Buffer.from([0x80, 0x02]), ...parts.map(bytesOf), Buffer.from('.')]);
const str = (s: string): Buffer => Buffer.concat([Buffer.from('X'), u32(Buffer.byteLength(s)), Buffer.from(s, 'utf8')]);
const int = (n: number): Buffer => {
  if (n >= 2 ** 31) return Buffer.concat([Buffer.from([0x8a, 8]), u64(n)]); // LONG1 of 8 bytes
  const b = Buffer.alloc(5);
  b[0] = 0x4a; // BININT
  b.writeInt32LE(n, 1);
  return b;
};
const global = (module: string, name: string): string => `c${module}\n${name}\n`;
const MARK = '(';
const TUPLE = 't';
const REDUCE = 'R';
const EMPTY_DICT = '}';
const SETITEM = 's';
/** _rebuild_tensor_v2 of FloatStorage `key` (numel elements) with this offset, size and stride. */
const tensorPickle = (numel: number, offset: number, size: number[], stride: number[], key = '0'): Buffer =>
  Buffer.concat([
    bytesOf(global('torch._utils', '_rebuild_tensor_v2')),
    bytesOf(MARK),
    bytesOf(MARK),
    str('storage'),
    bytesOf(global('torch', 'FloatStorage')),
    str(key),
    str('cpu'),
    int(numel),
    bytesOf(TUPLE),
    bytesOf('Q'),
    int(offset),
    bytesOf(MARK),
    ...size.map(int),
    bytesOf(TUPLE),
    bytesOf(MARK),
    ...stride.map(int),
    bytesOf(TUPLE),
    bytesOf(0x89),
    bytesOf(global('collections', 'OrderedDict')),
    bytesOf(')'),
    bytesOf(REDUCE),
    bytesOf(TUPLE),
    bytesOf(REDUCE),
  ]);
/** A torch-like archive holding this data.pkl and a FloatStorage '0' of four floats. */
const torchZip = (pickle: Buffer, storage: Uint8Array = Buffer.from(new Float32Array([1, 2, 3, 4]).buffer)): Buffer =>
  makeZip([
    ['archive/data.pkl', pickle],
    ['archive/data/0', storage],
    ['archive/version', Buffer.from('3\n')],
  ]);

// ---- the tests ----

test('every fixture reads bit-exactly as PyTorch wrote it (dtypes, views, shared storages, nesting, parameters)', () => {
  const expected = JSON.parse(readFileSync(fixture('expected.json'), 'utf8')) as Expected;
  assert.ok(Object.keys(expected).length >= 4);
  for (const [file, want] of Object.entries(expected)) {
    const got = readTorchFile(fixture(file));
    try {
      assert.deepEqual([...got.tensors.keys()].sort(), Object.keys(want.tensors).sort(), `${file}: tensor keys`);
      for (const [key, e] of Object.entries(want.tensors)) {
        const t = got.tensors.get(key)!;
        const what = `${file}: '${key}'`;
        assert.equal(t.dtype, e.dtype, `${what}: dtype`);
        assert.deepEqual(t.shape, e.shape, `${what}: shape`);
        assert.equal(got.sourceDtypes.get(key), e.source, `${what}: source dtype`);
        assert.deepEqual(encode(t), e.data, `${what}: data`);
      }
      assert.deepEqual(Object.fromEntries(got.values), want.values, `${file}: values`); // strict: -0 differs from 0
    } finally {
      dispose(got);
    }
  }
});

test('the fixtures cover what they claim: every dtype, _metadata ignored, views and conversions', () => {
  const dtypes = readTorchFile(fixture('dtypes.pt'));
  assert.deepEqual([...dtypes.sourceDtypes.values()].sort(), [
    'bfloat16',
    'bool',
    'float16',
    'float32',
    'float64',
    'int16',
    'int32',
    'int64',
    'int8',
    'uint8',
  ]);
  assert.equal(dtypes.tensors.get('float16')!.dtype, 'float32');
  assert.equal(dtypes.tensors.get('int8')!.dtype, 'int32');
  assert.deepEqual((dtypes.tensors.get('int64')!.toArray() as number[]).slice(0, 2), [0, -1]);
  dispose(dtypes);
  const nested = readTorchFile(fixture('nested.pt'));
  assert.ok(nested.tensors.has('model.conv.weight') && nested.tensors.has('model.bn.num_batches_tracked'));
  assert.ok(nested.tensors.has('param') && nested.tensors.has('extra.0'));
  assert.ok(![...nested.values.keys()].some((k) => k.includes('_metadata')), 'the state dict _metadata is not a value');
  assert.equal(nested.values.get('seed'), '4611686018427387911');
  dispose(nested);
  const views = readTorchFile(fixture('views.pt'));
  assert.deepEqual(views.tensors.get('sliced')!.toArray(), [
    [1, 1.5, 2],
    [4, 4.5, 5],
    [7, 7.5, 8],
  ]);
  assert.deepEqual(views.tensors.get('shared_b')!.toArray(), [1, 8, 15, 22, 29]);
  assert.deepEqual(views.tensors.get('expanded')!.shape, [3, 4]);
  assert.deepEqual(views.tensors.get('scalar')!.shape, []);
  assert.deepEqual(views.tensors.get('empty')!.shape, [0, 3]);
  dispose(views);
});

test('a pickle that would call os.system, or build a foreign object, is refused by name (nothing runs)', () => {
  assert.throws(
    () => readTorchFile(fixture('malicious.pt')),
    /malicious\.pt: malicious\/data\.pkl: GLOBAL at byte \d+: refuses the global 'posix\.system'/,
  );
  assert.throws(() => readTorchFile(fixture('foreign.pt')), /foreign\.pt: .*refuses the global 'argparse\.Namespace'/);
  // STACK_GLOBAL (protocol 4) goes through the same allow-list.
  const viaStack = pk(str('builtins'), str('eval'), 0x93, str('1+1'), 0x85, REDUCE);
  assert.throws(
    () => decodeTorchFile(torchZip(viaStack), 'stack.pt'),
    /stack\.pt: archive\/data\.pkl: STACK_GLOBAL at byte \d+: refuses the global 'builtins\.eval'/,
  );
});

test('legacy, TorchScript, complex, bare-pickle and non-torch files get errors that say what they are', () => {
  assert.throws(
    () => readTorchFile(fixture('legacy.pt')),
    /legacy\.pt: a legacy torch\.save file .*torch\.save\(torch\.load\(f\), f2\)/,
  );
  assert.throws(
    () => readTorchFile(fixture('torchscript.pt')),
    /torchscript\.pt: a TorchScript archive \(torch\.jit\.save\)/,
  );
  assert.throws(
    () => readTorchFile(fixture('complex.pt')),
    /complex\.pt: 'spectrum': complex64 tensors are not supported/,
  );
  assert.throws(() => decodeTorchFile(pk(EMPTY_DICT), 'plain.pkl'), /plain\.pkl: a bare pickle/);
  const notTorch = makeZip([
    ['docs/readme.txt', Buffer.from('hello')],
    ['a.csv', Buffer.from('1,2\n')],
  ]);
  assert.throws(
    () => decodeTorchFile(notTorch, 'other.zip'),
    /other\.zip: a zip archive but not a PyTorch checkpoint: no <name>\/data\.pkl entry \(it holds docs\/readme\.txt, a\.csv\)/,
  );
  assert.throws(
    () => decodeTorchFile(Buffer.from('just some text, long enough to look for a zip record'), 'notes.txt'),
    /notes\.txt: not a readable zip archive: no zip signature/,
  );
  assert.throws(() => readTorchFile(join(scratch(), 'missing.pt')), /missing\.pt: cannot read \(ENOENT\)/);
});

test('truncated copies are refused with an error naming the file', () => {
  const dir = scratch();
  const whole = readFileSync(fixture('nested.pt'));
  for (const keep of [0, 10, 100, whole.length >> 1, whole.length - 30, whole.length - 1]) {
    const path = join(dir, `truncated-${keep}.pt`);
    writeFileSync(path, whole.subarray(0, keep));
    assert.throws(
      () => readTorchFile(path),
      (error: Error) => error.message.startsWith(`${path}: `) && /zip|truncated|bytes/.test(error.message),
      `${keep} bytes`,
    );
  }
});

test('zip layers: deflated entries, zip64 records, byteorder honoured, a corrupted entry caught by its CRC', () => {
  const reference = readTorchFile(fixture('views.pt'));
  for (const options of [{ deflate: true }, { zip64: true }, { deflate: true, zip64: true }]) {
    const bytes = makeZip(entriesOf('views.pt', [], 'renamed'), options);
    const got = decodeTorchFile(bytes, 'rezipped.pt');
    for (const [key, t] of reference.tensors)
      assert.deepEqual(encode(got.tensors.get(key)!), encode(t), `${JSON.stringify(options)}: ${key}`);
    dispose(got);
  }
  dispose(reference);
  const little = decodeTorchFile(
    makeZip(entriesOf('dtypes.pt', [['dtypes/byteorder', Buffer.from('little')]])),
    'little.pt',
  );
  assert.equal(little.tensors.size, 10);
  dispose(little);
  assert.throws(
    () => decodeTorchFile(makeZip(entriesOf('dtypes.pt', [['dtypes/byteorder', Buffer.from('big')]])), 'big.pt'),
    /big\.pt: written on a big-endian machine \(byteorder 'big'\)/,
  );
  const bytes = Buffer.from(readFileSync(fixture('dtypes.pt')));
  const entry = ZipArchive.fromBuffer(bytes, 'dtypes.pt').entries.get('dtypes/data/0')!;
  bytes[entry.dataOffset] ^= 0x40;
  assert.throws(
    () => decodeTorchFile(bytes, 'flipped.pt'),
    /flipped\.pt: zip entry 'dtypes\/data\/0' is corrupt \(CRC-32/,
  );
  const twice = makeZip([
    ['a/data.pkl', pk(EMPTY_DICT)],
    ['a/data.pkl', pk(EMPTY_DICT)],
  ]);
  assert.throws(
    () => decodeTorchFile(twice, 'twice.pt'),
    /twice\.pt: not a readable zip archive: the entry 'a\/data\.pkl' appears twice/,
  );
});

test('tensor views are checked against their storage; hostile shapes and strides are refused', () => {
  const read = (pickle: Buffer): TorchFileContent => decodeTorchFile(torchZip(pickle), 'views.pt');
  const wrap = (tensor: Buffer): Buffer => pk(EMPTY_DICT, str('w'), tensor, SETITEM);
  const ok = read(wrap(tensorPickle(4, 1, [2], [2])));
  assert.deepEqual(ok.tensors.get('w')!.toArray(), [2, 4]);
  dispose(ok);
  assert.throws(
    () => read(wrap(tensorPickle(4, 2, [3], [1]))),
    /views\.pt: 'w': the view \(offset 2, size \[3\], stride \[1\]\) reaches element 4 of storage '0', which has 4/,
  );
  assert.throws(() => read(wrap(tensorPickle(4, 0, [2, 2], [3, 1]))), /'w': the view .* reaches element 4/);
  assert.throws(() => read(wrap(tensorPickle(4, 0, [2], [-1]))), /stride\[0\] must be a non-negative integer, got -1/);
  assert.throws(
    () => read(wrap(tensorPickle(8, 0, [8], [1]))),
    /storage '0' has 16 bytes, but 8 float32 elements need 32/,
  );
  assert.throws(
    () => read(wrap(tensorPickle(4, 0, [1 << 20, 1 << 20], [0, 0]))),
    /views\.pt: 'w': 1099511627776 elements .* is too many|would expand/,
  );
  assert.throws(
    () => read(wrap(tensorPickle(4, 0, [1 << 13, 1 << 12], [0, 0]))),
    /views\.pt: the tensors would expand to more elements than/,
  );
  const missing = pk(
    EMPTY_DICT,
    str('w'),
    Buffer.from(
      tensorPickle(4, 0, [1], [1]).toString('latin1').replace('X\x01\x00\x00\x000', 'X\x01\x00\x00\x007'),
      'latin1',
    ),
    SETITEM,
  );
  assert.throws(() => read(missing), /storage '7' is missing \(no archive\/data\/7 in the archive\)/);
});

test('flattening: cycles, sharing, duplicate keys and unsupported leaves are handled or named', () => {
  const read = (pickle: Buffer): TorchFileContent => decodeTorchFile(torchZip(pickle), 'flat.pt');
  // l = []; l.append(l)
  assert.throws(() => read(pk(']', 'q', 0, 'h', 0, 'a')), /flat\.pt: '0' contains itself/);
  // {'a.b': 1, 'a': {'b': 2}}
  assert.throws(
    () => read(pk(EMPTY_DICT, str('a.b'), int(1), SETITEM, str('a'), EMPTY_DICT, str('b'), int(2), SETITEM, SETITEM)),
    /two entries flatten to the key 'a\.b'/,
  );
  assert.throws(() => read(pk(EMPTY_DICT, str('blob'), 'C', 2, 'hi', SETITEM)), /flat\.pt: 'blob' holds bytes/);
  // A list holding the same list twice, 40 levels deep: 2^40 paths, stopped by the entry budget.
  const doubling: Part[] = [']', int(1), 'a'];
  for (let i = 0; i < 40; i++) doubling.push('q', 0, ']', 'h', 0, 'a', 'h', 0, 'a');
  assert.throws(() => read(pk(...doubling)), /flat\.pt: more than 1000000 entries/);
  // A shared sub-dict appears under both keys.
  const shared = read(
    pk(EMPTY_DICT, str('x'), EMPTY_DICT, 'q', 1, str('v'), int(7), SETITEM, SETITEM, str('y'), 'h', 1, SETITEM),
  );
  assert.deepEqual(Object.fromEntries(shared.values), { 'x.v': 7, 'y.v': 7 });
});

test('the unpickler refuses malformed input: underflow, memo misuse, absurd lengths, unknown opcodes, deep nesting', () => {
  const options = { source: 'test.pkl', globals: new Map<string, PickleValue>() };
  const cases: [Buffer, RegExp][] = [
    [pk(0x85), /test\.pkl: TUPLE1 at byte 2: stack underflow/],
    [pk(int(1), MARK, 0x86), /TUPLE2 at byte 8: stack underflow/], // may not reach below a MARK
    [pk(TUPLE), /TUPLE at byte 2: no MARK is open/],
    [pk('h', 5), /BINGET at byte 2: memo entry 5 was never stored/],
    [pk('q', 0), /BINPUT at byte 2: stack underflow/],
    [pk('X', u32(0x7fffffff), 'abc'), /BINUNICODE at byte 2: truncated: needs 2147483647 more bytes, 4 remain/],
    [pk(0x8d, u64(2 ** 52), 'abc'), /BINUNICODE8 at byte 2: length 4503599627370496 is longer than/],
    [pk(0x8b, u32(1 << 30)), /LONG4 at byte 2: an int of 1073741824 bytes/],
    [pk(0xff), /test\.pkl: 0xff at byte 2: unknown opcode/],
    [pk('i', 'os\nsystem\n'), /INST at byte 2: opcode not supported/],
    [pk(0x80, 9), /PROTO at byte 2: protocol 9 is newer than 5/],
    [pk(Buffer.alloc(1001, 0x28)), /MARK at byte 1002: more than 1000 nested MARKs/],
    [pk(int(1), int(2), REDUCE), /REDUCE at byte 12: cannot call a number/],
    [pk(int(1), 'a'), /APPEND at byte 7: stack underflow/],
    [pk(']', int(1), int(2), SETITEM), /SETITEM at byte 13: the target is a list, not a dict/],
    [pk(EMPTY_DICT, ']', int(2), SETITEM), /unsupported dict key: a list/],
    [pk(EMPTY_DICT, '}', 'b'), /BUILD at byte 4: cannot set the state of a dict/],
    [pk(str('x'), 'Q'), /BINPERSID at byte \d+: persistent ids are not allowed here/],
    [pk('X', u32(2), [0xc3, 0x28]), /BINUNICODE at byte 2: the string is not valid UTF-8/],
    [pk('cos\nsys'), /GLOBAL at byte 2: truncated: the name has no end of line/],
    [Buffer.from([0x80, 0x02, 0x4e]), /test\.pkl: truncated: the pickle ends at byte 3 without STOP/],
  ];
  for (const [bytes, message] of cases) assert.throws(() => unpickle(bytes, options), message, message.source);
  assert.throws(
    () => unpickle(pk(int(1), int(2), int(3), int(4)), { ...options, maxStack: 3 }),
    /BININT at byte 17: the stack would hold more than 3 items/,
  );
  // What it does accept, built only from the caller's globals.
  const made: PickleValue[][] = [];
  const globals = new Map<string, PickleValue>([
    ['m.f', new PickleCallable('m.f', (args) => (made.push([...args]), 'made'))],
  ]);
  const value = unpickle(
    pk(
      EMPTY_DICT,
      str('k'),
      0x8c,
      1,
      'm',
      0x8c,
      1,
      'f',
      0x93,
      int(-3),
      0x85,
      REDUCE,
      SETITEM,
      str('big'),
      0x8a,
      9,
      [0, 0, 0, 0, 0, 0, 0, 0, 1],
      SETITEM,
    ),
    { source: 't', globals },
  );
  assert.ok(value instanceof PickleDict);
  assert.equal(value.items.get('k'), 'made');
  assert.equal(value.items.get('big'), 1n << 64n);
  assert.deepEqual(made, [[-3]]);
  assert.ok(unpickle(pk(MARK, int(1), 'G', [0x3f, 0xf8, 0, 0, 0, 0, 0, 0], TUPLE), options) instanceof PickleTuple);
});

// ---- zip bombs: small files whose entries inflate to gigabytes ----

const MIB = 2 ** 20;
/** 1 MiB of zeros deflated without ending the stream (~1 KB), so that copies of it chain into one long stream. */
const ZEROS_MIB = deflateRawSync(Buffer.alloc(MIB), { finishFlush: zlibConstants.Z_SYNC_FLUSH });
const FINAL_BLOCK = deflateRawSync(Buffer.alloc(0));
/** A deflate stream of `mebibytes` MiB of zeros that really inflates to that much: ~1 KB of file per MiB. */
const zerosDeflated = (mebibytes: number, declared = mebibytes * MIB): Deflated => ({
  deflated: Buffer.concat([...new Array<Buffer>(mebibytes).fill(ZEROS_MIB), FINAL_BLOCK]),
  size: declared,
});
/** A torch.save-like archive whose FloatStorages '0', '1', ... are `storages`, each seen through a one-element tensor. */
function bombZip(storages: Deflated[], options: { zip64?: boolean; pickle?: Deflated } = {}): Buffer {
  const items = storages.flatMap((storage, i) => [
    str(`w${i}`),
    tensorPickle(Math.floor(storage.size / 4), 0, [1], [1], String(i)),
  ]);
  const pickle = pk(EMPTY_DICT, MARK, ...items, 'u');
  return makeZip(
    [
      ['archive/data.pkl', options.pickle ?? pickle],
      ...storages.map((s, i): [string, Deflated] => [`archive/data/${i}`, s]),
    ],
    { zip64: options.zip64 },
  );
}

/** Runs `body` with $DSDNET_MAX_WEIGHT_BYTES set to `value` (or unset), restoring it after. */
function withWeightLimit<T>(value: string | undefined, body: () => T): T {
  const saved = process.env.DSDNET_MAX_WEIGHT_BYTES;
  if (value === undefined) delete process.env.DSDNET_MAX_WEIGHT_BYTES;
  else process.env.DSDNET_MAX_WEIGHT_BYTES = value;
  try {
    return body();
  } finally {
    if (saved === undefined) delete process.env.DSDNET_MAX_WEIGHT_BYTES;
    else process.env.DSDNET_MAX_WEIGHT_BYTES = saved;
  }
}

/** Asserts `body` throws an error matching `message` without the process's memory growing by `slack` bytes. */
function refusedWithoutInflating(body: () => unknown, message: RegExp, slack = 128 * MIB): void {
  const before = process.memoryUsage().rss;
  assert.throws(body, message);
  const grown = process.memoryUsage().rss - before;
  assert.ok(grown < slack, `memory grew by ${(grown / MIB).toFixed(0)} MiB: something was inflated`);
}

test('a zip bomb (12 GiB of deflated zeros in a 12 MB .pth) is refused before anything is inflated, naming the sizes', () => {
  const nearly4GiB = 4096 * MIB - 64; // the largest a zip entry holds without zip64, as a whole number of floats
  const bomb = bombZip([
    zerosDeflated(4095, nearly4GiB),
    zerosDeflated(4095, nearly4GiB),
    zerosDeflated(4095, nearly4GiB),
  ]);
  assert.ok(bomb.byteLength < 16 * MIB);
  withWeightLimit(undefined, () =>
    refusedWithoutInflating(
      () => decodeTorchFile(bomb, 'bomb.pth'),
      /bomb\.pth: the tensors' storages would take 12884901696 bytes \(12\.0 GiB\) once extracted, more than the limit of \d+ \([\d.]+ GiB, the default, min\(8 GiB, half of this machine's [\d.]+ GiB\); set DSDNET_MAX_WEIGHT_BYTES to change it\); the largest is storage '0' \(archive\/data\/0, 4294967232 bytes\)\. Nothing was extracted$/,
    ),
  );
  // zip64 lets one entry declare 16 TiB: refused the same way.
  const huge = bombZip([zerosDeflated(16, 2 ** 44)], { zip64: true });
  withWeightLimit(undefined, () =>
    refusedWithoutInflating(
      () => decodeTorchFile(huge, 'huge.pth'),
      /huge\.pth: the tensors' storages would take 17592186044416 bytes \(16\.0 TiB\)/,
    ),
  );
});

test('the weight limit: the maxWeightBytes option, then DSDNET_MAX_WEIGHT_BYTES (named in the error); a bad value is refused', () => {
  const bomb = bombZip([zerosDeflated(600)]); // 600 MiB of zeros in ~600 KB
  refusedWithoutInflating(
    () => decodeTorchFile(bomb, 'zeros.pth', { maxWeightBytes: 256 * MIB }),
    /zeros\.pth: the tensors' storages would take 629145600 bytes \(600\.0 MiB\) once extracted, more than the limit of 268435456 \(256\.0 MiB, the maxWeightBytes option\)/,
  );
  withWeightLimit('256M', () =>
    refusedWithoutInflating(
      () => decodeTorchFile(bomb, 'zeros.pth'),
      /more than the limit of 268435456 \(256\.0 MiB, DSDNET_MAX_WEIGHT_BYTES=256M\)/,
    ),
  );
  withWeightLimit('lots', () =>
    assert.throws(
      () => decodeTorchFile(bomb, 'zeros.pth'),
      /DSDNET_MAX_WEIGHT_BYTES="lots" is not a size: give bytes, or a number with K, M, G or T \(e\.g\. 16G\)/,
    ),
  );
  assert.throws(
    () => decodeTorchFile(bomb, 'zeros.pth', { maxWeightBytes: -1 }),
    /maxWeightBytes must be a positive whole number of bytes, got -1/,
  );
  // Within the limit, a file reads as before; just over it, it is refused.
  const views = readFileSync(fixture('views.pt'));
  withWeightLimit('1M', () => dispose(decodeTorchFile(views, 'views.pt')));
  withWeightLimit('100', () =>
    assert.throws(
      () => decodeTorchFile(views, 'views.pt'),
      /views\.pt: the tensors' storages would take \d+ bytes .* DSDNET_MAX_WEIGHT_BYTES=100\)/,
    ),
  );
});

test('a storage entry declaring other than its bytes, or inflating past what it declares, and a huge data.pkl are refused uninflated', () => {
  const lying = makeZip([
    ['archive/data.pkl', pk(EMPTY_DICT, str('w'), tensorPickle(4, 0, [4], [1]), SETITEM)],
    ['archive/data/0', zerosDeflated(4095, 4096 * MIB - 64)],
  ]);
  refusedWithoutInflating(
    () => decodeTorchFile(lying, 'lying.pth'),
    /lying\.pth: archive\/data\.pkl: BINPERSID at byte \d+: storage '0' has 4294967232 bytes, but 4 float32 elements need 16 \(zip entry archive\/data\/0 must hold exactly that\)/,
  );
  // Declares the 16 bytes the tensor needs, but its stream holds 1 GiB: inflating stops at 16.
  const longer = makeZip([
    ['archive/data.pkl', pk(EMPTY_DICT, str('w'), tensorPickle(4, 0, [4], [1]), SETITEM)],
    ['archive/data/0', zerosDeflated(1024, 16)],
  ]);
  refusedWithoutInflating(
    () => decodeTorchFile(longer, 'longer.pth'),
    /longer\.pth: zip entry 'archive\/data\/0' cannot be inflated/,
  );
  const pickleBomb = bombZip([], { pickle: zerosDeflated(1024) });
  refusedWithoutInflating(
    () => decodeTorchFile(pickleBomb, 'pickle.pth'),
    /pickle\.pth: zip entry 'archive\/data\.pkl' declares 1073741824 bytes \(1\.0 GiB\), more than the 268435456 it may hold here; refusing to extract it/,
  );
});

/** Deterministic pseudo-random numbers (mulberry32). */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function tryRead(bytes: Buffer, label: string): 'read' | 'refused' {
  try {
    dispose(decodeTorchFile(bytes, label));
    return 'read';
  } catch (error) {
    assert.ok(error instanceof Error, `${label}: threw a non-Error ${String(error)}`);
    assert.ok(error.message.startsWith(`${label}: `), `${label}: the error does not name the file: ${error.message}`);
    return 'refused';
  }
}

test('200 random single-byte corruptions of a fixture each read or throw an Error naming the file', () => {
  const whole = readFileSync(fixture('nested.pt'));
  const next = random(1234);
  const outcomes = { read: 0, refused: 0 };
  for (let i = 0; i < 200; i++) {
    const bytes = Buffer.from(whole);
    const at = Math.floor(next() * bytes.length);
    bytes[at] ^= 1 + Math.floor(next() * 255);
    outcomes[tryRead(bytes, `corrupt-${i}@${at}.pt`)]++;
  }
  assert.equal(outcomes.read + outcomes.refused, 200);
});

test('200 random corruptions inside data.pkl (CRC fixed up, so the unpickler sees them) read or throw an Error', () => {
  const whole = readFileSync(fixture('nested.pt'));
  const entry = ZipArchive.fromBuffer(whole, 'nested.pt').entries.get('nested/data.pkl')!;
  const next = random(99);
  const outcomes = { read: 0, refused: 0 };
  for (let i = 0; i < 200; i++) {
    const bytes = Buffer.from(whole);
    const at = entry.dataOffset + Math.floor(next() * entry.size);
    bytes[at] = Math.floor(next() * 256);
    const crc = crc32(bytes.subarray(entry.dataOffset, entry.dataOffset + entry.size));
    bytes.writeUInt32LE(crc, entry.localHeaderOffset + 14);
    bytes.writeUInt32LE(crc, entry.centralHeaderOffset + 16);
    outcomes[tryRead(bytes, `pickle-${i}@${at}.pt`)]++;
  }
  assert.ok(outcomes.refused > 0, 'some corruptions are refused');
});
