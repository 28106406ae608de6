// Grad mode scopes and multi-root backward.
import { binding } from './native.js';
import type { Tensor } from './tensor.js';

function withGradMode<T>(enabled: boolean, fn: () => T): T {
  const previous = binding.isGradEnabled();
  binding.setGradEnabled(enabled);
  try {
    return fn();
  } finally {
    binding.setGradEnabled(previous);
  }
}

/** Runs fn without recording operations for autograd (inference, optimizer updates). fn must be synchronous. */
export function noGrad<T>(fn: () => T): T {
  return withGradMode(false, fn);
}

/** Runs fn with autograd recording, e.g. inside a noGrad region. */
export function enableGrad<T>(fn: () => T): T {
  return withGradMode(true, fn);
}

export function isGradEnabled(): boolean {
  return binding.isGradEnabled();
}

/** Accumulates gradients of the roots (each with its gradient, or implicitly 1 for scalars) into the leaves. */
export function backward(roots: readonly Tensor[], grads?: readonly (Tensor | null)[], retainGraph = false): void {
  if (grads !== undefined && grads.length !== roots.length) {
    throw new RangeError(`backward: ${roots.length} roots but ${grads.length} gradients`);
  }
  binding.backward(
    roots.map((r) => r.handle),
    roots.map((_, i) => grads?.[i]?.handle ?? null),
    retainGraph,
    false,
  );
}
