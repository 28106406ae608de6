// PyTorch checkpoints written by torch.save (the zip format of PyTorch >= 1.6), read without executing anything:
// <prefix>/data.pkl goes through the restricted unpickler, which knows only OrderedDict, the tensor and parameter
// rebuilders and the storage classes; each storage is <prefix>/data/<key>. Storages are extracted only once the views
// are planned and the bytes they take are known to fit the limit (maxWeightBytes / $DSDNET_MAX_WEIGHT_BYTES), so a zip
// bomb is refused before anything is inflated. Tensors are gathered in JS through their offset, size and stride with
// every index checked against the storage, then widened to a dtype the engine holds.
import { constants as bufferConstants } from 'node:buffer';
import { endianness } from 'node:os';

import {
  type AnyTypedArray,
  type DType,
  DTYPE_BYTES,
  fromTypedArray,
  type Tensor,
  typedArrayOf,
} from '../torch/index.js';
import {
  describePickleValue,
  PickleCallable,
  PickleDict,
  PickleObject,
  PickleTuple,
  type PickleKey,
  type PickleValue,
  unpickle,
} from './pickle.js';
import { halfTable } from './half.js';
import { type ByteLimit, formatBytes, maxWeightBytes } from './limits.js';
import { alignedBytes, readBytes } from './read.js';
import { MAX_DIMS } from './shape.js';
import { ZipArchive } from './zip.js';

export type TorchValue = number | string | boolean | null;

export interface TorchFileContent {
  /** Every tensor under its flattened key ('model.layer1.0.conv1.weight', 'extra.0'); a bare tensor is under ''. */
  tensors: Map<string, Tensor>;
  /** torch's name for each tensor's dtype before widening ('float16', 'int8', ...). */
  sourceDtypes: Map<string, string>;
  /** Plain values (epoch, names, hyperparameters). Ints beyond ±2^53 are given as their exact decimal string. */
  values: Map<string, TorchValue>;
}

/** What a storage class holds, and the engine dtype it is read into (null: not supported). */
interface ElementKind {
  readonly dtype: string;
  readonly bytes: number;
  readonly engine: DType | null;
}

const KINDS: Record<string, ElementKind> = {
  FloatStorage: { dtype: 'float32', bytes: 4, engine: 'float32' },
  DoubleStorage: { dtype: 'float64', bytes: 8, engine: 'float64' },
  HalfStorage: { dtype: 'float16', bytes: 2, engine: 'float32' },
  BFloat16Storage: { dtype: 'bfloat16', bytes: 2, engine: 'float32' },
  LongStorage: { dtype: 'int64', bytes: 8, engine: 'int64' },
  IntStorage: { dtype: 'int32', bytes: 4, engine: 'int32' },
  ShortStorage: { dtype: 'int16', bytes: 2, engine: 'int32' },
  CharStorage: { dtype: 'int8', bytes: 1, engine: 'int32' },
  ByteStorage: { dtype: 'uint8', bytes: 1, engine: 'uint8' },
  BoolStorage: { dtype: 'bool', bytes: 1, engine: 'bool' },
  // Known, so that the error can name the tensor rather than the class.
  ComplexFloatStorage: { dtype: 'complex64', bytes: 8, engine: null },
  ComplexDoubleStorage: { dtype: 'complex128', bytes: 16, engine: null },
  UntypedStorage: { dtype: 'uint8', bytes: 1, engine: 'uint8' },
};

// The legacy format starts with a pickled magic number: PROTO 2, LONG1 of 10 bytes, 0x1950a86a20f9469cfc6c.
const LEGACY_MAGIC = [0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];
const MAX_DEPTH = 100;
const MAX_NODES = 1_000_000;
// Overlapping views (stride 0, shared storages) can ask for more elements than the file holds; allow some, not 4 GB
// from a 1 KB file.
const SPARE_ELEMENTS = 1 << 24;
// data.pkl holds names and small values (a 1000-tensor state dict pickles to ~100 KB); it never needs more.
const MAX_PICKLE_BYTES = 256 * 2 ** 20;
const MAX_BYTEORDER_BYTES = 16;

