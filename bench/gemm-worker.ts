// Peak-rate worker: an N x N matrix product in float32 or bfloat16 through the engine, timed; prints one JSON line
// with the step times. Arguments: DTYPE N WARMUP ITERS THREADS.
import { performance } from 'node:perf_hooks';

import { randn, setNumThreads, tidy } from '../src/torch/index.js';

const [dtype, n, warmup, iters, threads] = process.argv.slice(2);
if (dtype !== 'float32' && dtype !== 'bfloat16') throw new Error(`dtype must be float32 or bfloat16, got '${dtype}'`);
setNumThreads(Number(threads));
const a = randn([Number(n), Number(n)]).to(dtype);
const b = randn([Number(n), Number(n)]).to(dtype);
const times: number[] = [];
for (let i = 0; i < Number(warmup) + Number(iters); i++) {
  const start = performance.now();
  tidy(() => void a.matmul(b));
  if (i >= Number(warmup)) times.push((performance.now() - start) / 1000);
}
console.log(JSON.stringify({ times, peakRssMiB: 0 }));
