// Process-wide engine state: versions, threads, ATen's kernels, seeding, devices, and the live tensor count (the
// settings made before the first kernel are engine.ts's).
import { checkDevice, type Device } from './device.js';
import { configureEngine } from './engine.js';
import { binding, type NativeGenerator } from './native.js';
import { Tensor } from './tensor.js';

export function libtorchVersion(): string {
  return binding.version();
}

/** Intra-op threads libtorch uses (default: all cores, or DSDNET_NUM_THREADS): configureEngine({ threads: n }). */
export function setNumThreads(n: number): void {
  configureEngine({ threads: n });
}

export function getNumThreads(): number {
  return binding.getNumThreads();
}

export function parallelInfo(): string {
  return binding.parallelInfo();
}

/** Seeds libtorch's default CPU generator (rand, randn, dropout, init...). */
export function manualSeed(seed: number): void {
  if (!Number.isSafeInteger(seed) || seed < 0)
    throw new RangeError(`manualSeed: expected a non-negative integer, got ${seed}`);
  binding.manualSeed(seed);
}

/** The state of a device's default generator (a uint8 tensor on the CPU, for any device), to save with a checkpoint. */
export function getRngState(device: Device = 'cpu'): Tensor {
  return new Tensor(binding.getRngState(checkDevice(device)));
}

export function setRngState(state: Tensor, device: Device = 'cpu'): void {
  binding.setRngState(state.handle, checkDevice(device));
}

/**
 * The instruction set of ATen's own kernels (elementwise ops, BatchNorm, pooling; convolutions are oneDNN's, which
 * picks its own): 'AVX512', 'AVX2' or 'DEFAULT'. configureEngine chooses it before the first kernel; by default
 * AVX-512 on CPUs that also compute bf16 (see preferredCpuCapability) unless ATEN_CPU_CAPABILITY (libtorch's own
 * variable) chooses.
 */
export function cpuCapability(): string {
  return binding.cpuCapability();
}

export function cudaDeviceCount(): number {
  return binding.cudaDeviceCount();
}

export function cudaIsAvailable(): boolean {
  return binding.cudaDeviceCount() > 0;
}

/** cuDNN picks the fastest convolution algorithm for each input shape it meets (torch.backends.cudnn.benchmark). */
export function setCudnnBenchmark(on: boolean): void {
  binding.setCudnnBenchmark(on);
}

/** Waits for the work queued on a GPU (default: the first) to finish: for timing. */
export function cudaSynchronize(device: number = 0): void {
  binding.cudaSynchronize(device);
}

/** Native tensors currently referenced from JS on this thread (disposed and collected ones excluded; each worker thread counts its own). */
export function liveTensors(): number {
  return binding.liveTensors();
}

/** A random generator of its own, seeded, for reproducible draws that leave the default generator alone. */
export class Generator {
  readonly handle: NativeGenerator;
  constructor(seed: number) {
    if (!Number.isSafeInteger(seed) || seed < 0)
      throw new RangeError(`Generator: expected a non-negative integer seed, got ${seed}`);
    this.handle = binding.newGenerator(seed);
  }
}
