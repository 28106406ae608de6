// One rank of test/distributed.test.ts's data-parallel check: a small network without BatchNorm, a fixed batch of
// 32 split evenly over the ranks, SGD steps with gradients averaged across ranks; prints the final parameters.
import { DataParallel, optionsFromEnv, ProcessGroup } from '../../src/distributed/index.js';
import { Linear, ReLU, Sequential } from '../../src/nn/index.js';
import { SGD } from '../../src/optim/index.js';
import { F, manualSeed, noGrad, randint, randn, tidy } from '../../src/torch/index.js';

const group = ProcessGroup.init(optionsFromEnv());
manualSeed(0);
const model = new Sequential(new Linear(8, 16), new ReLU(), new Linear(16, 4));
// Other ranks start elsewhere: the broadcast must give them rank 0's weights.
if (group.rank !== 0) for (const p of model.parameters()) noGrad(() => p.add_(1));
const dp = new DataParallel(group, model.parameters(), { bucketBytes: 256 });
dp.broadcastFromRankZero(model.parameters());
manualSeed(1);
const inputs = randn([32, 8]);
const labels = randint(0, 4, [32]);
const shard = 32 / group.worldSize;
const optimizer = new SGD(model.parameters(), { lr: 0.1, momentum: 0.9 });
for (let step = 0; step < 4; step++) {
  tidy(() => {
    const x = inputs.narrow(0, group.rank * shard, shard);
    const y = labels.narrow(0, group.rank * shard, shard);
    F.crossEntropy(model.forward(x), y).backward();
    dp.averageGradients();
    optimizer.step();
    optimizer.zeroGrad();
  });
}
console.log(JSON.stringify(model.parameters().map((p) => Array.from(p.data() as Float32Array))));
