// SGD with momentum, dampening, Nesterov and L2 weight decay, as torch.optim.SGD computes it.
import { foreach, type Tensor } from '../torch/index.js';
import {
  type GroupOptions,
  type GroupSpec,
  Optimizer,
  type OptimizerSettings,
  type ParamBatch,
  type ParamGroup,
} from './optimizer.js';

export interface SgdOptions extends GroupOptions {
  momentum: number;
  dampening: number;
  nesterov: boolean;
}

export class SGD extends Optimizer<SgdOptions> {
  constructor(
    params: Tensor[] | GroupSpec<SgdOptions>[],
    options: Partial<SgdOptions> & { lr: number } & OptimizerSettings,
  ) {
    super(params, { lr: options.lr, weightDecay: 0, momentum: 0, dampening: 0, nesterov: false }, options);
  }

  protected override validate(group: ParamGroup<SgdOptions>, index: number): void {
    super.validate(group, index);
    if (group.nesterov && (group.momentum <= 0 || group.dampening !== 0)) {
      throw new RangeError(`SGD: Nesterov momentum needs momentum > 0 and dampening 0 (group ${index})`);
    }
  }

  protected update({ params, grads, states }: ParamBatch, group: ParamGroup<SgdOptions>): void {
    let d = group.weightDecay !== 0 ? foreach.add(grads, params, group.weightDecay) : grads;
    if (group.momentum !== 0) {
      // The first step starts the buffer at the gradient itself, as PyTorch does.
      const running = states.map((state) => state.has('momentum_buffer'));
      const dNow = d;
      const buf = this.buffers(states, 'momentum_buffer', (i) => dNow[i].detach().clone());
      const old = buf.filter((_, i) => running[i]);
      if (old.length > 0) {
        foreach.mul_(old, group.momentum);
        foreach.add_(
          old,
          d.filter((_, i) => running[i]),
          1 - group.dampening,
        );
      }
      d = group.nesterov ? foreach.add(d, buf, group.momentum) : buf;
    }
    foreach.add_(params, d, -group.lr);
  }
}
