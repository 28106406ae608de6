// ResNet-18/34/50 in torchvision's layout, parameter names and initialisation. ResNet-50 downsamples in the first
// bottleneck of layers 2-4 either on its 3x3 conv2 (torchvision's ResNet v1.5, the default) or on its 1x1 conv1 (the
// original ResNet v1, as Caffe's released weights were trained); the parameters are the same, the function is not.
import { BatchNorm2d, Conv2d, init, Layer, Linear, MaxPool2d, ReLU, runChain, Sequential } from '../nn/index.js';
import { F, type Tensor, tidy } from '../torch/index.js';
import { Backbone, type Stages, type StageTap } from './backbone.js';

function conv3x3(inC: number, outC: number, stride = 1): Conv2d {
  return new Conv2d(inC, outC, 3, { stride, padding: 1, bias: false });
}

function conv1x1(inC: number, outC: number, stride = 1): Conv2d {
  return new Conv2d(inC, outC, 1, { stride, bias: false });
}

interface Block extends Layer {
  readonly downsample: Sequential | null;
}

/** Which convolution of a bottleneck carries its stride: the 3x3 conv2 (ResNet v1.5) or the 1x1 conv1 (v1). */
export const BOTTLENECK_STRIDES = ['3x3', '1x1'] as const;
export type BottleneckStride = (typeof BOTTLENECK_STRIDES)[number];

/** Adds the shortcut (computed in a scope of its own) to the residual branch in place and applies ReLU. */
function mergeResidual(residual: Tensor, input: Tensor, downsample: Sequential | null): Tensor {
  tidy(() => void residual.add_(downsample ? downsample.forward(input) : input));
  return F.relu(residual, true);
}

class BasicBlock extends Layer implements Block {
  static readonly expansion = 1;
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly relu: ReLU;
  readonly conv2: Conv2d;
  readonly bn2: BatchNorm2d;
  readonly downsample: Sequential | null;

  constructor(inC: number, planes: number, stride: number, downsample: Sequential | null) {
    super();
    this.conv1 = this.child('conv1', conv3x3(inC, planes, stride));
    this.bn1 = this.child('bn1', new BatchNorm2d(planes));
    this.relu = this.child('relu', new ReLU(true));
    this.conv2 = this.child('conv2', conv3x3(planes, planes));
    this.bn2 = this.child('bn2', new BatchNorm2d(planes));
    this.downsample = downsample ? this.child('downsample', downsample) : null;
  }

  forward(input: Tensor): Tensor {
    const residual = runChain([this.conv1, this.bn1, this.relu, this.conv2, this.bn2], input);
    return mergeResidual(residual, input, this.downsample);
  }
}

class Bottleneck extends Layer implements Block {
  static readonly expansion = 4;
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly conv2: Conv2d;
  readonly bn2: BatchNorm2d;
  readonly conv3: Conv2d;
  readonly bn3: BatchNorm2d;
  readonly relu: ReLU;
  readonly downsample: Sequential | null;

  constructor(
    inC: number,
    planes: number,
    stride: number,
    downsample: Sequential | null,
    bottleneckStride: BottleneckStride,
  ) {
    super();
    const [stride1x1, stride3x3] = bottleneckStride === '1x1' ? [stride, 1] : [1, stride];
    this.conv1 = this.child('conv1', conv1x1(inC, planes, stride1x1));
    this.bn1 = this.child('bn1', new BatchNorm2d(planes));
    this.conv2 = this.child('conv2', conv3x3(planes, planes, stride3x3));
    this.bn2 = this.child('bn2', new BatchNorm2d(planes));
    this.conv3 = this.child('conv3', conv1x1(planes, planes * Bottleneck.expansion));
    this.bn3 = this.child('bn3', new BatchNorm2d(planes * Bottleneck.expansion));
    this.relu = this.child('relu', new ReLU(true));
    this.downsample = downsample ? this.child('downsample', downsample) : null;
  }

  forward(input: Tensor): Tensor {
    const residual = runChain(
      [this.conv1, this.bn1, this.relu, this.conv2, this.bn2, this.relu, this.conv3, this.bn3],
      input,
    );
    return mergeResidual(residual, input, this.downsample);
  }
}

