// RMSprop as torch.optim.RMSprop computes it: eps added outside the square root, optional momentum and centring,
// L2 weight decay added to the gradient.
import { type Tensor, zerosLike } from '../torch/index.js';
import { type GroupOptions, type GroupSpec, Optimizer, type ParamGroup, type ParamState } from './optimizer.js';

export interface RmspropOptions extends GroupOptions {
  alpha: number;
  eps: number;
  momentum: number;
  centered: boolean;
}

export class RMSprop extends Optimizer<RmspropOptions> {
  constructor(params: Tensor[] | GroupSpec<RmspropOptions>[], options: Partial<RmspropOptions> & { lr: number }) {
    super(params, { lr: options.lr, weightDecay: 0, alpha: 0.99, eps: 1e-8, momentum: 0, centered: false }, options);
  }

  protected update(param: Tensor, grad: Tensor, group: ParamGroup<RmspropOptions>, state: ParamState): void {
    state.set('step', ((state.get('step') as number | undefined) ?? 0) + 1);
    const g = group.weightDecay !== 0 ? grad.add(param, group.weightDecay) : grad;
    const squareAvg = this.buffer(state, 'square_avg', () => zerosLike(param));
    squareAvg.mul_(group.alpha).addcmul_(g, g, 1 - group.alpha);
    let avg: Tensor;
    if (group.centered) {
      const gradAvg = this.buffer(state, 'grad_avg', () => zerosLike(param));
      gradAvg.mul_(group.alpha).add_(g, 1 - group.alpha);
      avg = squareAvg.clone().addcmul_(gradAvg, gradAvg, -1).sqrt_().add_(group.eps);
    } else {
      avg = squareAvg.sqrt().add_(group.eps);
    }
    if (group.momentum > 0) {
      const buf = this.buffer(state, 'momentum_buffer', () => zerosLike(param));
      buf.mul_(group.momentum).addcdiv_(g, avg);
      param.add_(buf, -group.lr);
    } else {
      param.addcdiv_(g, avg, -group.lr);
    }
  }
}
