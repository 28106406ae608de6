// The small training run that tests make of generated scenes: 32 px, batch 8, 4 epochs at lr 1e-3 without warm-up,
// half the images for training, light augmentation; trains in seconds on 2 cores.
import { type ConfigSettings, resolveConfig, train, type TrainResult } from '../../src/train/index.js';

export const QUICK_RUN: ConfigSettings = {
  method: 'plain',
  size: 32,
  batchSize: 8,
  epochs: 4,
  warmupEpochs: 0,
  cycles: 1,
  lr: 1e-3,
  split: { ratio: 0.5, seed: 0 },
  augment: 'light',
};

/** Trains a quick run of `data` into `out` (QUICK_RUN with `overrides`). */
export function trainQuickRun(data: string, out: string, overrides: ConfigSettings = {}): Promise<TrainResult> {
  return train(resolveConfig(data, {}, { ...QUICK_RUN, ...overrides }), { out, report: 'quiet' });
}
