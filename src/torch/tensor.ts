// The Tensor class: a JS object owning one native tensor handle, with PyTorch's methods under camelCase names.
// Every op goes through `op`, which calls an ATen operator by its schema name (e.g. 'add.Tensor').
import { inspect } from 'node:util';

import { checkDevice, type Device, isDeviceName } from './device.js';
import {
  type AnyTypedArray,
  type DType,
  DTYPES,
  dtypeCode,
  dtypeFromCode,
  isFloating,
  isHalf,
  typedArrayOf,
} from './dtype.js';
import { binding, type NativeArg, type NativeHandle, type NativeValue } from './native.js';
import { type Disposable, track } from './scope.js';

export type Scalar = number | boolean;
export type OpArg = Tensor | NativeArg | readonly OpArg[];
export type Shape = readonly number[];
/** A nested JS array of numbers or booleans, as returned by `toArray`. */
export type NestedArray = number | boolean | NestedArray[];

const opIds = new Map<string, number>();

/** Resolves 'name.overload' to a cached operator id of aten::name. */
function opId(qualified: string): number {
  let id = opIds.get(qualified);
  if (id === undefined) {
    const dot = qualified.indexOf('.');
    const name = `aten::${dot < 0 ? qualified : qualified.slice(0, dot)}`;
    id = binding.findOp(name, dot < 0 ? '' : qualified.slice(dot + 1));
    opIds.set(qualified, id);
  }
  return id;
}

function lower(arg: OpArg): NativeArg {
  if (arg instanceof Tensor) return arg.handle;
  if (Array.isArray(arg)) return arg.map(lower);
  return arg as NativeArg;
}

function lowerAll(args: readonly OpArg[]): NativeArg[] {
  const out = new Array<NativeArg>(args.length);
  for (let i = 0; i < args.length; i++) out[i] = lower(args[i]);
  return out;
}

/**
 * Sees every op dispatched through this module while it is set: the operator, its arguments and its result (the
 * modified first argument for in-place ops). The ONNX exporter traces a forward pass with it.
 */
export type OpObserver = (
  name: string,
  args: readonly OpArg[],
  result: Tensor | Tensor[] | NativeValue,
  inPlace: boolean,
) => void;

let observer: OpObserver | null = null;

/** Runs `body` with `seen` told of every op it dispatches (nested observers: the innermost one). */
export function observeOps<T>(seen: OpObserver, body: () => T): T {
  const previous = observer;
  observer = seen;
  try {
    return body();
  } finally {
    observer = previous;
  }
}

/** Calls an ATen operator and returns what it returns, with tensor handles left raw. */
export function rawOp(name: string, ...args: OpArg[]): NativeValue {
  const result = binding.call(opId(name), ...lowerAll(args));
  if (observer !== null) observer(name, args, result, false);
  return result;
}

/** Calls an ATen operator that returns one tensor. */
export function op(name: string, ...args: OpArg[]): Tensor {
  const result = new Tensor(binding.call(opId(name), ...lowerAll(args)) as NativeHandle);
  if (observer !== null) observer(name, args, result, false);
  return result;
}

/** Calls an ATen operator that returns several tensors (a tuple or a list). */
export function opMany(name: string, ...args: OpArg[]): Tensor[] {
  const result = (binding.call(opId(name), ...lowerAll(args)) as NativeHandle[]).map((h) => new Tensor(h));
  if (observer !== null) observer(name, args, result, false);
  return result;
}

/** Calls an in-place ATen operator, dropping the alias it returns. */
export function opInPlace(name: string, ...args: OpArg[]): void {
  binding.callDiscard(opId(name), ...lowerAll(args));
  if (observer !== null) observer(name, args, args[0] as Tensor, true);
}

/** The schema libtorch declares for 'name.overload' (for error messages and exploration). */
export function schemaOf(name: string): string {
  return binding.opSchema(opId(name));
}

function overload(base: string, other: Tensor | Scalar): string {
  return other instanceof Tensor ? `${base}.Tensor` : `${base}.Scalar`;
}

function dimList(dim: number | readonly number[]): number[] {
  return typeof dim === 'number' ? [dim] : [...dim];
}

