// The run's optimizer and learning-rate schedule, from its configuration: learning rates given for batches of 32,
// the heads at headLrMultiplier times the backbone's.
import type { SelfDistillationNet } from '../dsd/index.js';
import { AdamW, type GroupOptions, type Optimizer, RMSprop, SGD, WarmupCosineRestarts } from '../optim/index.js';
import type { TrainConfig } from '../trained/index.js';
import type { Reporter } from './reporter.js';

/** The run's optimizer: the heads (main and auxiliary) at headLrMultiplier times the learning rate, both scaled to the batch size. */
export function makeOptimizer(config: TrainConfig, net: SelfDistillationNet): Optimizer<GroupOptions> {
  const heads = new Set(net.headParameters());
  const rest = net.parameters().filter((p) => !heads.has(p));
  const lr = config.lr * lrScale(config);
  const groups = [{ params: rest }, { params: [...heads], lr: lr * config.headLrMultiplier }];
  const common = { lr, weightDecay: config.weightDecay };
  switch (config.optimizer) {
    case 'rmsprop':
      return new RMSprop(groups, { ...common, alpha: 0.99, eps: 1e-8 });
    case 'sgd':
      return new SGD(groups, { ...common, momentum: config.momentum });
    case 'adamw':
      return new AdamW(groups, common);
  }
}

/** Learning rates are given for batches of 32 and scale linearly with the batch size, as in the recipe. */
export function lrScale(config: Pick<TrainConfig, 'batchSize'>): number {
  return config.batchSize / 32;
}

export function makeSchedule(config: TrainConfig, itersPerEpoch: number, reporter: Reporter): WarmupCosineRestarts {
  const cosineIters = (config.epochs - config.warmupEpochs) * itersPerEpoch;
  const cycles = Math.min(config.cycles, cosineIters);
  if (cycles < config.cycles)
    reporter.message(
      `note: ${cosineIters} iterations after warm-up allow only ${cycles} cosine cycles (not ${config.cycles})`,
    );
  const scale = lrScale(config);
  return new WarmupCosineRestarts({
    warmupIters: config.warmupEpochs * itersPerEpoch,
    warmupStartLr: config.warmupStartLr * scale,
    cosineIters,
    cycles,
    minLr: config.minLr * scale,
  });
}
