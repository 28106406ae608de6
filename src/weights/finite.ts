// Weights holding NaN or Inf. Imported silently, they only surface later as a diverging loss ("lower the learning
// rate"); at import the file and the tensors can be named instead.
import { isFloating, type Tensor, tidy } from '../torch/index.js';

export interface NonFinite {
  name: string;
  nan: number;
  inf: number;
}

/** The NaN and Inf counts of a floating-point tensor, or null when every value is finite. */
export function nonFiniteCounts(t: Tensor): Omit<NonFinite, 'name'> | null {
  if (!isFloating(t.dtype)) return null;
  return tidy(() => {
    const nonFinite = t.isfinite().logicalNot().sum().item();
    if (nonFinite === 0) return null;
    const nan = t.ne(t).sum().item(); // NaN is the one value unequal to itself
    return { nan, inf: nonFinite - nan };
  });
}

export const describeCounts = ({ nan, inf }: Omit<NonFinite, 'name'>): string => `${nan} NaN / ${inf} Inf values`;

const TRAINING_REFUSAL = 'refusing weights that are not finite (training from them diverges at once)';

/** Throws, naming `source` and every tensor that holds NaN or Inf; `tensors` are [name shown, tensor]. */
export function checkFinite(tensors: Iterable<[string, Tensor]>, source: string, refusal = TRAINING_REFUSAL): void {
  const found: NonFinite[] = [];
  for (const [name, t] of tensors) {
    const counts = nonFiniteCounts(t);
    if (counts !== null) found.push({ name, ...counts });
  }
  if (found.length === 0) return;
  const listed = found.map((f) => `tensor '${f.name}' holds ${describeCounts(f)}`).join(', ');
  throw new Error(`${source}: ${listed}; ${refusal}`);
}
