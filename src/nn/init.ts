// Weight initialisation, as torch.nn.init computes it. All functions fill in place without recording gradients.
import { noGrad, type Tensor } from '../torch/index.js';

/** fan_in and fan_out of a weight [out, in, ...kernel], as PyTorch computes them. */
export function fans(weight: Tensor): { fanIn: number; fanOut: number } {
  const shape = weight.shape;
  if (shape.length < 2) throw new Error(`fans: weight needs at least 2 dimensions, got [${shape}]`);
  const receptive = shape.slice(2).reduce((a, b) => a * b, 1);
  return { fanIn: shape[1] * receptive, fanOut: shape[0] * receptive };
}

export type FanMode = 'fanIn' | 'fanOut';

function gain(nonlinearity: 'relu' | 'leakyRelu' | 'linear', a: number): number {
  if (nonlinearity === 'relu') return Math.SQRT2;
  if (nonlinearity === 'leakyRelu') return Math.sqrt(2 / (1 + a * a));
  return 1;
}

export function uniform_(t: Tensor, low: number, high: number): Tensor {
  return noGrad(() => t.uniform_(low, high));
}

export function normal_(t: Tensor, mean: number, std: number): Tensor {
  return noGrad(() => t.normal_(mean, std));
}

export function constant_(t: Tensor, value: number): Tensor {
  return noGrad(() => t.fill_(value));
}

/** kaiming_uniform_: U(-b, b) with b = gain * sqrt(3 / fan). PyTorch's layer default is a = sqrt(5), leaky_relu. */
export function kaimingUniform_(
  t: Tensor,
  options: { a?: number; mode?: FanMode; nonlinearity?: 'relu' | 'leakyRelu' } = {},
): Tensor {
  const { a = 0, mode = 'fanIn', nonlinearity = 'leakyRelu' } = options;
  const fan = fans(t)[mode];
  const bound = gain(nonlinearity, a) * Math.sqrt(3 / fan);
  return uniform_(t, -bound, bound);
}

/** kaiming_normal_: N(0, (gain / sqrt(fan))^2). torchvision's ResNet uses fanOut with relu for convolutions. */
export function kaimingNormal_(
  t: Tensor,
  options: { a?: number; mode?: FanMode; nonlinearity?: 'relu' | 'leakyRelu' } = {},
): Tensor {
  const { a = 0, mode = 'fanIn', nonlinearity = 'leakyRelu' } = options;
  return normal_(t, 0, gain(nonlinearity, a) / Math.sqrt(fans(t)[mode]));
}

/** The reset_parameters of nn.Conv2d and nn.Linear: kaiming_uniform(a = sqrt(5)) weight, U(+-1/sqrt(fan_in)) bias. */
export function defaultLayerInit(weight: Tensor, bias: Tensor | null): void {
  kaimingUniform_(weight, { a: Math.sqrt(5) });
  if (bias !== null) {
    const bound = 1 / Math.sqrt(fans(weight).fanIn);
    uniform_(bias, -bound, bound);
  }
}
