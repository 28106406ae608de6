// MobileNetV2 (width 1.0) in torchvision's layout and parameter names, grouped into four stages at strides
// 4, 8, 16 and 32 (after features.3, .6, .13 and .18).
import { BatchNorm2d, Conv2d, Dropout, init, Layer, Linear, ReLU6, runChain, Sequential } from '../nn/index.js';
import { type Tensor } from '../torch/index.js';
import { Backbone, type Stages, type StageTap } from './backbone.js';

/** torchvision's Conv2dNormActivation with ReLU6: children '0' conv, '1' BatchNorm, '2' ReLU6. */
class ConvBNReLU6 extends Sequential {
  constructor(inC: number, outC: number, kernel: number, stride = 1, groups = 1) {
    super(
      new Conv2d(inC, outC, kernel, { stride, padding: (kernel - 1) >> 1, groups, bias: false }),
      new BatchNorm2d(outC),
      new ReLU6(true),
    );
  }
}

class InvertedResidual extends Layer {
  readonly conv: Sequential;
  readonly useResidual: boolean;

  constructor(inC: number, outC: number, stride: number, expandRatio: number) {
    super();
    const hidden = Math.round(inC * expandRatio);
    this.useResidual = stride === 1 && inC === outC;
    const layers: Layer[] = [];
    if (expandRatio !== 1) layers.push(new ConvBNReLU6(inC, hidden, 1));
    layers.push(
      new ConvBNReLU6(hidden, hidden, 3, stride, hidden),
      new Conv2d(hidden, outC, 1, { bias: false }),
      new BatchNorm2d(outC),
    );
    this.conv = this.child('conv', new Sequential(...layers));
  }

  forward(input: Tensor): Tensor {
    const out = this.conv.forward(input);
    return this.useResidual ? out.add_(input) : out;
  }
}

// [expansion t, output channels c, repeats n, first stride s], as in the paper and torchvision.
const SETTINGS: [number, number, number, number][] = [
  [1, 16, 1, 1],
  [6, 24, 2, 2],
  [6, 32, 3, 2],
  [6, 64, 4, 2],
  [6, 96, 3, 1],
  [6, 160, 3, 2],
  [6, 320, 1, 1],
];

/** Index of the last features block of each stage. */
const STAGE_ENDS = [3, 6, 13, 18] as const;

export class MobileNetV2 extends Backbone {
  readonly features: Sequential;
  readonly classifier: Sequential;
  readonly stageChannels = [24, 32, 96, 1280] as const;

  constructor(
    readonly numClasses: number,
    options: { dropout?: number } = {},
  ) {
    super();
    const blocks: Layer[] = [new ConvBNReLU6(3, 32, 3, 2)];
    let inC = 32;
    for (const [t, c, n, s] of SETTINGS) {
      for (let i = 0; i < n; i++) {
        blocks.push(new InvertedResidual(inC, c, i === 0 ? s : 1, t));
        inC = c;
      }
    }
    blocks.push(new ConvBNReLU6(inC, 1280, 1));
    this.features = this.child('features', new Sequential(...blocks));
    this.classifier = this.child(
      'classifier',
      new Sequential(new Dropout(options.dropout ?? 0.2), new Linear(1280, numClasses)),
    );
    // torchvision: kaiming_normal_(fan_out) for convolutions, zero biases; Linear N(0, 0.01) with zero bias.
    for (const [, m] of this.namedModules()) {
      if (m instanceof Conv2d) init.kaimingNormal_(m.weight, { mode: 'fanOut' });
      if (m instanceof Linear) {
        init.normal_(m.weight, 0, 0.01);
        if (m.bias) init.constant_(m.bias, 0);
      }
    }
  }

  stages(input: Tensor, tap: StageTap = (_, x) => x): Stages {
    const blocks = this.features.layers;
    const out: Tensor[] = [];
    let x = input;
    let start = 0;
    for (const end of STAGE_ENDS) {
      x = tap(out.length, runChain(blocks.slice(start, end + 1), x));
      out.push(x);
      start = end + 1;
    }
    return out as Stages;
  }

  protected get head(): Layer {
    return this.classifier;
  }
}
