// One rank of test/distributed.test.ts's data-parallel check: a small network, a fixed batch of 32 split evenly over
// the ranks, SGD steps with gradients averaged across ranks; prints the final parameters and buffers.
// Argument: overlap (all-reduce from autograd hooks, the default), after (all-reduce after backward), unused (with
// overlap, a layer the loss never reaches, found at every step), or syncbn (with a BatchNorm layer, synchronised
// over the ranks when there are several).
import { DataParallel, optionsFromEnv, ProcessGroup, syncBatchNorm } from '../../src/distributed/index.js';
import { BatchNorm1d, Linear, ReLU, Sequential } from '../../src/nn/index.js';
import { SGD } from '../../src/optim/index.js';
import { F, manualSeed, noGrad, randint, randn, tidy } from '../../src/torch/index.js';

const mode = process.argv[2] ?? 'overlap';
const group = ProcessGroup.init(optionsFromEnv());
manualSeed(0);
const model =
  mode === 'syncbn'
    ? new Sequential(new Linear(8, 16), new BatchNorm1d(16), new ReLU(), new Linear(16, 4))
    : new Sequential(new Linear(8, 16), new ReLU(), new Linear(16, 4));
if (mode === 'syncbn' && group.worldSize > 1) syncBatchNorm(model, group);
const idle = new Linear(4, 4);
const parameters = mode === 'unused' ? [...model.parameters(), ...idle.parameters()] : model.parameters();
// Other ranks start elsewhere: the broadcast must give them rank 0's weights.
if (group.rank !== 0) for (const p of parameters) noGrad(() => p.add_(1));
const dp = new DataParallel(group, parameters, {
  bucketBytes: 256,
  overlap: mode !== 'after',
  findUnusedParameters: mode === 'unused',
});
dp.broadcastFromRankZero(parameters);
manualSeed(1);
const inputs = randn([32, 8]);
const labels = randint(0, 4, [32]);
const shard = 32 / group.worldSize;
const optimizer = new SGD(parameters, { lr: 0.1, momentum: 0.9 });
for (let step = 0; step < 4; step++) {
  tidy(() => {
    const x = inputs.narrow(0, group.rank * shard, shard);
    const y = labels.narrow(0, group.rank * shard, shard);
    dp.backward(F.crossEntropy(model.forward(x), y));
    optimizer.step();
    optimizer.zeroGrad();
  });
}
console.log(
  JSON.stringify(
    [...parameters, ...model.namedBuffers().map(([, b]) => b.float())].map((t) => Array.from(t.data() as Float32Array)),
  ),
);
