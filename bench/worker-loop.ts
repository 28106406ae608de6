// The timing loop shared by the benchmark workers: run a step warm-up + timed times and print the step times and
// the process's peak RSS as one JSON line.
// Arguments: MODE MODEL SIZE BATCH PRECISION LAYOUT WARMUP ITERS THREADS [DEVICE]; on a GPU each step is timed to
// the end of its kernels (synchronised), with cuDNN's benchmark mode as the trainer sets it.
import { performance } from 'node:perf_hooks';

import {
  configureEngine,
  cudaSynchronize,
  type Device,
  deviceType,
  manualSeed,
  type MemoryFormat,
  type Precision,
  randint,
  randn,
  resolveDevice,
  setCudnnBenchmark,
  setNumThreads,
  type Tensor,
} from '../src/torch/index.js';
import { peakRssMiB } from './peak-rss.js';

/**
 * 'train': SGD with momentum; 'train-rmsprop': the DSDNet recipe's RMSprop (with L2 weight decay); 'infer';
 * 'optim' / 'optim-plain': the recipe's RMSprop step alone on fixed gradients, one call per group and op (foreach) or
 * per parameter and op.
 */
export type WorkerMode = 'train' | 'train-rmsprop' | 'infer' | 'optim' | 'optim-plain';
const MODES: readonly string[] = ['train', 'train-rmsprop', 'infer', 'optim', 'optim-plain'] satisfies WorkerMode[];

export interface WorkerSetup {
  mode: WorkerMode;
  model: string;
  precision: Precision;
  layout: MemoryFormat;
  device: Device;
  input: Tensor;
  labels: Tensor;
}

export function runWorkerLoop(makeStep: (setup: WorkerSetup) => () => void): void {
  const [mode, model, size, batch, precision, layout, warmup, iters, threads, deviceName = 'cpu'] =
    process.argv.slice(2);
  if (!MODES.includes(mode)) throw new Error(`mode must be one of ${MODES.join(', ')}, got '${mode}'`);
  if (precision !== 'fp32' && precision !== 'bf16')
    throw new Error(`precision must be fp32 or bf16, got '${precision}'`);
  if (layout !== 'contiguous' && layout !== 'channelsLast')
    throw new Error(`layout must be contiguous or channelsLast, got '${layout}'`);
  setNumThreads(Number(threads));
  // As the training commands do; the peer gets the same policy through GLIBC_TUNABLES.
  configureEngine({ retainFreedMemory: true });
  manualSeed(0);
  const device = resolveDevice(deviceName);
  const onGpu = deviceType(device) === 'cuda';
  if (onGpu) setCudnnBenchmark(true);
  const input = randn([Number(batch), 3, Number(size), Number(size)], { device }).contiguous(layout);
  const labels = randint(0, 1000, [Number(batch)], { device });
  const step = makeStep({ mode: mode as WorkerMode, model, precision, layout, device, input, labels });
  const gpuIndex = device === 'cuda' ? 0 : Number(device.split(':')[1]);
  const times: number[] = [];
  for (let i = 0; i < Number(warmup) + Number(iters); i++) {
    const start = performance.now();
    step();
    if (onGpu) cudaSynchronize(gpuIndex);
    if (i >= Number(warmup)) times.push((performance.now() - start) / 1000);
  }
  console.log(JSON.stringify({ times, peakRssMiB: peakRssMiB() }));
}
