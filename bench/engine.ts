// Engine benchmark: ResNet-18 written with the TS ops against the same model in PyTorch (Debian's python3-torch),
// training step (forward, cross-entropy, backward, SGD momentum update) at batch 32 for 64 and 128 px, and inference.
// Usage: node dist/bench/engine.js [--rounds 3] [--iters 10] [--warmup 3] [--threads 2]
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { PEER_MALLOC_TUNABLES, PYTHON, runAlternating, type Side, table } from './compare.js';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    iters: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '3' },
    threads: { type: 'string', default: '2' },
    batch: { type: 'string', default: '32' },
  },
});

const worker = fileURLToPath(new URL('./resnet18-worker.js', import.meta.url));
const peerScript = fileURLToPath(new URL('../../bench/resnet18_torch.py', import.meta.url));
const tail = [values.batch, values.warmup, values.iters, values.threads];
const ours: Side = { name: 'dsdnet', command: process.execPath, args: (a) => [worker, ...a, ...tail] };
const peers: Side[] = [
  { name: 'PyTorch', command: PYTHON, args: (a) => [peerScript, ...a, ...tail] },
  { name: 'PyTorch + same malloc policy', command: PYTHON, args: (a) => [peerScript, ...a, ...tail], env: { GLIBC_TUNABLES: PEER_MALLOC_TUNABLES } },
];

const cases = [
  { label: `train step 64 px, batch ${values.batch}`, args: ['train', '64'] },
  { label: `train step 128 px, batch ${values.batch}`, args: ['train', '128'] },
  { label: `inference 128 px, batch ${values.batch}`, args: ['infer', '128'] },
];
const results = runAlternating(cases, [ours, ...peers], Number(values.rounds));
console.log(`ResNet-18, ${values.threads} threads, ${values.rounds} rounds x ${values.iters} timed steps (after ${values.warmup} warm-up) per side`);
console.log(table(results, ours.name, peers.map((p) => p.name)));
