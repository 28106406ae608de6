// One rank of bench/distributed.ts: ResNet training steps on a fixed random batch, or the gradient all-reduce alone.
// Prints one JSON line: step times, and in allreduce mode the all-reduce times.
// Environment: RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT (WORLD_SIZE=1: one process, no group); arguments:
// MODE MODEL SIZE BATCH_PER_RANK WARMUP ITERS, where MODE is
//   overlap: gradients all-reduced from autograd hooks while backward runs (DataParallel's default);
//   after: all-reduced after backward;
//   local: no all-reduce (each rank alone, with the same neighbours on the machine): the baseline of the other two;
//   allreduce: no training, the all-reduce of random gradients alone.
import { performance } from 'node:perf_hooks';

import { DataParallel, optionsFromEnv, ProcessGroup } from '../src/distributed/index.js';
import { createBackbone } from '../src/models/index.js';
import { SGD } from '../src/optim/index.js';
import { configureEngine, F, manualSeed, randint, randn, tidy } from '../src/torch/index.js';

const [mode, name, size, batch, warmup, iters] = process.argv.slice(2);
if (!['overlap', 'after', 'local', 'allreduce'].includes(mode)) throw new Error(`unknown mode '${mode}'`);
configureEngine({ retainFreedMemory: true });
manualSeed(0);
const world = Number(process.env.WORLD_SIZE ?? 1);
const group = world > 1 ? ProcessGroup.init(optionsFromEnv()) : null;
const model = createBackbone(name as 'resnet18', 1000).toMemoryFormat('channelsLast');
const parallel =
  group && mode !== 'local' ? new DataParallel(group, model.parameters(), { overlap: mode === 'overlap' }) : null;
const optimizer = new SGD(model.parameters(), { lr: 0.01, momentum: 0.9 });
const input = randn([Number(batch), 3, Number(size), Number(size)]).contiguous('channelsLast');
const labels = randint(0, 1000, [Number(batch)]);
if (mode === 'allreduce') for (const p of model.parameters()) p.grad = randn(p.shape);
const steps: number[] = [];
for (let i = 0; i < Number(warmup) + Number(iters); i++) {
  group?.barrier(); // every rank starts the step together, so that a step's time is not another rank's lag
  const start = performance.now();
  tidy(() => {
    if (mode === 'allreduce') {
      parallel?.averageGradients();
      return;
    }
    const loss = F.crossEntropy(model.forward(input), labels);
    if (parallel) parallel.backward(loss);
    else loss.backward();
    optimizer.step();
    optimizer.zeroGrad();
  });
  if (i >= Number(warmup)) steps.push((performance.now() - start) / 1000);
}
const gradientBytes = model.parameters().reduce((n, p) => n + p.numel * 4, 0);
console.log(JSON.stringify({ rank: group?.rank ?? 0, steps, gradientBytes }));
