// ResNet's stem in torchvision's order (conv, BatchNorm, ReLU, max-pool) against dsdnet's (pooling before the ReLU,
// the same values and gradients): forward and backward of the stem alone, in one process, the two orders in turn.
// Usage: node dist/bench/resnet-stem.js [--size 128] [--batch 32] [--precision bf16|fp32] [--rounds 15]
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';

import { type Layer, runChain } from '../src/nn/index.js';
import { createBackbone, type ResNet } from '../src/models/index.js';
import { configureEngine, manualSeed, type Precision, randn, tidy, withPrecision } from '../src/torch/index.js';
import { median } from './compare.js';

const { values } = parseArgs({
  options: {
    size: { type: 'string', default: '128' },
    batch: { type: 'string', default: '32' },
    precision: { type: 'string', default: 'bf16' },
    rounds: { type: 'string', default: '15' },
  },
});
const precision = values.precision as Precision;
if (precision !== 'bf16' && precision !== 'fp32')
  throw new Error(`--precision must be bf16 or fp32, got '${values.precision}'`);
configureEngine({ retainFreedMemory: true });
manualSeed(0);
const model = createBackbone('resnet18', 1000).toMemoryFormat('channelsLast') as ResNet;
const input = randn([Number(values.batch), 3, Number(values.size), Number(values.size)]).contiguous('channelsLast');
const orders: Record<string, Layer[]> = {
  'torchvision (ReLU, then pool)': [model.conv1, model.bn1, model.relu, model.maxpool],
  'dsdnet (pool, then ReLU)': [model.conv1, model.bn1, model.maxpool, model.relu],
};
const step = (stem: Layer[]): void =>
  tidy(() => {
    withPrecision(precision, () => runChain(stem, input))
      .float()
      .sum()
      .backward();
    model.zeroGrad();
  });
const times = new Map(Object.keys(orders).map((name) => [name, [] as number[]]));
for (const stem of Object.values(orders)) for (let i = 0; i < 3; i++) step(stem);
for (let round = 0; round < Number(values.rounds); round++) {
  for (const [name, stem] of Object.entries(orders)) {
    const start = performance.now();
    step(stem);
    times.get(name)!.push(performance.now() - start);
  }
}
console.log(
  `ResNet stem forward + backward, ${values.batch} x 3 x ${values.size} px, ${precision}, channels-last, ${values.rounds} rounds`,
);
const [reference, ours] = [...times.values()].map(median);
for (const [name, t] of times) console.log(`${name}: median ${median(t).toFixed(2)} ms`);
console.log(`ratio ${(ours / reference).toFixed(3)}`);
