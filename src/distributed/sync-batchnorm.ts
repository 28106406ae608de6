// SyncBatchNorm: BatchNorm layers that normalise a training batch with the statistics of the whole global batch,
// every rank's share of it, rather than of their own share. Small per-rank batches then train as the global batch
// would (2 ranks x 16 normalise like 1 x 32), and every rank's running statistics stay the same. The statistics are
// differentiable sums over the ranks, so each rank's gradients include what its images did to the others' outputs.
import { BatchNorm, type BatchStatistics, type Module } from '../nn/index.js';
import { cat, full, type Tensor } from '../torch/index.js';
import type { ProcessGroup } from './process-group.js';

/** Mean, then variance around it (two passes, as exact as a local batch norm), each summed over the ranks. */
function statisticsOverRanks(group: ProcessGroup): BatchStatistics {
  return (input: Tensor) => {
    const dims = [0, ...Array.from({ length: input.ndim - 2 }, (_, i) => i + 2)];
    const x = input.float(); // bf16 activations: statistics in float32, as libtorch's batch norm keeps them
    const channels = x.shape[1];
    // The ranks' sums and their counts (which may differ: a last batch split unevenly) in one all-reduce.
    const sums = group.sumOverRanks(cat([x.sum(dims), full([1], x.numel / channels, { device: x.device })]));
    const count = sums.narrow(0, channels, 1).item();
    const mean = sums.narrow(0, 0, channels).div(count);
    const shape = [1, channels, ...dims.slice(1).map(() => 1)];
    const variance = group.sumOverRanks(x.sub(mean.view(shape)).square().sum(dims)).div(count);
    return { mean, variance, count };
  };
}

/** Makes every BatchNorm layer of `module` synchronise its training statistics over the group; returns how many. */
export function syncBatchNorm(module: Module, group: ProcessGroup): number {
  const layers = module
    .namedModules()
    .map(([, m]) => m)
    .filter((m): m is BatchNorm => m instanceof BatchNorm);
  const statistics = statisticsOverRanks(group);
  for (const layer of layers) layer.useBatchStatistics(statistics);
  return layers.length;
}
