// The configuration of a training run as its checkpoints record it: what a trained model's loader reads back. The
// presets, defaults and validation are the trainer's (src/train/config.ts).
import type { BandChoice, SampleScale } from '../data/index.js';
import type { MethodName, MethodOptions } from '../dsd/index.js';
import type { BackboneName, BottleneckStride } from '../models/index.js';
import type { Precision } from '../torch/index.js';

export const OPTIMIZERS = ['rmsprop', 'sgd', 'adamw'] as const;
export const AUGMENTS = ['recipe', 'light', 'none'] as const;

export interface TrainConfig {
  /** Dataset folder (one sub-folder per class). */
  data: string;
  /** A split file, or a stratified split made from ratio and seed. */
  split: { file: string } | { ratio: number; seed: number };
  backbone: BackboneName;
  /** ResNet-50's downsampling bottlenecks stride on their 3x3 conv ('3x3', torchvision's v1.5) or their 1x1 ('1x1', v1). */
  bottleneckStride: BottleneckStride;
  method: MethodName;
  methodOptions: MethodOptions;
  size: number;
  batchSize: number;
  epochs: number;
  optimizer: (typeof OPTIMIZERS)[number];
  /** Learning rate of the backbone (and diffusion modules) for batches of 32 (scaled by batchSize / 32, as warmupStartLr and minLr); the heads get headLrMultiplier times it. */
  lr: number;
  headLrMultiplier: number;
  weightDecay: number;
  /** SGD only. */
  momentum: number;
  warmupEpochs: number;
  warmupStartLr: number;
  /** Cosine cycles (with restarts) after warm-up. */
  cycles: number;
  minLr: number;
  augment: (typeof AUGMENTS)[number];
  /** Images are decoded at size / cropFraction; training crops random windows of `size`, evaluation the centre. */
  cropFraction: number;
  /** Seed of initialisation, shuffling and augmentation. */
  seed: number;
  /** Initial backbone weights: a file or folder (see src/weights), 'imagenet' for the ones known here, or null for random. */
  pretrained: string | null;
  /** Compute precision of the backbone and heads (weights, optimizer and losses stay float32); 'auto' in a preset picks bf16 on CPUs with native bfloat16. */
  precision: Precision;
  /** Convolution weights and activations stored channels-last (NHWC), faster with oneDNN; checkpoints stay row-major. */
  channelsLast: boolean;
  /** Leave out image files that fail the scan or the decoding (with a warning) instead of stopping. */
  skipBad: boolean;
  /** Image bands used, 1-based (one or three); null: the first three, or the grey band. */
  bands: BandChoice;
  /** How samples wider than 8 bits (16-bit, float TIFFs) become 0..255. */
  scale: SampleScale;
}

/** The size images are decoded (resized and centre-cropped) to before the training or test crop. */
export function decodeSize(config: Pick<TrainConfig, 'size' | 'cropFraction'>): number {
  return Math.round(config.size / config.cropFraction);
}
