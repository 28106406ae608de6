// Adam (L2 weight decay added to the gradient) and AdamW (decoupled weight decay), as torch.optim computes them,
// with optional AMSGrad.
import { foreach, type Tensor, zerosLike } from '../torch/index.js';
import {
  type GroupOptions,
  type GroupSpec,
  Optimizer,
  type OptimizerSettings,
  type ParamBatch,
  type ParamGroup,
} from './optimizer.js';

export interface AdamOptions extends GroupOptions {
  beta1: number;
  beta2: number;
  eps: number;
  amsgrad: boolean;
}

type AdamSettings = Partial<AdamOptions> & { lr: number } & OptimizerSettings;

abstract class AdamFamily extends Optimizer<AdamOptions> {
  protected abstract readonly decoupledDecay: boolean;

  protected update({ params, grads, states }: ParamBatch, group: ParamGroup<AdamOptions>): void {
    const steps = this.countSteps(states);
    const zeros = (i: number): Tensor => zerosLike(params[i]);
    if (group.weightDecay !== 0) {
      if (this.decoupledDecay) foreach.mul_(params, 1 - group.lr * group.weightDecay);
      else foreach.add_(grads, params, group.weightDecay); // in place, as torch.optim's foreach path: .grad holds it afterwards
    }
    const expAvg = this.buffers(states, 'exp_avg', zeros);
    const expAvgSq = this.buffers(states, 'exp_avg_sq', zeros);
    foreach.mul_(expAvg, group.beta1);
    foreach.add_(expAvg, grads, 1 - group.beta1);
    foreach.mul_(expAvgSq, group.beta2);
    foreach.addcmul_(expAvgSq, grads, grads, 1 - group.beta2);
    let second = expAvgSq;
    if (group.amsgrad) {
      second = this.buffers(states, 'max_exp_avg_sq', zeros);
      foreach.maximum_(second, expAvgSq);
    }
    // Parameters of a group usually share their step count, but one that missed gradients lags behind.
    const denom = foreach.sqrt(second);
    foreach.div_(
      denom,
      steps.map((step) => Math.sqrt(1 - group.beta2 ** step)),
    );
    foreach.addScalar_(denom, group.eps);
    foreach.addcdiv_(
      params,
      expAvg,
      denom,
      steps.map((step) => -group.lr / (1 - group.beta1 ** step)),
    );
  }
}

const ADAM_DEFAULTS = { weightDecay: 0, beta1: 0.9, beta2: 0.999, eps: 1e-8, amsgrad: false };

export class Adam extends AdamFamily {
  protected readonly decoupledDecay = false;
  constructor(params: Tensor[] | GroupSpec<AdamOptions>[], options: AdamSettings) {
    super(params, { lr: options.lr, ...ADAM_DEFAULTS }, options);
  }
}

export class AdamW extends AdamFamily {
  protected readonly decoupledDecay = true;
  constructor(params: Tensor[] | GroupSpec<AdamOptions>[], options: AdamSettings) {
    super(params, { lr: options.lr, ...ADAM_DEFAULTS, weightDecay: 0.01 }, options);
  }
}