/** A storage class named in a persistent id. */
class StorageClass extends PickleObject {
  constructor(
    readonly name: string,
    readonly kind: ElementKind,
  ) {
    super();
  }
}

/** One storage: its bytes are the zip entry <prefix>/data/<key>, extracted once the tensors are planned. */
class Storage extends PickleObject {
  constructor(
    readonly key: string,
    readonly kind: ElementKind,
    readonly numel: number,
    /** The zip entry holding exactly byteLength bytes. */
    readonly entry: string,
  ) {
    super();
  }

  get byteLength(): number {
    return this.numel * this.kind.bytes;
  }
}

/** A tensor as _rebuild_tensor_v2 describes it: a view of a storage; its data is gathered once the pickle is read. */
class TensorView extends PickleObject {
  constructor(
    readonly storage: Storage,
    readonly offset: number,
    readonly size: readonly number[],
    readonly stride: readonly number[],
    /** Set when the view is well-formed but carries something we cannot honour. */
    readonly problem: string | null,
  ) {
    super();
  }
}

function intArg(value: PickleValue, what: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new Error(
      `${what} must be a non-negative integer, got ${typeof value === 'number' || typeof value === 'bigint' ? String(value) : describePickleValue(value)}`,
    );
  }
  return value;
}

function intTuple(value: PickleValue, what: string): number[] {
  if (!(value instanceof PickleTuple)) throw new Error(`${what} must be a tuple, got ${describePickleValue(value)}`);
  if (value.items.length > MAX_DIMS)
    throw new Error(`${what} has ${value.items.length} dimensions (at most ${MAX_DIMS})`);
  return value.items.map((item, i) => intArg(item, `${what}[${i}]`));
}

// _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
function rebuildTensor(args: readonly PickleValue[]): PickleValue {
  if (args.length !== 6 && args.length !== 7) throw new Error(`expects 6 or 7 arguments, got ${args.length}`);
  const [storage, offset, size, stride, requiresGrad, hooks, metadata] = args;
  if (!(storage instanceof Storage)) throw new Error(`the storage is ${describePickleValue(storage)}`);
  const sizes = intTuple(size, 'size');
  const strides = intTuple(stride, 'stride');
  if (sizes.length !== strides.length) throw new Error(`size has ${sizes.length} dimensions, stride ${strides.length}`);
  if (typeof requiresGrad !== 'boolean') throw new Error(`requires_grad is ${describePickleValue(requiresGrad)}`);
  if (!(hooks instanceof PickleDict)) throw new Error(`backward_hooks is ${describePickleValue(hooks)}`);
  let problem: string | null = null;
  if (hooks.items.size > 0) problem = 'it has backward hooks';
  if (metadata !== undefined) {
    if (!(metadata instanceof PickleDict)) throw new Error(`the tensor metadata is ${describePickleValue(metadata)}`);
    if (metadata.items.size > 0)
      problem = `it carries tensor metadata (${[...metadata.items.keys()].map(String).join(', ')})`;
  }
  return new TensorView(storage, intArg(offset, 'storage_offset'), sizes, strides, problem);
}

// _rebuild_parameter(data, requires_grad, backward_hooks): a Parameter is its tensor here.
function rebuildParameter(args: readonly PickleValue[]): PickleValue {
  if (args.length !== 3) throw new Error(`expects 3 arguments, got ${args.length}`);
  const [data, requiresGrad, hooks] = args;
  if (!(data instanceof TensorView)) throw new Error(`the data is ${describePickleValue(data)}, not a tensor`);
  if (typeof requiresGrad !== 'boolean') throw new Error(`requires_grad is ${describePickleValue(requiresGrad)}`);
  if (!(hooks instanceof PickleDict)) throw new Error(`backward_hooks is ${describePickleValue(hooks)}`);
  return data;
}

