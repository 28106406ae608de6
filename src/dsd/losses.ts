// The loss terms of DSDNet: label cross-entropy, the distillation divergence D (soft cross-entropy, or the released
// code's broadcasting defect), and the entropy of a softmax.
import { F, type Tensor } from '../torch/index.js';

export type DistillMode = 'soft-ce' | 'released';

/** D(o, t) = -mean_batch sum_c softmax(t)_c log_softmax(o)_c (temperature 1). */
export function softCrossEntropy(output: Tensor, teacher: Tensor): Tensor {
  return F.softmax(teacher, 1).mul(F.logSoftmax(output, 1)).sum(1).mean().neg();
}

/**
 * The released script's D: the refined output arrives as [B, K, 1, 1] against a [B, K] teacher, and broadcasting
 * makes the product [B, K, B, K]; summed over dim 1 and averaged, it equals cross-entropy against the uniform
 * distribution and ignores the teacher. Computed literally, to reproduce it.
 */
export function releasedDistill(output: Tensor, teacher: Tensor): Tensor {
  const [b, k] = output.shape;
  return F.softmax(teacher, 1)
    .mul(F.logSoftmax(output.reshape([b, k, 1, 1]), 1))
    .sum(1)
    .mean()
    .neg();
}

export function distillLoss(mode: DistillMode, output: Tensor, teacher: Tensor): Tensor {
  return mode === 'soft-ce' ? softCrossEntropy(output, teacher) : releasedDistill(output, teacher);
}

/** H(z) = -mean_batch sum_c softmax(z)_c log_softmax(z)_c. */
export function entropy(logits: Tensor): Tensor {
  return F.softmax(logits, 1).mul(F.logSoftmax(logits, 1)).sum(1).mean().neg();
}
