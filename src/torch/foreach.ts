// Element-wise ops over lists of tensors, one libtorch call per list (torch._foreach_*). Optimizers use them to update
// every parameter of a group at once instead of paying the binding's per-call cost once per parameter. Scalars may be
// one number for every tensor or one per tensor.
import { opInPlace, opMany, type Tensor } from './tensor.js';

export type Scalars = number | readonly number[];

function scalarOverload(base: string, scalars: Scalars): string {
  return typeof scalars === 'number' ? `${base}.Scalar` : `${base}.ScalarList`;
}

/** xs[i] *= s */
export function mul_(xs: readonly Tensor[], s: Scalars): void {
  opInPlace(scalarOverload('_foreach_mul_', s), xs, s);
}

/** xs[i] /= s */
export function div_(xs: readonly Tensor[], s: Scalars): void {
  opInPlace(scalarOverload('_foreach_div_', s), xs, s);
}

/** xs[i] += s */
export function addScalar_(xs: readonly Tensor[], s: Scalars): void {
  opInPlace(scalarOverload('_foreach_add_', s), xs, s);
}

/** xs[i] += alpha * ys[i] */
export function add_(xs: readonly Tensor[], ys: readonly Tensor[], alpha = 1): void {
  opInPlace('_foreach_add_.List', xs, ys, alpha);
}

/** xs[i] + alpha * ys[i], new tensors */
export function add(xs: readonly Tensor[], ys: readonly Tensor[], alpha = 1): Tensor[] {
  return opMany('_foreach_add.List', xs, ys, alpha);
}

/** xs[i] += value * a[i] * b[i] */
export function addcmul_(xs: readonly Tensor[], a: readonly Tensor[], b: readonly Tensor[], value: Scalars = 1): void {
  opInPlace(scalarOverload('_foreach_addcmul_', value), xs, a, b, value);
}

/** xs[i] + value * a[i] * b[i], new tensors */
export function addcmul(
  xs: readonly Tensor[],
  a: readonly Tensor[],
  b: readonly Tensor[],
  value: Scalars = 1,
): Tensor[] {
  return opMany(scalarOverload('_foreach_addcmul', value), xs, a, b, value);
}

/** xs[i] += value * a[i] / b[i] */
export function addcdiv_(xs: readonly Tensor[], a: readonly Tensor[], b: readonly Tensor[], value: Scalars = 1): void {
  opInPlace(scalarOverload('_foreach_addcdiv_', value), xs, a, b, value);
}

/** xs[i] = max(xs[i], ys[i]) */
export function maximum_(xs: readonly Tensor[], ys: readonly Tensor[]): void {
  opInPlace('_foreach_maximum_.List', xs, ys);
}

/** sqrt(xs[i]), new tensors */
export function sqrt(xs: readonly Tensor[]): Tensor[] {
  return opMany('_foreach_sqrt', xs);
}

/** xs[i] = sqrt(xs[i]) */
export function sqrt_(xs: readonly Tensor[]): void {
  opInPlace('_foreach_sqrt_', xs);
}