function orderedDict(args: readonly PickleValue[]): PickleValue {
  if (args.length !== 0) throw new Error('is only supported without arguments (as pickle writes it)');
  return new PickleDict();
}

/** The allow-list: nothing else may appear in data.pkl. */
const GLOBALS: ReadonlyMap<string, PickleValue> = new Map<string, PickleValue>([
  ['collections.OrderedDict', new PickleCallable('collections.OrderedDict', orderedDict)],
  ['torch._utils._rebuild_tensor_v2', new PickleCallable('torch._utils._rebuild_tensor_v2', rebuildTensor)],
  ['torch._utils._rebuild_parameter', new PickleCallable('torch._utils._rebuild_parameter', rebuildParameter)],
  ...Object.entries(KINDS).map(([name, kind]): [string, PickleValue] => [
    `torch.${name}`,
    new StorageClass(name, kind),
  ]),
  ['torch.storage.UntypedStorage', new StorageClass('UntypedStorage', KINDS.UntypedStorage)],
]);

// BUILD on a dict sets instance attributes (an OrderedDict state dict's _metadata), never its items: ignored.
function build(target: PickleValue, _state: PickleValue): void {
  if (!(target instanceof PickleDict)) throw new Error(`cannot set the state of ${describePickleValue(target)}`);
}

function startsWith(bytes: Uint8Array, prefix: readonly number[]): boolean {
  return bytes.byteLength >= prefix.length && prefix.every((b, i) => bytes[i] === b);
}

/** The <prefix> of <prefix>/data.pkl; TorchScript archives and foreign zips are refused. */
function archivePrefix(zip: ZipArchive, source: string): string {
  const names = zip.names;
  if (names.some((n) => /^[^/]+\/(constants\.pkl$|code\/)/.test(n))) {
    throw new Error(
      `${source}: a TorchScript archive (torch.jit.save), not a torch.save checkpoint; in Python, save its weights with ` +
        'torch.save(torch.jit.load(f).state_dict(), f2)',
    );
  }
  const prefixes = names.map((n) => /^([^/]+)\/data\.pkl$/.exec(n)?.[1]).filter((p): p is string => p !== undefined);
  if (prefixes.length === 0) {
    const shown = names.slice(0, 5).join(', ') + (names.length > 5 ? `, ... (${names.length} entries)` : '');
    throw new Error(
      `${source}: a zip archive but not a PyTorch checkpoint: no <name>/data.pkl entry (it holds ${shown || 'nothing'})`,
    );
  }
  if (prefixes.length > 1)
    throw new Error(`${source}: several pickles (${prefixes.map((p) => `${p}/data.pkl`).join(', ')}); expected one`);
  return prefixes[0];
}

function checkByteOrder(zip: ZipArchive, prefix: string, source: string): void {
  const name = `${prefix}/byteorder`;
  if (!zip.has(name)) return; // written since PyTorch 2.0; older files are little-endian
  const order = Buffer.from(zip.read(name, MAX_BYTEORDER_BYTES)).toString('latin1').trim();
  if (order === 'little') return;
  if (order === 'big') {
    throw new Error(
      `${source}: written on a big-endian machine (byteorder 'big'); only little-endian checkpoints are supported (re-save it on a little-endian machine)`,
    );
  }
  throw new Error(`${source}: unknown byte order ${JSON.stringify(order.slice(0, 20))} in ${name}`);
}

export interface TorchReadOptions {
  /** The most bytes the tensors' storages may take once extracted (default: $DSDNET_MAX_WEIGHT_BYTES, else min(8 GiB, half the RAM)). */
  maxWeightBytes?: number;
}