/**
 * How a 4-D tensor's elements are ordered in memory: 'contiguous' is NCHW row-major; 'channelsLast' keeps the
 * shape but stores NHWC, the order oneDNN's CPU convolutions are fastest in.
 */
export type MemoryFormat = 'contiguous' | 'channelsLast';

const MEMORY_FORMAT_CODES: Record<MemoryFormat, number> = { contiguous: 0, channelsLast: 2 };

function memoryFormatCode(format: MemoryFormat): number {
  const code = MEMORY_FORMAT_CODES[format];
  if (code === undefined)
    throw new TypeError(`unknown memory format '${String(format)}' (expected contiguous or channelsLast)`);
  return code;
}

export interface MaxMin {
  values: Tensor;
  indices: Tensor;
}

export interface BackwardOptions {
  retainGraph?: boolean;
  createGraph?: boolean;
}

export class Tensor implements Disposable {
  private handleRef: NativeHandle | null;

  /** Wraps a native handle; prefer the creation functions (`tensor`, `zeros`, ...). */
  constructor(handle: NativeHandle) {
    this.handleRef = handle;
    track(this);
  }

  get handle(): NativeHandle {
    if (this.handleRef === null) throw new Error('this tensor was disposed');
    return this.handleRef;
  }

  get isDisposed(): boolean {
    return this.handleRef === null;
  }

  handOverToCollector(): void {
    if (this.handleRef !== null) binding.account(this.handleRef);
  }

  /** Releases the native tensor now; the object must not be used afterwards. Idempotent. */
  dispose(): void {
    if (this.handleRef !== null) {
      binding.dispose(this.handleRef);
      this.handleRef = null;
    }
  }

  // ---- metadata ----
  get shape(): number[] {
    return binding.shape(this.handle);
  }
  get dtype(): DType {
    return dtypeFromCode(binding.dtype(this.handle));
  }
  get device(): Device {
    return binding.device(this.handle) as Device;
  }
  get ndim(): number {
    return this.shape.length;
  }
  get numel(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }
  size(dim: number): number {
    const shape = this.shape;
    const d = dim < 0 ? dim + shape.length : dim;
    if (d < 0 || d >= shape.length) throw new RangeError(`size(${dim}): tensor has ${shape.length} dimensions`);
    return shape[d];
  }
  strides(): number[] {
    return binding.strides(this.handle);
  }
  /** Whether the elements are dense in the order the format names (default: row-major). */
  isContiguous(memoryFormat: MemoryFormat = 'contiguous'): boolean {
    return binding.isContiguous(this.handle, memoryFormatCode(memoryFormat));
  }

  // ---- conversion ----
  /** This tensor (when already so) or a copy, dense in the given memory format (default: row-major). */
  contiguous(memoryFormat: MemoryFormat = 'contiguous'): Tensor {
    return op('contiguous', this, memoryFormatCode(memoryFormat));
  }
  /** A copy; with a memory format, laid out exactly as that format lays out a new tensor. */
  clone(memoryFormat?: MemoryFormat): Tensor {
    return memoryFormat === undefined ? op('clone', this) : op('clone', this, memoryFormatCode(memoryFormat));
  }
  /**
   * Converts to a dtype, a device, or both; returns a new tensor (a copy only when needed, as in PyTorch).
   * nonBlocking: a copy from pinned host memory to a GPU is queued without waiting for it (as non_blocking=True).
   */
  to(target: DType | Device | { dtype?: DType; device?: Device }, options: { nonBlocking?: boolean } = {}): Tensor {
    if (typeof target === 'string' && !(DTYPES as readonly string[]).includes(target) && !isDeviceName(target)) {
      throw new TypeError(
        `to('${target}'): neither a dtype (${DTYPES.join(', ')}) nor a device ('cpu', 'cuda', 'cuda:N')`,
      );
    }
    const spec =
      typeof target === 'string'
        ? (DTYPES as readonly string[]).includes(target)
          ? { dtype: target as DType }
          : { device: target as Device }
        : target;
    const device = spec.device === undefined ? null : checkDevice(spec.device);
    return op(
      'to.dtype_layout',
      this,
      spec.dtype === undefined ? null : dtypeCode(spec.dtype),
      null,
      device,
      null,
      options.nonBlocking ?? false,
    );
  }
  /** A copy in page-locked host memory, which GPUs copy from asynchronously (needs a CUDA libtorch). */
  pinMemory(): Tensor {
    return op('pin_memory', this, null);
  }
  /**
   * Makes this tensor hold `source`'s data, device and dtype included, as PyTorch's `tensor.data = source`: the
   * same tensor object (parameters keep their identity for optimizers and hooks), new storage.
   */
  setData(source: Tensor): this {
    opInPlace('set_data', this, source);
    return this;
  }
  float(): Tensor {
    return this.to('float32');
  }
  double(): Tensor {
    return this.to('float64');
  }
  long(): Tensor {
    return this.to('int64');
  }

