// Element types and their libtorch scalar-type codes.

export type DType = 'float32' | 'float64' | 'bfloat16' | 'float16' | 'int64' | 'int32' | 'uint8' | 'bool';

/** The 16-bit floating types: no JS typed array holds them, so their elements reach JS widened to float32. */
export type HalfDType = 'bfloat16' | 'float16';

const CODES: Record<DType, number> = {
  uint8: 0,
  int32: 3,
  int64: 4,
  float16: 5,
  float32: 6,
  float64: 7,
  bool: 11,
  bfloat16: 15,
};
const BY_CODE = new Map<number, DType>(Object.entries(CODES).map(([name, code]) => [code, name as DType]));

export const DTYPES: readonly DType[] = Object.keys(CODES) as DType[];

/** Bytes per element. */
export const DTYPE_BYTES: Readonly<Record<DType, number>> = {
  float32: 4,
  float64: 8,
  bfloat16: 2,
  float16: 2,
  int64: 8,
  int32: 4,
  uint8: 1,
  bool: 1,
};

export type AnyTypedArray = Float32Array | Float64Array | BigInt64Array | Int32Array | Uint16Array | Uint8Array;

export function dtypeCode(dtype: DType): number {
  const code = CODES[dtype];
  if (code === undefined)
    throw new TypeError(`unknown dtype '${String(dtype)}' (expected one of ${DTYPES.join(', ')})`);
  return code;
}

export function dtypeFromCode(code: number): DType {
  const dtype = BY_CODE.get(code);
  if (dtype === undefined) throw new TypeError(`libtorch scalar type ${code} is not one of ${DTYPES.join(', ')}`);
  return dtype;
}

export function isFloating(dtype: DType): boolean {
  return dtype === 'float32' || dtype === 'float64' || isHalf(dtype);
}

export function isHalf(dtype: DType): dtype is HalfDType {
  return dtype === 'bfloat16' || dtype === 'float16';
}

/** A typed array of the dtype's element type over `buffer` (from byteOffset; length elements, or to the end). */
export function typedArrayOf(dtype: DType, buffer: ArrayBufferLike, byteOffset = 0, length?: number): AnyTypedArray {
  switch (dtype) {
    case 'float32':
      return new Float32Array(buffer, byteOffset, length);
    case 'float64':
      return new Float64Array(buffer, byteOffset, length);
    case 'int64':
      return new BigInt64Array(buffer, byteOffset, length);
    case 'int32':
      return new Int32Array(buffer, byteOffset, length);
    case 'bfloat16':
    case 'float16':
      return new Uint16Array(buffer, byteOffset, length); // the raw bits
    case 'uint8':
    case 'bool':
      return new Uint8Array(buffer, byteOffset, length);
  }
}

export function dtypeOfTypedArray(data: ArrayBufferView): DType {
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof Float64Array) return 'float64';
  if (data instanceof BigInt64Array) return 'int64';
  if (data instanceof Int32Array) return 'int32';
  if (data instanceof Uint8Array || data instanceof Uint8ClampedArray) return 'uint8';
  throw new TypeError(
    `unsupported typed array ${data.constructor.name} (use Float32Array, Float64Array, BigInt64Array, Int32Array or Uint8Array)`,
  );
}
