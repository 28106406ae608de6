// Loss scaling for float16 mixed precision, as torch.amp.GradScaler: the loss is multiplied by a scale before the
// backward pass so that small gradients survive float16's range; the gradients are divided by it before the update.
// A step whose gradients overflowed (an inf or NaN) is skipped and the scale halved; after `growthInterval` steps in
// a row without overflow the scale doubles. bfloat16 has float32's range and needs none of this.
import { foreach, noGrad, stack, type Tensor, tidy } from '../torch/index.js';
import type { GroupOptions, Optimizer } from './optimizer.js';

export interface GradScalerOptions {
  initScale?: number;
  growthFactor?: number;
  backoffFactor?: number;
  growthInterval?: number;
}

export interface GradScalerState {
  scale: number;
  growthTracker: number;
}

export class GradScaler {
  private scale: number;
  private growthTracker = 0;
  private readonly growthFactor: number;
  private readonly backoffFactor: number;
  private readonly growthInterval: number;

  constructor(options: GradScalerOptions = {}) {
    this.scale = options.initScale ?? 2 ** 16;
    this.growthFactor = options.growthFactor ?? 2;
    this.backoffFactor = options.backoffFactor ?? 0.5;
    this.growthInterval = options.growthInterval ?? 2000;
  }

  get currentScale(): number {
    return this.scale;
  }

  /** The loss to call backward on. */
  scaleLoss(loss: Tensor): Tensor {
    return loss.mul(this.scale);
  }

  /**
   * Unscales the gradients and updates the parameters unless one of them is not finite, then adapts the scale.
   * Returns whether the optimizer stepped.
   */
  step(optimizer: Optimizer<GroupOptions>): boolean {
    const grads = optimizer.paramGroups.flatMap((g) =>
      g.params.map((p) => p.grad).filter((g): g is Tensor => g !== null),
    );
    const overflow = tidy(() =>
      noGrad(() => {
        if (grads.length === 0) return false;
        foreach.mul_(grads, 1 / this.scale);
        return (
          stack(grads.map((g) => g.isfinite().all()))
            .all()
            .item() === 0
        );
      }),
    );
    for (const g of grads) g.dispose();
    if (overflow) {
      this.scale *= this.backoffFactor;
      this.growthTracker = 0;
      return false;
    }
    optimizer.step();
    if (++this.growthTracker === this.growthInterval) {
      this.scale *= this.growthFactor;
      this.growthTracker = 0;
    }
    return true;
  }

  stateDict(): GradScalerState {
    return { scale: this.scale, growthTracker: this.growthTracker };
  }

  loadStateDict(state: GradScalerState): void {
    if (!(Number.isFinite(state.scale) && state.scale > 0) || !Number.isInteger(state.growthTracker))
      throw new Error(`GradScaler.loadStateDict: bad state ${JSON.stringify(state)}`);
    this.scale = state.scale;
    this.growthTracker = state.growthTracker;
  }
}
