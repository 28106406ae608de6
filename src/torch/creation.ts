// Tensor creation. JS numbers that hold integers act as Python ints: arange(5) and full([2], 1) give int64,
// tensor([1, 2]) gives int64, tensor([0.5, 1]) float32; pass `dtype` to choose.
import { checkDevice, type Device } from './device.js';
import { type AnyTypedArray, type DType, dtypeCode, dtypeOfTypedArray, type HalfDType, isHalf } from './dtype.js';
import { binding } from './native.js';
import type { Generator } from './runtime.js';
import { op, type Shape, Tensor } from './tensor.js';

export interface TensorOptions {
  dtype?: DType;
  device?: Device;
  requiresGrad?: boolean;
}

type Nested = number | boolean | bigint | readonly Nested[];

function code(options: TensorOptions): number | null {
  return options.dtype === undefined ? null : dtypeCode(options.dtype);
}

let explicitDevicesRequired = false;

/**
 * Runs fn with every creation function required to name its device. Code that runs next to a model (a method's
 * noise, a loss's constants) must create its tensors where the model's are: one that falls back to the CPU works
 * here and fails on a GPU, so tests run the model's steps under this to find such a tensor without a GPU.
 */
export function requireExplicitDevices<T>(fn: () => T): T {
  const previous = explicitDevicesRequired;
  explicitDevicesRequired = true;
  try {
    return fn();
  } finally {
    explicitDevicesRequired = previous;
  }
}

function device(options: TensorOptions, what: string): Device | null {
  if (options.device !== undefined) return checkDevice(options.device);
  if (explicitDevicesRequired) {
    throw new Error(
      `${what}(): no device given, so the tensor would be made on the CPU whatever device the model is on (pass { device: other.device })`,
    );
  }
  return null;
}

function finish(t: Tensor, options: TensorOptions): Tensor {
  return options.requiresGrad ? t.requiresGrad_(true) : t;
}

function checkShape(shape: Shape, what: string): Shape {
  if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
    throw new TypeError(`${what}: shape must be an array of non-negative integers, got ${JSON.stringify(shape)}`);
  }
  return shape;
}

export function zeros(shape: Shape, options: TensorOptions = {}): Tensor {
  return finish(op('zeros', checkShape(shape, 'zeros'), code(options), null, device(options, 'zeros')), options);
}

export function ones(shape: Shape, options: TensorOptions = {}): Tensor {
  return finish(op('ones', checkShape(shape, 'ones'), code(options), null, device(options, 'ones')), options);
}

export function empty(shape: Shape, options: TensorOptions = {}): Tensor {
  return finish(
    op('empty.memory_format', checkShape(shape, 'empty'), code(options), null, device(options, 'empty'), null, null),
    options,
  );
}

export function full(shape: Shape, value: number | boolean, options: TensorOptions = {}): Tensor {
  return finish(op('full', checkShape(shape, 'full'), value, code(options), null, device(options, 'full')), options);
}

export function zerosLike(t: Tensor, options: TensorOptions = {}): Tensor {
  return zeros(t.shape, { dtype: t.dtype, device: t.device, ...options });
}

export function onesLike(t: Tensor, options: TensorOptions = {}): Tensor {
  return ones(t.shape, { dtype: t.dtype, device: t.device, ...options });
}

export function fullLike(t: Tensor, value: number, options: TensorOptions = {}): Tensor {
  return full(t.shape, value, { dtype: t.dtype, device: t.device, ...options });
}

export function randnLike(t: Tensor, options: TensorOptions = {}): Tensor {
  return randn(t.shape, { dtype: t.dtype, device: t.device, ...options });
}

/** arange(end) or arange(start, end, step): [start, end) by step. */
export function arange(start: number, end?: number, step = 1, options: TensorOptions = {}): Tensor {
  const [from, to] = end === undefined ? [0, start] : [start, end];
  return finish(op('arange.start_step', from, to, step, code(options), null, device(options, 'arange')), options);
}

export function linspace(start: number, end: number, steps: number, options: TensorOptions = {}): Tensor {
  return finish(op('linspace', start, end, steps, code(options), null, device(options, 'linspace')), options);
}

export function eye(n: number, m: number = n, options: TensorOptions = {}): Tensor {
  return finish(op('eye.m', n, m, code(options), null, device(options, 'eye')), options);
}

/** Uniform on [0, 1). */
export function rand(shape: Shape, options: TensorOptions = {}): Tensor {
  return finish(op('rand', checkShape(shape, 'rand'), code(options), null, device(options, 'rand')), options);
}

