// Mixed precision regions, as torch.autocast: inside, libtorch runs convolutions and matrix products in a 16-bit
// type and keeps precision-sensitive ops (losses, softmax-based reductions, norms' statistics) in float32. Parameters
// stay float32; their 16-bit copies are cached for the region and freed when the outermost region ends.
import { dtypeCode, dtypeFromCode, type HalfDType } from './dtype.js';
import { binding } from './native.js';

export type AutocastDevice = 'cpu' | 'cuda';

export interface AutocastOptions {
  /** The lower precision (default bfloat16, the type CPUs compute natively). */
  dtype?: HalfDType;
  /** false runs fn in full precision inside an enclosing region (e.g. a loss that must stay float32). */
  enabled?: boolean;
  deviceType?: AutocastDevice;
}

/** Runs fn (synchronous) with autocast switched as the options say, then restores the previous state. */
export function autocast<T>(options: AutocastOptions, fn: () => T): T {
  const { dtype = 'bfloat16', enabled = true, deviceType = 'cpu' } = options;
  if (dtype !== 'bfloat16' && dtype !== 'float16')
    throw new TypeError(`autocast: dtype must be bfloat16 or float16, got '${String(dtype)}'`);
  const [wasEnabled, previousCode] = binding.setAutocast(deviceType, enabled, dtypeCode(dtype));
  binding.enterAutocastRegion();
  try {
    return fn();
  } finally {
    binding.exitAutocastRegion();
    binding.setAutocast(deviceType, wasEnabled, previousCode);
  }
}

/** Whether ops on the device type run under autocast here, and in which 16-bit type. */
export function autocastState(deviceType: AutocastDevice = 'cpu'): { enabled: boolean; dtype: HalfDType } {
  const [enabled, code] = binding.autocastState(deviceType);
  return { enabled, dtype: dtypeFromCode(code) as HalfDType };
}

/**
 * The precisions a network can run in: float32, bfloat16 mixed precision (float32 weights, bf16 compute) on the CPU
 * or a GPU, and float16 mixed precision on a GPU (with a gradient scaler for training).
 */
export const PRECISIONS = ['fp32', 'bf16', 'fp16'] as const;
export type Precision = (typeof PRECISIONS)[number];

/** Runs fn in the precision on the device type: the 16-bit ones under that device's autocast, 'fp32' as it is. */
export function withPrecision<T>(precision: Precision, fn: () => T, deviceType: AutocastDevice = 'cpu'): T {
  if (precision === 'fp32') return fn();
  if (precision === 'bf16') return autocast({ dtype: 'bfloat16', deviceType }, fn);
  if (precision === 'fp16') {
    if (deviceType !== 'cuda')
      throw new Error('fp16 mixed precision runs on CUDA devices (--device cuda); on the CPU use bf16');
    return autocast({ dtype: 'float16', deviceType }, fn);
  }
  throw new TypeError(`unknown precision '${String(precision)}' (expected ${PRECISIONS.join(', ')})`);
}