/** Reads a torch.save checkpoint from memory; `source` names it in errors. */
export function decodeTorchFile(bytes: Uint8Array, source: string, options: TorchReadOptions = {}): TorchFileContent {
  const limit = maxWeightBytes(options.maxWeightBytes);
  if (endianness() !== 'LE') throw new Error(`${source}: reading PyTorch checkpoints needs a little-endian machine`);
  if (startsWith(bytes, LEGACY_MAGIC)) {
    throw new Error(
      `${source}: a legacy torch.save file (the format before PyTorch 1.6), which is not supported; ` +
        're-save it with a current torch: torch.save(torch.load(f), f2)',
    );
  }
  if (bytes.byteLength > 0 && bytes[0] === 0x80) {
    throw new Error(
      `${source}: a bare pickle, not a torch.save checkpoint (a zip archive holding data.pkl and the tensors' storages)`,
    );
  }
  const zip = ZipArchive.fromBuffer(bytes, source);
  const prefix = archivePrefix(zip, source);
  checkByteOrder(zip, prefix, source);

  const storages = new Map<string, Storage>();
  const persistentLoad = (pid: PickleValue): PickleValue => {
    // ('storage', storage class, key, location, numel)
    if (!(pid instanceof PickleTuple) || pid.items.length !== 5 || pid.items[0] !== 'storage') {
      throw new Error(
        `unsupported persistent id: ${describePickleValue(pid)}${pid instanceof PickleTuple ? ` of ${pid.items.length}` : ''}`,
      );
    }
    const [, cls, key, location, count] = pid.items;
    if (!(cls instanceof StorageClass)) throw new Error(`the storage class is ${describePickleValue(cls)}`);
    if (typeof key !== 'string') throw new Error(`the storage key is ${describePickleValue(key)}`);
    if (typeof location !== 'string') throw new Error(`the storage location is ${describePickleValue(location)}`);
    const numel = intArg(count, `storage '${key}' size`);
    const seen = storages.get(key);
    if (seen !== undefined) {
      if (seen.kind !== cls.kind || seen.numel !== numel)
        throw new Error(`storage '${key}' is named twice with different types or sizes`);
      return seen;
    }
    const entry = `${prefix}/data/${key}`;
    const declared = zip.entries.get(entry)?.size;
    if (declared === undefined) throw new Error(`storage '${key}' is missing (no ${entry} in the archive)`);
    const storage = new Storage(key, cls.kind, numel, entry);
    // torch.save writes exactly the storage's bytes; checked on what the zip declares, before anything is extracted.
    if (declared !== storage.byteLength) {
      throw new Error(
        `storage '${key}' has ${declared} bytes, but ${numel} ${cls.kind.dtype} elements need ${storage.byteLength} (zip entry ${entry} must hold exactly that)`,
      );
    }
    storages.set(key, storage);
    return storage;
  };
  const pickleName = `${prefix}/data.pkl`;
  const root = unpickle(zip.read(pickleName, MAX_PICKLE_BYTES), {
    source: `${source}: ${pickleName}`,
    globals: GLOBALS,
    persistentLoad,
    build,
  });

  const views = new Map<string, TensorView>();
  const values = new Map<string, TorchValue>();
  flatten(
    root,
    (key, leaf) => {
      if (views.has(key) || values.has(key)) throw new Error(`${source}: two entries flatten to the key '${key}'`);
      if (leaf instanceof TensorView) views.set(key, leaf);
      else values.set(key, leaf);
    },
    source,
  );

  let budget = 4 * bytes.byteLength + SPARE_ELEMENTS;
  const gathered: [string, Gathered][] = [];
  for (const [key, view] of views) {
    const planned = plan(view, `${source}: '${key}'`);
    budget -= planned.numel;
    if (budget < 0) {
      throw new Error(
        `${source}: the tensors would expand to more elements than ${4 * bytes.byteLength + SPARE_ELEMENTS} (overlapping views of small storages); refusing`,
      );
    }
    gathered.push([key, planned]);
  }
  checkStorageBytes(
    gathered.map(([, planned]) => planned.view.storage),
    limit,
    source,
  );
  const extracted = new Map<Storage, Uint8Array>();
  const bytesOf = (storage: Storage): Uint8Array => {
    let data = extracted.get(storage);
    if (data === undefined) extracted.set(storage, (data = zip.read(storage.entry, storage.byteLength)));
    return data;
  };
  const tensors = new Map<string, Tensor>();
  const sourceDtypes = new Map<string, string>();
  try {
    for (const [key, planned] of gathered) {
      const { engine, data, shape } = gather(planned, bytesOf(planned.view.storage));
      tensors.set(key, fromTypedArray(data, shape, engine === 'bool' ? { dtype: 'bool' } : {}));
      sourceDtypes.set(key, planned.view.storage.kind.dtype);
    }
  } catch (error) {
    for (const t of tensors.values()) t.dispose();
    throw error;
  }
  return { tensors, sourceDtypes, values };
}

