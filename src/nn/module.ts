// The Module base, in the spirit of PyTorch's nn.Module: named parameters, buffers and children registered
// explicitly, train/eval modes, state dicts keyed by dotted names, freezing and parameter counts.
import { type Device, keep, type MemoryFormat, noGrad, type Tensor, tidy } from '../torch/index.js';

export type StateDict = Map<string, Tensor>;

export interface LoadResult {
  missingKeys: string[];
  unexpectedKeys: string[];
}

/** The strides a new NCHW tensor of this shape gets in the memory format. */
function formatStrides([, c, h, w]: readonly number[], format: MemoryFormat): number[] {
  return format === 'channelsLast' ? [h * w * c, 1, w * c, c] : [c * h * w, h * w, w, 1];
}

const sameStrides = (a: readonly number[], b: readonly number[]): boolean => a.every((s, i) => s === b[i]);

export abstract class Module {
  private readonly ownParameters = new Map<string, Tensor>();
  private readonly ownBuffers = new Map<string, Tensor>();
  private readonly ownChildren = new Map<string, Module>();
  /** The module this one is registered in; a module has one (it may hold it under several names, as tied modules). */
  private parent: Module | undefined;
  private isTraining = true;

  /** Registers a parameter: it requires grad, survives every tidy scope, and appears in stateDict under `name`. */
  protected parameter(name: string, value: Tensor): Tensor {
    this.checkFree(name);
    this.ownParameters.set(name, keep(value.requiresGrad ? value : value.requiresGrad_(true)));
    return value;
  }

  /** Registers state that is saved but not trained (BatchNorm running statistics). */
  protected buffer(name: string, value: Tensor): Tensor {
    this.checkFree(name);
    this.ownBuffers.set(name, keep(value));
    return value;
  }

  /** Registers a submodule; one registered in another module already is refused (its state would be saved twice). */
  protected child<M extends Module>(name: string, module: M): M {
    this.checkFree(name);
    if (module.parent !== undefined && module.parent !== this) {
      throw new Error(
        `${this.constructor.name}: cannot register '${name}', a ${module.constructor.name} that a ${module.parent.constructor.name} already holds`,
      );
    }
    for (let up: Module | undefined = this; up !== undefined; up = up.parent) {
      if (up === (module as Module))
        throw new Error(
          `${this.constructor.name}: cannot register '${name}', a ${module.constructor.name} that holds it (a cycle)`,
        );
    }
    module.parent = this;
    this.ownChildren.set(name, module);
    return module;
  }

  private checkFree(name: string): void {
    if (name.includes('.') || name === '') throw new Error(`invalid member name '${name}'`);
    if (this.ownParameters.has(name) || this.ownBuffers.has(name) || this.ownChildren.has(name)) {
      throw new Error(`${this.constructor.name} already has a member named '${name}'`);
    }
  }

  /** Replaces a registered buffer's tensor (e.g. after loading), disposing the old one. */
  protected replaceBuffer(name: string, value: Tensor): void {
    const old = this.ownBuffers.get(name);
    if (old === undefined) throw new Error(`${this.constructor.name} has no buffer '${name}'`);
    this.ownBuffers.set(name, keep(value));
    if (old !== value) old.dispose();
  }

  get training(): boolean {
    return this.isTraining;
  }