  /**
   * A copy of the elements, row-major, in the typed array of the dtype (BigInt64Array for int64, bytes for bool,
   * float32 for the 16-bit floating types).
   */
  data(): AnyTypedArray {
    const dtype = this.dtype;
    if (!isHalf(dtype)) return typedArrayOf(dtype, binding.toBuffer(this.handle));
    const wide = this.float();
    try {
      return typedArrayOf('float32', binding.toBuffer(wide.handle));
    } finally {
      wide.dispose();
    }
  }
  /** The elements' bytes, row-major and little-endian as files store them (16-bit floats as their bits). */
  bytes(): Uint8Array {
    return new Uint8Array(binding.toBuffer(this.handle));
  }
  /** The elements as nested JS arrays (int64 as numbers). */
  toArray(): NestedArray {
    const dtype = this.dtype;
    const flat = this.data();
    const at = (i: number): number | boolean =>
      dtype === 'bool' ? flat[i] !== 0 : dtype === 'int64' ? Number(flat[i]) : (flat[i] as number);
    const shape = this.shape;
    let offset = 0;
    const build = (d: number): NestedArray => {
      if (d === shape.length) return at(offset++);
      const out: NestedArray[] = [];
      for (let i = 0; i < shape[d]; i++) out.push(build(d + 1));
      return out;
    };
    return build(0);
  }
  /** The value of a one-element tensor. */
  item(): number {
    return Number(rawOp('item', this));
  }

  // ---- arithmetic (broadcasting; numbers act as Python scalars) ----
  add(other: Tensor | Scalar, alpha: number = 1): Tensor {
    return op(overload('add', other), this, other, alpha);
  }
  sub(other: Tensor | Scalar, alpha: number = 1): Tensor {
    return op(overload('sub', other), this, other, alpha);
  }
  mul(other: Tensor | Scalar): Tensor {
    return op(overload('mul', other), this, other);
  }
  div(other: Tensor | Scalar): Tensor {
    return op(overload('div', other), this, other);
  }
  pow(exponent: Tensor | Scalar): Tensor {
    return exponent instanceof Tensor
      ? op('pow.Tensor_Tensor', this, exponent)
      : op('pow.Tensor_Scalar', this, exponent);
  }
  maximum(other: Tensor): Tensor {
    return op('maximum', this, other);
  }
  minimum(other: Tensor): Tensor {
    return op('minimum', this, other);
  }
  clamp(min?: number | null, max?: number | null): Tensor {
    return op('clamp', this, min ?? null, max ?? null);
  }
  neg(): Tensor {
    return op('neg', this);
  }
  abs(): Tensor {
    return op('abs', this);
  }
  exp(): Tensor {
    return op('exp', this);
  }
  log(): Tensor {
    return op('log', this);
  }
  sqrt(): Tensor {
    return op('sqrt', this);
  }
  rsqrt(): Tensor {
    return op('rsqrt', this);
  }
  square(): Tensor {
    return op('square', this);
  }
  reciprocal(): Tensor {
    return op('reciprocal', this);
  }
  sin(): Tensor {
    return op('sin', this);
  }
  cos(): Tensor {
    return op('cos', this);
  }
  sigmoid(): Tensor {
    return op('sigmoid', this);
  }
  tanh(): Tensor {
    return op('tanh', this);
  }
  relu(): Tensor {
    return op('relu', this);
  }
  floor(): Tensor {
    return op('floor', this);
  }
  round(): Tensor {
    return op('round', this);
  }
  sign(): Tensor {
    return op('sign', this);
  }

