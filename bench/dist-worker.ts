// One rank of bench/distributed.ts: ResNet training steps on a fixed random batch with gradients averaged over the
// group (DataParallel), or the gradient all-reduce alone. Prints one JSON line: step times, all-reduce times.
// Environment: RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT (WORLD_SIZE=1: one process, no group); arguments:
// MODE (train | allreduce) MODEL SIZE BATCH_PER_RANK WARMUP ITERS
import { performance } from 'node:perf_hooks';

import { DataParallel, optionsFromEnv, ProcessGroup } from '../src/distributed/index.js';
import { createBackbone } from '../src/models/index.js';
import { SGD } from '../src/optim/index.js';
import { F, manualSeed, randint, randn, retainFreedMemory, tidy } from '../src/torch/index.js';

const [mode, name, size, batch, warmup, iters] = process.argv.slice(2);
retainFreedMemory();
manualSeed(0);
const world = Number(process.env.WORLD_SIZE ?? 1);
const group = world > 1 ? ProcessGroup.init(optionsFromEnv()) : null;
const model = createBackbone(name as 'resnet18', 1000).toMemoryFormat('channelsLast');
const parallel = group ? new DataParallel(group, model.parameters()) : null;
const optimizer = new SGD(model.parameters(), { lr: 0.01, momentum: 0.9 });
const input = randn([Number(batch), 3, Number(size), Number(size)]).contiguous('channelsLast');
const labels = randint(0, 1000, [Number(batch)]);
if (mode === 'allreduce') for (const p of model.parameters()) p.grad = randn(p.shape);
const steps: number[] = [];
const reduces: number[] = [];
for (let i = 0; i < Number(warmup) + Number(iters); i++) {
  const start = performance.now();
  let reduce = 0;
  tidy(() => {
    if (mode === 'train') F.crossEntropy(model.forward(input), labels).backward();
    const before = performance.now();
    parallel?.averageGradients();
    reduce = performance.now() - before;
    if (mode === 'train') {
      optimizer.step();
      optimizer.zeroGrad();
    }
  });
  if (i >= Number(warmup)) {
    steps.push((performance.now() - start) / 1000);
    reduces.push(reduce / 1000);
  }
}
const gradientBytes = model.parameters().reduce((n, p) => n + p.numel * 4, 0);
console.log(JSON.stringify({ rank: group?.rank ?? 0, steps, reduces, gradientBytes }));