  train(mode = true): this {
    this.isTraining = mode;
    for (const c of this.ownChildren.values()) c.train(mode);
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** Children in registration order. */
  namedChildren(): [string, Module][] {
    return [...this.ownChildren];
  }

  /** This module and all descendants, depth first, with dotted names ('' for this one); one held under several names is listed once, under its first (as PyTorch's named_modules). */
  namedModules(prefix = ''): [string, Module][] {
    const out: [string, Module][] = [];
    const seen = new Set<Module>();
    const visit = (module: Module, name: string): void => {
      if (seen.has(module)) return;
      seen.add(module);
      out.push([name, module]);
      for (const [childName, c] of module.ownChildren) visit(c, name === '' ? childName : `${name}.${childName}`);
    };
    visit(this, prefix);
    return out;
  }

  namedParameters(): [string, Tensor][] {
    return this.collect((m) => m.ownParameters);
  }

  parameters(): Tensor[] {
    return this.namedParameters().map(([, p]) => p);
  }

  namedBuffers(): [string, Tensor][] {
    return this.collect((m) => m.ownBuffers);
  }

  private collect(pick: (m: Module) => Map<string, Tensor>): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [prefix, m] of this.namedModules()) {
      for (const [name, t] of pick(m)) out.push([prefix === '' ? name : `${prefix}.${name}`, t]);
    }
    return out;
  }

  /** Parameters and buffers by dotted name, in PyTorch's order (each module's parameters, then its buffers). */
  stateDict(): StateDict {
    const out: StateDict = new Map();
    for (const [prefix, m] of this.namedModules()) {
      const key = (name: string): string => (prefix === '' ? name : `${prefix}.${name}`);
      for (const [name, t] of m.ownParameters) out.set(key(name), t);
      for (const [name, t] of m.ownBuffers) out.set(key(name), t);
    }
    return out;
  }

  /**
   * Copies values into this module's parameters and buffers. Shapes must match (an error names every mismatch).
   * strict: missing or unexpected keys are an error naming them; otherwise they are returned.
   */
  loadStateDict(state: ReadonlyMap<string, Tensor>, options: { strict?: boolean } = {}): LoadResult {
    const strict = options.strict ?? true;
    const own = this.stateDict();
    const missingKeys = [...own.keys()].filter((k) => !state.has(k));
    const unexpectedKeys = [...state.keys()].filter((k) => !own.has(k));
    const mismatched: string[] = [];
    for (const [key, target] of own) {
      const source = state.get(key);
      if (source === undefined) continue;
      const [a, b] = [source.shape, target.shape];
      if (a.length !== b.length || a.some((d, i) => d !== b[i]))
        mismatched.push(`${key}: checkpoint [${a}] vs model [${b}]`);
    }
    const problems: string[] = [];
    if (mismatched.length > 0) problems.push(`shape mismatch for ${mismatched.join('; ')}`);
    if (strict && missingKeys.length > 0) problems.push(`missing keys: ${missingKeys.join(', ')}`);
    if (strict && unexpectedKeys.length > 0) problems.push(`unexpected keys: ${unexpectedKeys.join(', ')}`);
    if (problems.length > 0) throw new Error(`loadStateDict(${this.constructor.name}): ${problems.join('. ')}`);
    noGrad(() => {
      for (const [key, target] of own) {
        const source = state.get(key);
        if (source !== undefined) target.copy_(source);
      }
    });
    return { missingKeys, unexpectedKeys };
  }

  /**
   * Stores every 4-D parameter and buffer in the memory format, in place (the same tensors, so optimizers and other
   * references stay valid), as PyTorch's `module.to(memory_format=...)`. Convolutions then produce activations in
   * that format. State dicts and checkpoints are written row-major whatever the format.
   */
  toMemoryFormat(format: MemoryFormat): this {
    noGrad(() => {
      for (const [, t] of this.stateDict()) {
        // By strides, not isContiguous: a 1x1 kernel is contiguous in both formats, but its gradients come in the
        // format's own strides, which DistributedDataParallel's buckets expect the parameter to have too.
        if (t.ndim === 4 && !sameStrides(t.strides(), formatStrides(t.shape, format)))
          tidy(() => t.set_(t.clone(format)));
      }
    });
    return this;
  }

  /**
   * Moves every parameter and buffer, with its gradient, to the device, as PyTorch's `module.to(device)`: the same
   * tensor objects (their data moves), so optimizers and other references made before stay valid.
   */
  to(device: Device): this {
    noGrad(() =>
      tidy(() => {
        for (const [, t] of this.stateDict()) {
          t.setData(t.to(device));
          const grad = t.grad;
          if (grad !== null) t.grad = grad.to(device);
        }
      }),
    );
    return this;
  }

  /** The device of the first parameter (or buffer): where the module computes, as `next(m.parameters()).device`. */
  get device(): Device {
    const first = this.parameters()[0] ?? this.namedBuffers()[0]?.[1];
    return first === undefined ? 'cpu' : first.device;
  }

  /** Number of parameter elements (all, or only those that require grad). */
  numParameters(options: { trainableOnly?: boolean } = {}): number {
    return this.parameters()
      .filter((p) => !options.trainableOnly || p.requiresGrad)
      .reduce((sum, p) => sum + p.numel, 0);
  }

  /** Stops (or resumes) gradient computation for every parameter of this module. */
  freeze(frozen = true): this {
    for (const p of this.parameters()) p.requiresGrad_(!frozen);
    return this;
  }

  /** Clears gradients (sets them to null, as PyTorch's zero_grad(set_to_none=True)). */
  zeroGrad(): void {
    for (const p of this.parameters()) p.grad = null;
  }

  /** Releases every parameter and buffer; the module must not be used afterwards. */
  dispose(): void {
    for (const [, t] of this.stateDict()) t.dispose();
  }
}

/** A module mapping one tensor to one tensor: what Sequential chains. */
export abstract class Layer extends Module {
  abstract forward(input: Tensor): Tensor;
}