/** A block class; BasicBlock strides on its first 3x3 in v1 and v1.5 alike, so it ignores bottleneckStride. */
interface BlockKind {
  readonly expansion: number;
  new (
    inC: number,
    planes: number,
    stride: number,
    downsample: Sequential | null,
    bottleneckStride: BottleneckStride,
  ): Block;
}

export type ResNetDepth = 18 | 34 | 50;

const CONFIGS: Record<ResNetDepth, { block: BlockKind; layers: [number, number, number, number] }> = {
  18: { block: BasicBlock, layers: [2, 2, 2, 2] },
  34: { block: BasicBlock, layers: [3, 4, 6, 3] },
  50: { block: Bottleneck, layers: [3, 4, 6, 3] },
};

export class ResNet extends Backbone {
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly relu: ReLU;
  readonly maxpool: MaxPool2d;
  readonly layer1: Sequential;
  readonly layer2: Sequential;
  readonly layer3: Sequential;
  readonly layer4: Sequential;
  readonly fc: Linear;
  readonly stageChannels: [number, number, number, number];

  constructor(
    readonly depth: ResNetDepth,
    readonly numClasses: number,
    /** ResNet-50's; ResNet-18 and 34 have no bottlenecks (createBackbone refuses '1x1' for them). */
    readonly bottleneckStride: BottleneckStride = '3x3',
  ) {
    super();
    const config = CONFIGS[depth];
    if (config === undefined) throw new Error(`ResNet: unsupported depth ${depth} (expected 18, 34 or 50)`);
    const { block, layers } = config;
    this.conv1 = this.child('conv1', new Conv2d(3, 64, 7, { stride: 2, padding: 3, bias: false }));
    this.bn1 = this.child('bn1', new BatchNorm2d(64));
    this.relu = this.child('relu', new ReLU(true));
    this.maxpool = this.child('maxpool', new MaxPool2d(3, { stride: 2, padding: 1 }));
    let inC = 64;
    const makeLayer = (planes: number, count: number, stride: number): Sequential => {
      const outC = planes * block.expansion;
      const downsample =
        stride !== 1 || inC !== outC ? new Sequential(conv1x1(inC, outC, stride), new BatchNorm2d(outC)) : null;
      const blocks: Layer[] = [new block(inC, planes, stride, downsample, bottleneckStride)];
      inC = outC;
      for (let i = 1; i < count; i++) blocks.push(new block(inC, planes, 1, null, bottleneckStride));
      return new Sequential(...blocks);
    };
    this.layer1 = this.child('layer1', makeLayer(64, layers[0], 1));
    this.layer2 = this.child('layer2', makeLayer(128, layers[1], 2));
    this.layer3 = this.child('layer3', makeLayer(256, layers[2], 2));
    this.layer4 = this.child('layer4', makeLayer(512, layers[3], 2));
    this.fc = this.child('fc', new Linear(512 * block.expansion, numClasses));
    this.stageChannels = [64, 128, 256, 512].map((c) => c * block.expansion) as [number, number, number, number];
    // torchvision: kaiming_normal_(fan_out, relu) for convolutions; BatchNorm weight 1, bias 0; fc keeps nn.Linear's.
    for (const [, m] of this.namedModules())
      if (m instanceof Conv2d) init.kaimingNormal_(m.weight, { mode: 'fanOut', nonlinearity: 'relu' });
  }

  stages(input: Tensor, tap: StageTap = (_, x) => x): Stages {
    // Pooling before the ReLU gives torchvision's values and gradients (ReLU is monotonic, and a window whose maximum
    // is not positive passes no gradient either way) with the ReLU and its backward on a quarter of the elements.
    const s1 = tap(
      0,
      tidy(() => this.layer1.forward(runChain([this.conv1, this.bn1, this.maxpool, this.relu], input))),
    );
    const s2 = tap(1, this.layer2.forward(s1));
    const s3 = tap(2, this.layer3.forward(s2));
    const s4 = tap(3, this.layer4.forward(s3));
    return [s1, s2, s3, s4];
  }

  protected get head(): Layer {
    return this.fc;
  }
}
