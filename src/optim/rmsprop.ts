// RMSprop as torch.optim.RMSprop computes it: eps added outside the square root, optional momentum and centring,
// L2 weight decay added to the gradient.
import { foreach, type Tensor, zerosLike } from '../torch/index.js';
import {
  type GroupOptions,
  type GroupSpec,
  Optimizer,
  type OptimizerSettings,
  type ParamBatch,
  type ParamGroup,
} from './optimizer.js';

export interface RmspropOptions extends GroupOptions {
  alpha: number;
  eps: number;
  momentum: number;
  centered: boolean;
}

export class RMSprop extends Optimizer<RmspropOptions> {
  constructor(
    params: Tensor[] | GroupSpec<RmspropOptions>[],
    options: Partial<RmspropOptions> & { lr: number } & OptimizerSettings,
  ) {
    super(params, { lr: options.lr, weightDecay: 0, alpha: 0.99, eps: 1e-8, momentum: 0, centered: false }, options);
  }

  protected update({ params, grads, states }: ParamBatch, group: ParamGroup<RmspropOptions>): void {
    this.countSteps(states);
    const zeros = (i: number): Tensor => zerosLike(params[i]);
    // L2 decay added to the gradients in place, as torch.optim's foreach path does: .grad holds it afterwards.
    if (group.weightDecay !== 0) foreach.add_(grads, params, group.weightDecay);
    const squareAvg = this.buffers(states, 'square_avg', zeros);
    foreach.mul_(squareAvg, group.alpha);
    foreach.addcmul_(squareAvg, grads, grads, 1 - group.alpha);
    let avg: Tensor[];
    if (group.centered) {
      const gradAvg = this.buffers(states, 'grad_avg', zeros);
      foreach.mul_(gradAvg, group.alpha);
      foreach.add_(gradAvg, grads, 1 - group.alpha);
      avg = foreach.addcmul(squareAvg, gradAvg, gradAvg, -1);
      foreach.sqrt_(avg);
    } else {
      avg = foreach.sqrt(squareAvg);
    }
    foreach.addScalar_(avg, group.eps);
    if (group.momentum > 0) {
      const buf = this.buffers(states, 'momentum_buffer', zeros);
      foreach.mul_(buf, group.momentum);
      foreach.addcdiv_(buf, grads, avg);
      foreach.add_(params, buf, -group.lr);
    } else {
      foreach.addcdiv_(params, grads, avg, -group.lr);
    }
  }
}