  // ---- comparisons (bool results) ----
  eq(other: Tensor | Scalar): Tensor {
    return op(overload('eq', other), this, other);
  }
  ne(other: Tensor | Scalar): Tensor {
    return op(overload('ne', other), this, other);
  }
  lt(other: Tensor | Scalar): Tensor {
    return op(overload('lt', other), this, other);
  }
  le(other: Tensor | Scalar): Tensor {
    return op(overload('le', other), this, other);
  }
  gt(other: Tensor | Scalar): Tensor {
    return op(overload('gt', other), this, other);
  }
  ge(other: Tensor | Scalar): Tensor {
    return op(overload('ge', other), this, other);
  }
  isfinite(): Tensor {
    return op('isfinite', this);
  }
  /** Whether all (any) elements are true / non-zero, as a bool tensor. */
  all(): Tensor {
    return op('all', this);
  }
  any(): Tensor {
    return op('any', this);
  }
  logicalNot(): Tensor {
    return op('logical_not', this);
  }
  /** Whether all elements are within atol + rtol * |other| of other's. */
  allclose(other: Tensor, rtol = 1e-5, atol = 1e-8): boolean {
    return rawOp('allclose', this, other, rtol, atol, false) as boolean;
  }

  // ---- reductions ----
  sum(dim?: number | readonly number[], keepdim = false): Tensor {
    return dim === undefined ? op('sum', this, null) : op('sum.dim_IntList', this, dimList(dim), keepdim, null);
  }
  mean(dim?: number | readonly number[], keepdim = false): Tensor {
    return dim === undefined ? op('mean', this, null) : op('mean.dim', this, dimList(dim), keepdim, null);
  }
  /** Maximum of all elements, or per `dim` with the indices where it occurs. */
  max(): Tensor;
  max(dim: number, keepdim?: boolean): MaxMin;
  max(dim?: number, keepdim = false): Tensor | MaxMin {
    if (dim === undefined) return op('max', this);
    const [values, indices] = opMany('max.dim', this, dim, keepdim);
    return { values, indices };
  }
  min(): Tensor;
  min(dim: number, keepdim?: boolean): MaxMin;
  min(dim?: number, keepdim = false): Tensor | MaxMin {
    if (dim === undefined) return op('min', this);
    const [values, indices] = opMany('min.dim', this, dim, keepdim);
    return { values, indices };
  }
  /** Maximum over the given dims (no indices). */
  amax(dim: number | readonly number[], keepdim = false): Tensor {
    return op('amax', this, dimList(dim), keepdim);
  }
  amin(dim: number | readonly number[], keepdim = false): Tensor {
    return op('amin', this, dimList(dim), keepdim);
  }
  /** Counts of each value of a 1-D non-negative integer tensor, at least minLength bins. */
  bincount(minLength = 0): Tensor {
    return op('bincount', this, null, minLength);
  }
  argmax(dim?: number, keepdim = false): Tensor {
    return op('argmax', this, dim ?? null, keepdim);
  }
  argmin(dim?: number, keepdim = false): Tensor {
    return op('argmin', this, dim ?? null, keepdim);
  }
  /** Standard deviation (Bessel-corrected unless unbiased = false), over all elements or the given dims. */
  std(dim?: number | readonly number[], options: { unbiased?: boolean; keepdim?: boolean } = {}): Tensor {
    return op(
      'std.dim',
      this,
      dim === undefined ? null : dimList(dim),
      options.unbiased ?? true,
      options.keepdim ?? false,
    );
  }
  var(dim?: number | readonly number[], options: { unbiased?: boolean; keepdim?: boolean } = {}): Tensor {
    return op(
      'var.dim',
      this,
      dim === undefined ? null : dimList(dim),
      options.unbiased ?? true,
      options.keepdim ?? false,
    );
  }
  /** Vector p-norm over all elements or the given dims. */
  norm(p = 2, dim?: number | readonly number[], keepdim = false): Tensor {
    return op('linalg_vector_norm', this, p, dim === undefined ? null : dimList(dim), keepdim, null);
  }
  cumsum(dim: number): Tensor {
    return op('cumsum', this, dim, null);
  }
  cumprod(dim: number): Tensor {
    return op('cumprod', this, dim, null);
  }
  logsumexp(dim: number | readonly number[], keepdim = false): Tensor {
    return op('logsumexp', this, dimList(dim), keepdim);
  }

