// The README's scaling model for data-parallel training of ResNet-50 at 448 px: step time and efficiency on 1-8 GPUs
// of one machine and on 1-4 machines of 8 GPUs at 10, 25 and 100 Gbit/s, from the ring all-reduce's cost
// (each rank sends and receives 2 (N-1)/N of the gradients) and the stated assumptions below. Prints markdown.
// Usage: node dist/scripts/scaling-model.js [--compute-seconds 0.11] [--gradient-bytes 102228128] [--intra-gbps 100]

import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    // ResNet-50 has 25.6 M parameters: 102,228,128 bytes of float32 gradients (measured by bench/dist-worker.ts).
    'gradient-bytes': { type: 'string', default: '102228128' },
    // Forward + backward of 32 images at 448 px on one GPU with mixed precision: about 0.11 s on a V100-class GPU
    // (about 1,200 images/s at 224 px, so 300 at 448 px, four times the pixels). An assumption: change it for yours.
    'compute-seconds': { type: 'string', default: '0.11' },
    // Bus bandwidth between the GPUs of one machine (NVLink-class: about 100 GB/s; PCIe 4: about 20).
    'intra-gbps': { type: 'string', default: '100' },
  },
});
const bytes = Number(values['gradient-bytes']);
const compute = Number(values['compute-seconds']);
const intra = Number(values['intra-gbps']) * 1e9;

/** Ring all-reduce: 2 (n - 1) / n of the bytes cross the slowest link. */
const ring = (n: number, bandwidth: number): number => (n <= 1 ? 0 : (2 * (n - 1) * bytes) / n / bandwidth);
const row = (label: string, comm: number): string => {
  const serial = compute + comm;
  const overlapped = Math.max(compute, comm);
  return `| ${label} | ${(1000 * comm).toFixed(1)} | ${(1000 * serial).toFixed(0)} | ${((100 * compute) / serial).toFixed(0)}% | ${((100 * compute) / overlapped).toFixed(0)}% |`;
};

const lines = [
  `ResNet-50, 448 px, 32 images per GPU, ${(compute * 1000).toFixed(0)} ms of compute per step, ${(bytes / 1e6).toFixed(1)} MB of float32 gradients`,
  '',
  '| setup | all-reduce (ms) | step, no overlap (ms) | efficiency, no overlap | efficiency, full overlap |',
  '|---|---|---|---|---|',
];
for (const gpus of [1, 2, 4, 8])
  lines.push(
    row(`1 machine, ${gpus} GPU${gpus > 1 ? 's' : ''} (${values['intra-gbps']} GB/s between GPUs)`, ring(gpus, intra)),
  );
for (const gbit of [10, 25, 100]) {
  for (const machines of [2, 4]) {
    // Hierarchical: reduce inside each machine, ring across machines over the network, broadcast inside.
    const comm = ring(8, intra) + ring(machines, (gbit * 1e9) / 8);
    lines.push(row(`${machines} machines x 8 GPUs, ${gbit} Gbit/s`, comm));
  }
}
console.log(lines.join('\n'));
