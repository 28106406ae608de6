// Layers with PyTorch's parameter names, shapes, defaults and initialisation.
import { empty, F, noGrad, ones, type Tensor, zeros } from '../torch/index.js';
import { defaultLayerInit, normal_ } from './init.js';
import { Layer } from './module.js';

type Pair = number | readonly [number, number];

function pairOf(p: Pair): [number, number] {
  return typeof p === 'number' ? [p, p] : [p[0], p[1]];
}

export interface Conv2dOptions {
  stride?: Pair;
  padding?: Pair;
  dilation?: Pair;
  groups?: number;
  bias?: boolean;
}

export class Conv2d extends Layer {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  readonly stride: [number, number];
  readonly padding: [number, number];
  readonly dilation: [number, number];
  readonly groups: number;

  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    kernelSize: Pair,
    options: Conv2dOptions = {},
  ) {
    super();
    const { stride = 1, padding = 0, dilation = 1, groups = 1, bias = true } = options;
    if (inChannels % groups !== 0 || outChannels % groups !== 0) {
      throw new Error(`Conv2d: channels ${inChannels} -> ${outChannels} are not divisible by groups ${groups}`);
    }
    const [kh, kw] = pairOf(kernelSize);
    this.stride = pairOf(stride);
    this.padding = pairOf(padding);
    this.dilation = pairOf(dilation);
    this.groups = groups;
    this.weight = this.parameter('weight', empty([outChannels, inChannels / groups, kh, kw]));
    this.bias = bias ? this.parameter('bias', empty([outChannels])) : null;
    defaultLayerInit(this.weight, this.bias);
  }

  forward(input: Tensor): Tensor {
    return F.conv2d(input, this.weight, this.bias, {
      stride: this.stride,
      padding: this.padding,
      dilation: this.dilation,
      groups: this.groups,
    });
  }
}

export class Linear extends Layer {
  readonly weight: Tensor;
  readonly bias: Tensor | null;

  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    options: { bias?: boolean } = {},
  ) {
    super();
    this.weight = this.parameter('weight', empty([outFeatures, inFeatures]));
    this.bias = (options.bias ?? true) ? this.parameter('bias', empty([outFeatures])) : null;
    defaultLayerInit(this.weight, this.bias);
  }

  forward(input: Tensor): Tensor {
    return F.linear(input, this.weight, this.bias);
  }
}

export interface BatchNormOptions {
  eps?: number;
  momentum?: number;
  affine?: boolean;
}

/**
 * The mean and biased variance over every dim but 1 of a training batch, and how many values each channel's
 * statistics cover: computed by a BatchNorm layer itself, or put together across processes (SyncBatchNorm).
 */
export type BatchStatistics = (input: Tensor) => { mean: Tensor; variance: Tensor; count: number };

/** Batch normalisation over dim 1 with running statistics (BatchNorm1d for [N, C] or [N, C, L], BatchNorm2d for NCHW). */
export abstract class BatchNorm extends Layer {
  readonly weight: Tensor | null;
  readonly bias: Tensor | null;
  readonly runningMean: Tensor;
  readonly runningVar: Tensor;
  readonly numBatchesTracked: Tensor;
  readonly eps: number;
  readonly momentum: number;
  /** Sees every input before it is normalised (statistics calibration); see observeInputs. */
  private observer: ((input: Tensor) => void) | null = null;
  /** Where training batches' statistics come from when not from the batch alone; see useBatchStatistics. */
  private statistics: BatchStatistics | null = null;

  protected constructor(
    readonly numFeatures: number,
    private readonly ranks: readonly number[],
    options: BatchNormOptions,
  ) {
    super();
    const { eps = 1e-5, momentum = 0.1, affine = true } = options;
    this.eps = eps;
    this.momentum = momentum;
    this.weight = affine ? this.parameter('weight', ones([numFeatures])) : null;
    this.bias = affine ? this.parameter('bias', zeros([numFeatures])) : null;
    this.runningMean = this.buffer('running_mean', zeros([numFeatures]));
    this.runningVar = this.buffer('running_var', ones([numFeatures]));
    this.numBatchesTracked = this.buffer('num_batches_tracked', zeros([], { dtype: 'int64' }));
  }

  forward(input: Tensor): Tensor {
    if (!this.ranks.includes(input.ndim)) {
      throw new Error(
        `${this.constructor.name}: expected a ${this.ranks.join('D or ')}D input, got shape [${input.shape}]`,
      );
    }
    this.observer?.(input);
    if (this.training) this.numBatchesTracked.add_(1);
    if (this.training && this.statistics) return this.normalize(input, this.statistics(input));
    return F.batchNorm(input, this.runningMean, this.runningVar, {
      weight: this.weight,
      bias: this.bias,
      training: this.training,
      momentum: this.momentum,
      eps: this.eps,
    });
  }

  /** Training batches are normalised with statistics from `statistics` from now on (null: the batch's own). */
  useBatchStatistics(statistics: BatchStatistics | null): void {
    this.statistics = statistics;
  }

