// Gradient clipping by global norm, as torch.nn.utils.clip_grad_norm_.
import { noGrad, stack, type Tensor, tidy } from '../torch/index.js';

/** Scales all gradients so that their joint L2 norm is at most maxNorm; returns the norm before clipping. */
export function clipGradNorm(params: readonly Tensor[], maxNorm: number): number {
  if (!(maxNorm > 0)) throw new RangeError(`clipGradNorm: maxNorm must be positive, got ${maxNorm}`);
  return tidy(() =>
    noGrad(() => {
      const grads = params.map((p) => p.grad).filter((g): g is Tensor => g !== null);
      if (grads.length === 0) return 0;
      const total = stack(grads.map((g) => g.norm())).norm();
      const coef = total.add(1e-6).reciprocal().mul(maxNorm).clamp(null, 1);
      for (const g of grads) g.mul_(coef);
      return total.item();
    }),
  );
}