  // ---- linear algebra ----
  matmul(other: Tensor): Tensor {
    return op('matmul', this, other);
  }
  mm(other: Tensor): Tensor {
    return op('mm', this, other);
  }
  bmm(other: Tensor): Tensor {
    return op('bmm', this, other);
  }

  // ---- shape ----
  reshape(shape: Shape): Tensor {
    return op('reshape', this, shape);
  }
  view(shape: Shape): Tensor {
    return op('view', this, shape);
  }
  permute(dims: Shape): Tensor {
    return op('permute', this, dims);
  }
  transpose(dim0: number, dim1: number): Tensor {
    return op('transpose.int', this, dim0, dim1);
  }
  /** Transpose of a matrix. */
  t(): Tensor {
    return op('t', this);
  }
  flatten(startDim = 0, endDim = -1): Tensor {
    return op('flatten.using_ints', this, startDim, endDim);
  }
  squeeze(dim?: number): Tensor {
    return dim === undefined ? op('squeeze', this) : op('squeeze.dim', this, dim);
  }
  unsqueeze(dim: number): Tensor {
    return op('unsqueeze', this, dim);
  }
  /** Splits into pieces of `size` along dim (the last may be smaller), or into pieces of the given sizes. */
  split(size: number | readonly number[], dim = 0): Tensor[] {
    return typeof size === 'number'
      ? opMany('split.Tensor', this, size, dim)
      : opMany('split_with_sizes', this, size, dim);
  }
  chunk(chunks: number, dim = 0): Tensor[] {
    return opMany('chunk', this, chunks, dim);
  }
  narrow(dim: number, start: number, length: number): Tensor {
    return op('narrow', this, dim, start, length);
  }
  /** Python's x[..., start:end:step, ...] along one dim (a view). */
  slice(dim: number, start?: number | null, end?: number | null, step = 1): Tensor {
    return op('slice.Tensor', this, dim, start ?? null, end ?? null, step);
  }
  select(dim: number, index: number): Tensor {
    return op('select.int', this, dim, index);
  }
  indexSelect(dim: number, index: Tensor): Tensor {
    return op('index_select', this, dim, index);
  }
  /** Replaces the slices at `index` along dim by source's, in place. */
  indexCopy_(dim: number, index: Tensor, source: Tensor): this {
    opInPlace('index_copy_', this, dim, index, source);
    return this;
  }
  /** Adds source's slices at `index` along dim, in place. */
  indexAdd_(dim: number, index: Tensor, source: Tensor, alpha = 1): this {
    opInPlace('index_add_', this, dim, index, source, alpha);
    return this;
  }
  gather(dim: number, index: Tensor): Tensor {
    return op('gather', this, dim, index, false);
  }
  flip(dims: number | readonly number[]): Tensor {
    return op('flip', this, dimList(dims));
  }
  /** Rotates by 90 degrees k times in the plane of dims (from the first towards the second). */
  rot90(k = 1, dims: readonly [number, number] = [0, 1]): Tensor {
    return op('rot90', this, k, dims);
  }
  expand(shape: Shape): Tensor {
    return op('expand', this, shape, false);
  }
  expandAs(other: Tensor): Tensor {
    return op('expand_as', this, other);
  }
  repeat(repeats: Shape): Tensor {
    return op('repeat', this, repeats);
  }

  // ---- a few neural ops as methods, as in PyTorch ----
  softmax(dim: number): Tensor {
    return op('softmax.int', this, dim, null);
  }
  logSoftmax(dim: number): Tensor {
    return op('log_softmax.int', this, dim, null);
  }

