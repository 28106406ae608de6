// ONNX Runtime benchmark worker: times session.run on a model exported by bench/inference.ts, found from the MODEL
// and SIZE arguments (DIR/MODEL-SIZE.onnx, DIR in DSDNET_BENCH_ONNX_DIR). Same arguments and JSON line as the other
// workers; only 'infer' in fp32 exists here.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

import * as ort from 'onnxruntime-node';

import { peakRssMiB } from './peak-rss.js';

const [mode, model, size, batch, precision, , warmup, iters, threads] = process.argv.slice(2);
if (mode !== 'infer' || precision !== 'fp32')
  throw new Error(`the ONNX Runtime worker runs fp32 inference only, got ${mode} ${precision}`);
const dir = process.env.DSDNET_BENCH_ONNX_DIR;
if (!dir) throw new Error('DSDNET_BENCH_ONNX_DIR is not set');
const session = await ort.InferenceSession.create(readFileSync(join(dir, `${model}-${size}.onnx`)), {
  intraOpNumThreads: Number(threads),
  interOpNumThreads: 1,
  graphOptimizationLevel: 'all',
});
const [n, s] = [Number(batch), Number(size)];
const data = Float32Array.from({ length: n * 3 * s * s }, (_, i) => Math.sin(i));
const input = new ort.Tensor('float32', data, [n, 3, s, s]);
const times: number[] = [];
for (let i = 0; i < Number(warmup) + Number(iters); i++) {
  const start = performance.now();
  await session.run({ input });
  if (i >= Number(warmup)) times.push((performance.now() - start) / 1000);
}
console.log(JSON.stringify({ times, peakRssMiB: peakRssMiB() }));
