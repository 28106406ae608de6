// Deterministic release of native tensors: `tidy(fn)` disposes every tensor created while fn runs, except the ones it
// returns (those move to the enclosing scope) and the ones passed to `keep`. Tensors created outside any scope are
// left to the garbage collector, whose finalizers release them too; only those (and kept ones) have their memory
// reported to V8, so that it collects when native memory grows, while scoped step tensors cost it nothing.

export interface Disposable {
  dispose(): void;
  readonly isDisposed: boolean;
  /** Called when the garbage collector becomes responsible for releasing it. */
  handOverToCollector(): void;
}

const scopes: Disposable[][] = [];
const kept = new WeakSet<Disposable>();

export function track(tensor: Disposable): void {
  const scope = scopes[scopes.length - 1];
  if (scope === undefined) tensor.handOverToCollector();
  else scope.push(tensor);
}

/** Exempts tensors from every scope's cleanup (e.g. parameters, or state that lives across steps). */
export function keep<T extends Disposable>(tensor: T): T {
  kept.add(tensor);
  tensor.handOverToCollector();
  return tensor;
}

function collect(value: unknown, into: Set<Disposable>, seen: Set<unknown>): void {
  if (value === null || typeof value !== 'object' || seen.has(value)) return;
  seen.add(value);
  if (isDisposable(value)) {
    into.add(value);
    return;
  }
  if (Array.isArray(value)) {
    for (const item of value) collect(item, into, seen);
  } else if (value instanceof Map) {
    for (const item of value.values()) collect(item, into, seen);
  } else if (Object.getPrototypeOf(value) === Object.prototype) {
    for (const item of Object.values(value)) collect(item, into, seen);
  }
}

function isDisposable(value: object): value is Disposable {
  return (
    typeof (value as Disposable).dispose === 'function' &&
    typeof (value as Disposable).handOverToCollector === 'function'
  );
}

/** Runs fn and disposes the tensors it created that it does not return. fn must be synchronous. */
export function tidy<T>(fn: () => T): T {
  const scope: Disposable[] = [];
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } catch (error) {
    scopes.pop();
    for (const tensor of scope) if (!kept.has(tensor)) tensor.dispose();
    throw error;
  }
  scopes.pop();
  if (result instanceof Promise) {
    for (const tensor of scope) if (!kept.has(tensor)) tensor.dispose();
    throw new TypeError('tidy(fn): fn returned a Promise; scopes only cover synchronous code');
  }
  const returned = new Set<Disposable>();
  collect(result, returned, new Set());
  const parent = scopes[scopes.length - 1];
  for (const tensor of scope) {
    if (returned.has(tensor)) {
      if (parent === undefined) tensor.handOverToCollector();
      else parent.push(tensor);
    } else if (!kept.has(tensor)) tensor.dispose();
  }
  return result;
}

/** Disposes every tensor found in the arguments (tensors, arrays, maps and plain objects of them). */
export function dispose(...values: unknown[]): void {
  const found = new Set<Disposable>();
  collect(values, found, new Set());
  for (const tensor of found) tensor.dispose();
}