  // ---- in-place (return this; on leaves that require grad only inside noGrad) ----
  add_(other: Tensor | Scalar, alpha: number = 1): this {
    opInPlace(overload('add_', other), this, other, alpha);
    return this;
  }
  sub_(other: Tensor | Scalar, alpha: number = 1): this {
    opInPlace(overload('sub_', other), this, other, alpha);
    return this;
  }
  mul_(other: Tensor | Scalar): this {
    opInPlace(overload('mul_', other), this, other);
    return this;
  }
  div_(other: Tensor | Scalar): this {
    opInPlace(overload('div_', other), this, other);
    return this;
  }
  /** this += value * t1 * t2 */
  addcmul_(t1: Tensor, t2: Tensor, value = 1): this {
    opInPlace('addcmul_', this, t1, t2, value);
    return this;
  }
  /** this += value * t1 / t2 */
  addcdiv_(t1: Tensor, t2: Tensor, value = 1): this {
    opInPlace('addcdiv_', this, t1, t2, value);
    return this;
  }
  /** this += weight * (end - this) */
  lerp_(end: Tensor, weight: number): this {
    opInPlace('lerp_.Scalar', this, end, weight);
    return this;
  }
  sqrt_(): this {
    opInPlace('sqrt_', this);
    return this;
  }
  relu_(): this {
    opInPlace('relu_', this);
    return this;
  }
  clamp_(min?: number | null, max?: number | null): this {
    opInPlace('clamp_', this, min ?? null, max ?? null);
    return this;
  }
  copy_(source: Tensor): this {
    opInPlace('copy_', this, source, false);
    return this;
  }
  /** Makes this tensor share source's storage, shape and strides (PyTorch's `t.data = source`); under noGrad. */
  set_(source: Tensor): this {
    opInPlace('set_.source_Tensor', this, source);
    return this;
  }
  zero_(): this {
    opInPlace('zero_', this);
    return this;
  }
  fill_(value: Scalar): this {
    opInPlace('fill_.Scalar', this, value);
    return this;
  }
  uniform_(from = 0, to = 1): this {
    opInPlace('uniform_', this, from, to, null);
    return this;
  }
  normal_(mean = 0, std = 1): this {
    opInPlace('normal_', this, mean, std, null);
    return this;
  }

  // ---- autograd ----
  get requiresGrad(): boolean {
    return binding.requiresGrad(this.handle);
  }
  /** Sets whether autograd records operations on this (leaf) tensor. */
  requiresGrad_(flag = true): this {
    if (flag && !isFloating(this.dtype)) {
      throw new TypeError(`only floating-point tensors can require gradients, not ${this.dtype}`);
    }
    binding.setRequiresGrad(this.handle, flag);
    return this;
  }
  /** The accumulated gradient (a new wrapper of the same storage), or null. */
  get grad(): Tensor | null {
    const handle = binding.grad(this.handle);
    return handle === null ? null : new Tensor(handle);
  }
  set grad(value: Tensor | null) {
    binding.setGrad(this.handle, value === null ? null : value.handle);
  }
  get isLeaf(): boolean {
    return binding.isLeaf(this.handle);
  }
  /** Name of the autograd node that produced this tensor, e.g. 'AddBackward0', or null for leaves. */
  get gradFn(): string | null {
    return binding.gradFn(this.handle);
  }
  backward(gradient?: Tensor, options: BackwardOptions = {}): void {
    binding.backward(
      [this.handle],
      [gradient?.handle ?? null],
      options.retainGraph ?? false,
      options.createGraph ?? false,
    );
  }
  detach(): Tensor {
    return op('detach', this);
  }

  // ---- printing ----
  toString(): string {
    if (this.isDisposed) return 'tensor(<disposed>)';
    const shape = this.shape;
    const header = `dtype=${this.dtype}${this.device === 'cpu' ? '' : `, device=${this.device}`}`;
    if (this.numel > 64) return `tensor(shape=[${shape.join(', ')}], ${header})`;
    return `tensor(${JSON.stringify(this.toArray())}, shape=[${shape.join(', ')}], ${header})`;
  }
  [inspect.custom](): string {
    return this.toString();
  }
}
