// Peak-rate worker: one large matrix product through the engine, as the training step's convolutions compute it
// (a 1x1 convolution, channels-last, which oneDNN runs as a GEMM) or through torch.mm (BLAS for float32, oneDNN for
// bfloat16); prints the step times as one JSON line. Arguments: KIND(conv|mm) DTYPE N WARMUP ITERS THREADS.
// The product is N x N times N x N either way: 2 N^3 FLOP.
import { performance } from 'node:perf_hooks';

import { F, randn, setNumThreads, tidy } from '../src/torch/index.js';

const [kind, dtype, size, warmup, iters, threads] = process.argv.slice(2);
if (kind !== 'conv' && kind !== 'mm') throw new Error(`kind must be conv or mm, got '${kind}'`);
if (dtype !== 'float32' && dtype !== 'bfloat16') throw new Error(`dtype must be float32 or bfloat16, got '${dtype}'`);
setNumThreads(Number(threads));
const n = Number(size);
// conv: N input channels at N = 32 x (N / 32) pixels, N output channels.
const [a, b] =
  kind === 'mm'
    ? [randn([n, n]).to(dtype), randn([n, n]).to(dtype)]
    : [
        randn([1, n, 32, n / 32])
          .to(dtype)
          .contiguous('channelsLast'),
        randn([n, n, 1, 1]).to(dtype).contiguous('channelsLast'),
      ];
const product = kind === 'mm' ? (): void => void a.matmul(b) : (): void => void F.conv2d(a, b);
const times: number[] = [];
for (let i = 0; i < Number(warmup) + Number(iters); i++) {
  const start = performance.now();
  tidy(product);
  if (i >= Number(warmup)) times.push((performance.now() - start) / 1000);
}
console.log(JSON.stringify({ times, peakRssMiB: 0 }));