  /** Training-mode batch norm with given statistics, differentiable through them; running statistics updated as libtorch does. */
  private normalize(input: Tensor, { mean, variance, count }: ReturnType<BatchStatistics>): Tensor {
    noGrad(() => {
      this.runningMean.mul_(1 - this.momentum).add_(mean.detach().mul(this.momentum));
      this.runningVar
        .mul_(1 - this.momentum)
        .add_(variance.detach().mul((this.momentum * count) / Math.max(count - 1, 1)));
    });
    const shape = [1, this.numFeatures, ...Array<number>(input.ndim - 2).fill(1)];
    const normalized = input.sub(mean.view(shape)).mul(variance.add(this.eps).rsqrt().view(shape));
    return this.weight && this.bias ? normalized.mul(this.weight.view(shape)).add(this.bias.view(shape)) : normalized;
  }

  /** Calls `observer` with each input from now on (null stops it): how calibration measures what a layer receives. */
  observeInputs(observer: ((input: Tensor) => void) | null): void {
    this.observer = observer;
  }
}

export class BatchNorm2d extends BatchNorm {
  constructor(numFeatures: number, options: BatchNormOptions = {}) {
    super(numFeatures, [4], options);
  }
}

export class BatchNorm1d extends BatchNorm {
  constructor(numFeatures: number, options: BatchNormOptions = {}) {
    super(numFeatures, [2, 3], options);
  }
}

export class ReLU extends Layer {
  constructor(readonly inplace = false) {
    super();
  }
  forward(input: Tensor): Tensor {
    return F.relu(input, this.inplace);
  }
}

export class ReLU6 extends Layer {
  constructor(readonly inplace = false) {
    super();
  }
  forward(input: Tensor): Tensor {
    return F.relu6(input, this.inplace);
  }
}

export class SiLU extends Layer {
  forward(input: Tensor): Tensor {
    return F.silu(input);
  }
}

export class Identity extends Layer {
  forward(input: Tensor): Tensor {
    return input;
  }
}

export class MaxPool2d extends Layer {
  constructor(
    readonly kernelSize: Pair,
    readonly options: { stride?: Pair; padding?: Pair; dilation?: Pair; ceilMode?: boolean } = {},
  ) {
    super();
  }
  forward(input: Tensor): Tensor {
    return F.maxPool2d(input, this.kernelSize, this.options);
  }
}

export class AvgPool2d extends Layer {
  constructor(
    readonly kernelSize: Pair,
    readonly options: { stride?: Pair; padding?: Pair; ceilMode?: boolean; countIncludePad?: boolean } = {},
  ) {
    super();
  }
  forward(input: Tensor): Tensor {
    return F.avgPool2d(input, this.kernelSize, this.options);
  }
}

export class AdaptiveAvgPool2d extends Layer {
  constructor(readonly outputSize: Pair) {
    super();
  }
  forward(input: Tensor): Tensor {
    return F.adaptiveAvgPool2d(input, this.outputSize);
  }
}

export class Flatten extends Layer {
  constructor(
    readonly startDim = 1,
    readonly endDim = -1,
  ) {
    super();
  }
  forward(input: Tensor): Tensor {
    return input.flatten(this.startDim, this.endDim);
  }
}

export class Dropout extends Layer {
  constructor(readonly p = 0.5) {
    super();
    if (!(p >= 0 && p <= 1)) throw new RangeError(`Dropout: p must be in [0, 1], got ${p}`);
  }
  forward(input: Tensor): Tensor {
    return F.dropout(input, this.p, this.training);
  }
}

export class Embedding extends Layer {
  readonly weight: Tensor;

  constructor(
    readonly numEmbeddings: number,
    readonly embeddingDim: number,
    readonly paddingIdx: number | null = null,
  ) {
    super();
    // nn.Embedding initialises N(0, 1) and zeroes the padding row.
    this.weight = this.parameter('weight', empty([numEmbeddings, embeddingDim]));
    this.resetParameters();
  }

  private resetParameters(): void {
    normal_(this.weight, 0, 1);
    if (this.paddingIdx !== null) {
      const row = this.paddingIdx;
      noGrad(() => this.weight.select(0, row).fill_(0));
    }
  }

  forward(indices: Tensor): Tensor {
    return F.embedding(indices, this.weight, this.paddingIdx);
  }
}

/** Chains layers; children are named '0', '1', ... as in PyTorch. Intermediate outputs are released as soon as the
 * next layer has consumed them (autograd keeps what backward needs). */
export class Sequential extends Layer {
  readonly layers: readonly Layer[];

  constructor(...layers: Layer[]) {
    super();
    layers.forEach((layer, i) => this.child(String(i), layer));
    this.layers = layers;
  }

  forward(input: Tensor): Tensor {
    return runChain(this.layers, input);
  }
}

/** Runs layers in order from input, releasing each intermediate once consumed (the input is left alone). */
export function runChain(layers: readonly Layer[], input: Tensor): Tensor {
  let x = input;
  for (const layer of layers) {
    const y = layer.forward(x);
    if (x !== input && y !== x) x.dispose();
    x = y;
  }
  return x;
}