/** The storages the tensors use must fit `limit` once extracted: refused before any is, naming the largest. */
function checkStorageBytes(used: readonly Storage[], limit: ByteLimit, source: string): void {
  const storages = [...new Set(used)];
  const total = storages.reduce((sum, s) => sum + s.byteLength, 0);
  if (total <= limit.bytes) return;
  const largest = storages.reduce((a, b) => (b.byteLength > a.byteLength ? b : a));
  throw new Error(
    `${source}: the tensors' storages would take ${total} bytes (${formatBytes(total)}) once extracted, more than the limit of ` +
      `${limit.bytes} (${formatBytes(limit.bytes)}, ${limit.from}); the largest is storage '${largest.key}' (${largest.entry}, ` +
      `${largest.byteLength} bytes). Nothing was extracted`,
  );
}

/** Reads a torch.save checkpoint (.pt, .pth, .bin, .ckpt); errors name the path. */
export function readTorchFile(path: string, options: TorchReadOptions = {}): TorchFileContent {
  return decodeTorchFile(readBytes(path), path, options);
}

// ---- flattening ----

function keyPart(key: PickleKey): string {
  if (key === null) return 'None';
  if (typeof key === 'boolean') return key ? 'True' : 'False';
  return String(key);
}

/** Walks dicts, lists and tuples depth first, giving each leaf its dotted key; cycles, depth and size are bounded. */
function flatten(root: PickleValue, emit: (key: string, leaf: TensorView | TorchValue) => void, source: string): void {
  const onPath = new Set<object>();
  let nodes = 0;
  const walk = (value: PickleValue, key: string, depth: number): void => {
    if (++nodes > MAX_NODES) throw new Error(`${source}: more than ${MAX_NODES} entries`);
    const fail = (why: string): never => {
      throw new Error(`${source}: '${key}' ${why}`);
    };
    const children = (entries: Iterable<[string, PickleValue]>, container: object): void => {
      if (depth >= MAX_DEPTH) fail(`is nested more than ${MAX_DEPTH} deep`);
      if (onPath.has(container)) fail('contains itself');
      onPath.add(container);
      for (const [part, child] of entries) walk(child, key === '' ? part : `${key}.${part}`, depth + 1);
      onPath.delete(container);
    };
    if (value === null || typeof value === 'boolean' || typeof value === 'number' || typeof value === 'string')
      emit(key, value);
    else if (typeof value === 'bigint') emit(key, value.toString());
    else if (value instanceof TensorView) emit(key, value);
    else if (value instanceof PickleDict) children(mapEntries(value.items), value);
    else if (Array.isArray(value)) children(indexed(value), value);
    else if (value instanceof PickleTuple) children(indexed(value.items), value);
    else if (value instanceof Uint8Array) fail('holds bytes, which are not supported');
    else if (value instanceof Storage) fail('holds a bare storage, not a tensor');
    else fail(`holds ${describePickleValue(value)}, not a tensor or a plain value`);
  };
  walk(root, '', 0);
}

