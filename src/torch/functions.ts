// Free functions over several tensors.
import { op, type Scalar, Tensor } from './tensor.js';

export function cat(tensors: readonly Tensor[], dim = 0): Tensor {
  return op('cat', tensors, dim);
}

export function stack(tensors: readonly Tensor[], dim = 0): Tensor {
  return op('stack', tensors, dim);
}

/** Elementwise: condition ? a : b (with broadcasting; a and b may be numbers). */
export function where(condition: Tensor, a: Tensor | Scalar, b: Tensor | Scalar): Tensor {
  if (a instanceof Tensor)
    return b instanceof Tensor ? op('where.self', condition, a, b) : op('where.ScalarOther', condition, a, b);
  return b instanceof Tensor ? op('where.ScalarSelf', condition, a, b) : op('where.Scalar', condition, a, b);
}

export function matmul(a: Tensor, b: Tensor): Tensor {
  return a.matmul(b);
}
