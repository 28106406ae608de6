// SGD with momentum, dampening, Nesterov and L2 weight decay, as torch.optim.SGD computes it.
import type { Tensor } from '../torch/index.js';
import { type GroupOptions, type GroupSpec, Optimizer, type ParamGroup, type ParamState } from './optimizer.js';

export interface SgdOptions extends GroupOptions {
  momentum: number;
  dampening: number;
  nesterov: boolean;
}

export class SGD extends Optimizer<SgdOptions> {
  constructor(params: Tensor[] | GroupSpec<SgdOptions>[], options: Partial<SgdOptions> & { lr: number }) {
    super(params, { lr: options.lr, weightDecay: 0, momentum: 0, dampening: 0, nesterov: false }, options);
  }

  protected override validate(group: ParamGroup<SgdOptions>, index: number): void {
    super.validate(group, index);
    if (group.nesterov && (group.momentum <= 0 || group.dampening !== 0)) {
      throw new RangeError(`SGD: Nesterov momentum needs momentum > 0 and dampening 0 (group ${index})`);
    }
  }

  protected update(param: Tensor, grad: Tensor, group: ParamGroup<SgdOptions>, state: ParamState): void {
    let d = group.weightDecay !== 0 ? grad.add(param, group.weightDecay) : grad;
    if (group.momentum !== 0) {
      const fresh = !state.has('momentum_buffer');
      const buf = this.buffer(state, 'momentum_buffer', () => d.detach().clone());
      if (!fresh) buf.mul_(group.momentum).add_(d, 1 - group.dampening);
      d = group.nesterov ? d.add(buf, group.momentum) : buf;
    }
    param.add_(d, -group.lr);
  }
}