function* mapEntries(items: ReadonlyMap<PickleKey, PickleValue>): Iterable<[string, PickleValue]> {
  for (const [k, v] of items) yield [keyPart(k), v];
}

function* indexed(items: readonly PickleValue[]): Iterable<[string, PickleValue]> {
  for (let i = 0; i < items.length; i++) yield [String(i), items[i]];
}

// ---- gathering ----

interface Gathered {
  view: TensorView;
  engine: DType;
  numel: number;
  /** The view's size and stride with contiguous dimensions merged; the last dimension is copied run by run. */
  size: number[];
  stride: number[];
}

/** Checks a view against its storage (naming the tensor in errors) and merges dimensions that are contiguous. */
function plan(view: TensorView, what: string): Gathered {
  const { storage, offset, size, stride } = view;
  const engine = storage.kind.engine;
  if (engine === null)
    throw new Error(
      `${what}: ${storage.kind.dtype} tensors are not supported (the engine holds float32, float64, int64, int32, uint8 and bool)`,
    );
  if (view.problem !== null) throw new Error(`${what}: cannot be read: ${view.problem}`);
  let numel = 1n;
  let last = BigInt(offset);
  for (let d = 0; d < size.length; d++) {
    numel *= BigInt(size[d]);
    if (size[d] > 0) last += BigInt(size[d] - 1) * BigInt(stride[d]);
  }
  const limit = Math.floor(bufferConstants.MAX_LENGTH / DTYPE_BYTES[engine]);
  if (numel > BigInt(limit)) throw new Error(`${what}: ${numel} elements of shape [${size.join(', ')}] is too many`);
  // Strides are non-negative, so offset is the lowest index read and `last` the highest.
  if (numel > 0n && last >= BigInt(storage.numel)) {
    throw new Error(
      `${what}: the view (offset ${offset}, size [${size.join(', ')}], stride [${stride.join(', ')}]) reaches element ${last} ` +
        `of storage '${storage.key}', which has ${storage.numel}`,
    );
  }
  // Merge a dimension into the next when stepping it is the same as running on through the next one.
  const mergedSize: number[] = [];
  const mergedStride: number[] = [];
  for (let d = 0; d < size.length; d++) {
    if (size[d] === 1) continue;
    const k = mergedSize.length - 1;
    if (k >= 0 && mergedStride[k] === size[d] * stride[d]) {
      mergedSize[k] *= size[d];
      mergedStride[k] = stride[d];
    } else {
      mergedSize.push(size[d]);
      mergedStride.push(stride[d]);
    }
  }
  if (mergedSize.length === 0) {
    mergedSize.push(1);
    mergedStride.push(1);
  }
  return { view, engine, numel: Number(numel), size: mergedSize, stride: mergedStride };
}

/** Copies one run: count elements of src from start by step into out from at (indexes in elements). */
type CopyRun = (start: number, count: number, step: number, at: number) => void;

/** The tensor `planned` describes, from its storage's `bytes`. */
function gather(planned: Gathered, bytes: Uint8Array): { engine: DType; data: AnyTypedArray; shape: number[] } {
  const { view, engine, numel, size, stride } = planned;
  const kind = view.storage.kind;
  const shape = [...view.size];
  const limit = view.storage.numel;
  const last = size.length - 1;
  const outside = (start: number, end: number): Error =>
    new Error(`internal: run [${start}, ${end}] outside storage '${view.storage.key}' of ${limit} (${kind.dtype})`);
  // One contiguous run stored as the engine holds it: the tensor is made straight from the file's bytes (the engine
  // copies them), saving a copy of every large weight.
  const itemBytes = DTYPE_BYTES[engine];
  const byteOffset = bytes.byteOffset + view.offset * itemBytes;
  if (numel > 0 && last === 0 && stride[0] === 1 && kind.dtype === engine && byteOffset % itemBytes === 0) {
    if (view.offset < 0 || view.offset + numel > limit) throw outside(view.offset, view.offset + numel - 1);
    return { engine, data: typedArrayOf(engine, bytes.buffer, byteOffset, numel), shape };
  }
  const buffer = new ArrayBuffer(numel * itemBytes);
  const data = typedArrayOf(engine, buffer);
  if (numel === 0) return { engine, data, shape };
  const copy = runCopier(kind, bytes, buffer);
  const index = new Array<number>(last).fill(0);
  let start = view.offset;
  for (let at = 0; at < numel; at += size[last]) {
    // Every index of the run lies in [start, start + (count - 1) * step]; check both ends against the storage.
    const end = start + (size[last] - 1) * stride[last];
    if (start < 0 || end >= limit) throw outside(start, end);
    copy(start, size[last], stride[last], at);
    // Odometer over the outer dimensions.
    for (let d = last - 1; d >= 0; d--) {
      index[d]++;
      start += stride[d];
      if (index[d] < size[d]) break;
      start -= size[d] * stride[d];
      index[d] = 0;
    }
  }
  return { engine, data, shape };
}

