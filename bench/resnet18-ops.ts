// ResNet-18 in torchvision's layout written directly with engine ops (no module system): the engine benchmark's model.
import { empty, F, keep, noGrad, ones, type Tensor, zeros } from '../src/torch/index.js';

interface ConvBn {
  weight: Tensor;
  bnWeight: Tensor;
  bnBias: Tensor;
  runningMean: Tensor;
  runningVar: Tensor;
  stride: number;
  padding: number;
}

interface Block {
  conv1: ConvBn;
  conv2: ConvBn;
  downsample: ConvBn | null;
}

export interface ResNet18 {
  stem: ConvBn;
  blocks: Block[];
  fcWeight: Tensor;
  fcBias: Tensor;
  parameters: Tensor[];
}

function param(t: Tensor): Tensor {
  return keep(t.requiresGrad_(true));
}

function convBn(inC: number, outC: number, kernel: number, stride: number, padding: number, params: Tensor[]): ConvBn {
  // kaiming_normal_(fan_out, relu) as torchvision initialises ResNet convs.
  const std = Math.sqrt(2 / (outC * kernel * kernel));
  const weight = param(noGrad(() => empty([outC, inC, kernel, kernel]).normal_(0, std)));
  const bnWeight = param(ones([outC]));
  const bnBias = param(zeros([outC]));
  params.push(weight, bnWeight, bnBias);
  return {
    weight,
    bnWeight,
    bnBias,
    runningMean: keep(zeros([outC])),
    runningVar: keep(ones([outC])),
    stride,
    padding,
  };
}

export function resnet18(numClasses: number): ResNet18 {
  const parameters: Tensor[] = [];
  const stem = convBn(3, 64, 7, 2, 3, parameters);
  const blocks: Block[] = [];
  let inC = 64;
  for (const [outC, stride] of [
    [64, 1],
    [128, 2],
    [256, 2],
    [512, 2],
  ]) {
    for (let i = 0; i < 2; i++) {
      const s = i === 0 ? stride : 1;
      const conv1 = convBn(inC, outC, 3, s, 1, parameters);
      const conv2 = convBn(outC, outC, 3, 1, 1, parameters);
      const downsample = s !== 1 || inC !== outC ? convBn(inC, outC, 1, s, 0, parameters) : null;
      blocks.push({ conv1, conv2, downsample });
      inC = outC;
    }
  }
  const bound = 1 / Math.sqrt(512);
  const fcWeight = param(noGrad(() => empty([numClasses, 512]).uniform_(-bound, bound)));
  const fcBias = param(noGrad(() => empty([numClasses]).uniform_(-bound, bound)));
  parameters.push(fcWeight, fcBias);
  return { stem, blocks, fcWeight, fcBias, parameters };
}

/** Applies f to x and releases x unless f returned it (in-place ops): intermediates die as soon as they are used. */
function consume(x: Tensor, f: (x: Tensor) => Tensor): Tensor {
  const y = f(x);
  if (y !== x) x.dispose();
  return y;
}

function applyConvBn(x: Tensor, c: ConvBn, training: boolean): Tensor {
  const y = F.conv2d(x, c.weight, null, { stride: c.stride, padding: c.padding });
  return consume(y, (h) =>
    F.batchNorm(h, c.runningMean, c.runningVar, { weight: c.bnWeight, bias: c.bnBias, training }),
  );
}

// Intermediates are released as soon as the next op has consumed them, as PyTorch's reference counting does
// (autograd keeps its own references to what backward needs).
export function forward(model: ResNet18, input: Tensor, training: boolean): Tensor {
  let x = consume(F.relu(applyConvBn(input, model.stem, training), true), (h) =>
    F.maxPool2d(h, 3, { stride: 2, padding: 1 }),
  );
  for (const block of model.blocks) {
    const out = consume(F.relu(applyConvBn(x, block.conv1, training), true), (h) =>
      applyConvBn(h, block.conv2, training),
    );
    const identity = block.downsample ? applyConvBn(x, block.downsample, training) : x;
    out.add_(identity);
    if (identity !== x) identity.dispose();
    x.dispose();
    x = F.relu(out, true);
  }
  const pooled = consume(x, (h) => F.adaptiveAvgPool2d(h, 1));
  return consume(
    consume(pooled, (h) => h.flatten(1)),
    (h) => F.linear(h, model.fcWeight, model.fcBias),
  );
}