/** Standard normal; from `generator` when given, else from the default generator. */
export function randn(shape: Shape, options: TensorOptions & { generator?: Generator } = {}): Tensor {
  if (options.generator !== undefined) {
    return finish(
      op(
        'randn.generator',
        checkShape(shape, 'randn'),
        options.generator.handle,
        code(options),
        null,
        device(options, 'randn'),
      ),
      options,
    );
  }
  return finish(op('randn', checkShape(shape, 'randn'), code(options), null, device(options, 'randn')), options);
}

/** Integers uniform on [low, high); int64 unless dtype says otherwise. */
export function randint(low: number, high: number, shape: Shape, options: TensorOptions = {}): Tensor {
  return op(
    'randint.low',
    low,
    high,
    checkShape(shape, 'randint'),
    code(options) ?? dtypeCode('int64'),
    null,
    device(options, 'randint'),
  );
}

/** A random permutation of 0..n-1 (int64). */
export function randperm(n: number, options: TensorOptions = {}): Tensor {
  return op('randperm', n, code(options) ?? dtypeCode('int64'), null, device(options, 'randperm'));
}

/** A tensor holding a copy of a typed array, with the given shape (default: 1-D). */
export function fromTypedArray(data: AnyTypedArray, shape: Shape = [data.length], options: TensorOptions = {}): Tensor {
  const natural = dtypeOfTypedArray(data);
  let t = new Tensor(binding.fromBuffer(data, checkShape(shape, 'fromTypedArray'), dtypeCode(natural)));
  if (options.dtype !== undefined && options.dtype !== natural) t = t.to(options.dtype);
  const target = device(options, 'fromTypedArray');
  if (target !== null && target !== 'cpu') t = t.to(target);
  return finish(t, options);
}

function inferShape(data: Nested): number[] {
  const shape: number[] = [];
  let level: Nested = data;
  while (Array.isArray(level)) {
    shape.push(level.length);
    if (level.length === 0) break;
    level = level[0];
  }
  return shape;
}

function flatten(data: Nested, shape: readonly number[], depth: number, out: (number | boolean | bigint)[]): void {
  if (depth === shape.length) {
    if (Array.isArray(data)) throw new TypeError('tensor(): ragged nested array (sub-arrays of different depths)');
    if (typeof data !== 'number' && typeof data !== 'boolean' && typeof data !== 'bigint') {
      throw new TypeError(`tensor(): elements must be numbers, booleans or bigints, got ${typeof data}`);
    }
    out.push(data as number | boolean | bigint);
    return;
  }
  if (!Array.isArray(data) || data.length !== shape[depth]) {
    throw new TypeError(`tensor(): ragged nested array (expected ${shape[depth]} elements at depth ${depth})`);
  }
  for (const item of data as readonly Nested[]) flatten(item, shape, depth + 1, out);
}

function inferDtype(values: readonly (number | boolean | bigint)[]): DType {
  if (values.length > 0 && values.every((v) => typeof v === 'boolean')) return 'bool';
  if (values.every((v) => typeof v === 'bigint' || (typeof v === 'number' && Number.isInteger(v)))) {
    return values.length === 0 ? 'float32' : 'int64';
  }
  return 'float32';
}

function typedArrayFrom(
  values: readonly (number | boolean | bigint)[],
  dtype: Exclude<DType, HalfDType>,
): AnyTypedArray {
  switch (dtype) {
    case 'float32':
      return Float32Array.from(values, Number);
    case 'float64':
      return Float64Array.from(values, Number);
    case 'int32':
      return Int32Array.from(values, Number);
    case 'uint8':
    case 'bool':
      return Uint8Array.from(values, Number);
    case 'int64':
      return BigInt64Array.from(values, (v) => {
        if (typeof v === 'number' && !Number.isInteger(v))
          throw new TypeError(`tensor(): ${v} is not an integer for int64`);
        return BigInt(v);
      });
  }
}

/** A tensor from a number, a nested array, or a typed array (copied). */
export function tensor(data: Nested | AnyTypedArray, options: TensorOptions = {}): Tensor {
  if (ArrayBuffer.isView(data)) return fromTypedArray(data, [data.length], options);
  const shape = inferShape(data);
  const values: (number | boolean | bigint)[] = [];
  flatten(data, shape, 0, values);
  const dtype = options.dtype ?? inferDtype(values);
  // 16-bit floats have no typed array: built in float32, converted by libtorch.
  if (isHalf(dtype)) return fromTypedArray(Float32Array.from(values, Number), shape, options);
  const target = device(options, 'tensor');
  const t = new Tensor(binding.fromBuffer(typedArrayFrom(values, dtype), shape, dtypeCode(dtype)));
  const placed = target !== null && target !== 'cpu' ? t.to(target) : t;
  return finish(placed, options);
}

/** A 0-dim tensor. */
export function scalarTensor(value: number, options: TensorOptions = {}): Tensor {
  return tensor(value, options);
}