/** Storage bytes as a typed array of `Type`, copying only if the zip entry is misaligned for it. */
function aligned<T>(
  bytes: Uint8Array,
  itemBytes: number,
  Type: new (buffer: ArrayBufferLike, byteOffset: number, length: number) => T,
): T {
  const source = alignedBytes(bytes, itemBytes);
  return new Type(source.buffer, source.byteOffset, source.byteLength / itemBytes);
}

function runCopier(kind: ElementKind, bytes: Uint8Array, out: ArrayBuffer): CopyRun {
  switch (kind.dtype) {
    case 'float32':
    case 'int32':
      // Copied as 32-bit words, never through a JS number, so NaN payloads survive.
      return words(aligned(bytes, 4, Uint32Array), new Uint32Array(out), 1);
    case 'float64':
    case 'int64':
      return words(aligned(bytes, 4, Uint32Array), new Uint32Array(out), 2);
    case 'uint8':
    case 'bool':
      return words(bytes, new Uint8Array(out), 1);
    case 'float16': {
      const src = aligned(bytes, 2, Uint16Array);
      const dst = new Uint32Array(out);
      const table = halfTable();
      return (start, count, step, at) => {
        for (let i = 0, j = start; i < count; i++, j += step) dst[at + i] = table[src[j]];
      };
    }
    case 'bfloat16': {
      const src = aligned(bytes, 2, Uint16Array);
      const dst = new Uint32Array(out);
      return (start, count, step, at) => {
        for (let i = 0, j = start; i < count; i++, j += step) dst[at + i] = src[j] << 16; // the top half of a float32
      };
    }
    case 'int16': {
      const src = aligned(bytes, 2, Int16Array);
      const dst = new Int32Array(out);
      return (start, count, step, at) => {
        for (let i = 0, j = start; i < count; i++, j += step) dst[at + i] = src[j];
      };
    }
    case 'int8': {
      const src = new Int8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      const dst = new Int32Array(out);
      return (start, count, step, at) => {
        for (let i = 0, j = start; i < count; i++, j += step) dst[at + i] = src[j];
      };
    }
    default:
      throw new Error(`internal: no reader for ${kind.dtype}`);
  }
}

/** Copies elements of `per` words each between same-typed word arrays. */
function words<T extends Uint8Array | Uint32Array>(src: T, dst: T, per: number): CopyRun {
  if (per === 1) {
    return (start, count, step, at) => {
      if (step === 1) dst.set(src.subarray(start, start + count), at);
      else for (let i = 0, j = start; i < count; i++, j += step) dst[at + i] = src[j];
    };
  }
  return (start, count, step, at) => {
    if (step === 1) dst.set(src.subarray(start * per, (start + count) * per), at * per);
    else {
      for (let i = 0, j = start; i < count; i++, j += step) {
        for (let w = 0; w < per; w++) dst[(at + i) * per + w] = src[j * per + w];
      }
    }
  };
}
