// Adam (L2 weight decay added to the gradient) and AdamW (decoupled weight decay), as torch.optim computes them,
// with optional AMSGrad.
import { type Tensor, zerosLike } from '../torch/index.js';
import { type GroupOptions, type GroupSpec, Optimizer, type ParamGroup, type ParamState } from './optimizer.js';

export interface AdamOptions extends GroupOptions {
  beta1: number;
  beta2: number;
  eps: number;
  amsgrad: boolean;
}

abstract class AdamFamily extends Optimizer<AdamOptions> {
  protected abstract readonly decoupledDecay: boolean;

  protected update(param: Tensor, grad: Tensor, group: ParamGroup<AdamOptions>, state: ParamState): void {
    const step = ((state.get('step') as number | undefined) ?? 0) + 1;
    state.set('step', step);
    let g = grad;
    if (group.weightDecay !== 0) {
      if (this.decoupledDecay) param.mul_(1 - group.lr * group.weightDecay);
      else g = grad.add(param, group.weightDecay);
    }
    const expAvg = this.buffer(state, 'exp_avg', () => zerosLike(param));
    const expAvgSq = this.buffer(state, 'exp_avg_sq', () => zerosLike(param));
    expAvg.mul_(group.beta1).add_(g, 1 - group.beta1);
    expAvgSq.mul_(group.beta2).addcmul_(g, g, 1 - group.beta2);
    const biasCorrection1 = 1 - group.beta1 ** step;
    const biasCorrection2Sqrt = Math.sqrt(1 - group.beta2 ** step);
    let second = expAvgSq;
    if (group.amsgrad) {
      const maxSq = this.buffer(state, 'max_exp_avg_sq', () => zerosLike(param));
      maxSq.copy_(maxSq.maximum(expAvgSq));
      second = maxSq;
    }
    const denom = second.sqrt().div_(biasCorrection2Sqrt).add_(group.eps);
    param.addcdiv_(expAvg, denom, -group.lr / biasCorrection1);
  }
}

const ADAM_DEFAULTS = { weightDecay: 0, beta1: 0.9, beta2: 0.999, eps: 1e-8, amsgrad: false };

export class Adam extends AdamFamily {
  protected readonly decoupledDecay = false;
  constructor(params: Tensor[] | GroupSpec<AdamOptions>[], options: Partial<AdamOptions> & { lr: number }) {
    super(params, { lr: options.lr, ...ADAM_DEFAULTS }, options);
  }
}

export class AdamW extends AdamFamily {
  protected readonly decoupledDecay = true;
  constructor(params: Tensor[] | GroupSpec<AdamOptions>[], options: Partial<AdamOptions> & { lr: number }) {
    super(params, { lr: options.lr, ...ADAM_DEFAULTS, weightDecay: 0.01 }, options);
  }
}
