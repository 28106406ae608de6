// The optimizer base: parameter groups with their own hyper-parameters, per-parameter state, and a serialisable
// state dict (tensors by 'index.name', hyper-parameters and counters as JSON). Updates are written once, over lists
// of parameters: with `foreach` a whole group goes through each libtorch op at once (torch._foreach_*), otherwise
// one parameter at a time, which computes the same numbers with less temporary memory and more binding calls.
import { keep, noGrad, type Tensor, tidy, zerosLike } from '../torch/index.js';

export interface GroupOptions {
  lr: number;
  weightDecay: number;
}

export type ParamGroup<O extends GroupOptions> = O & {
  params: Tensor[];
  /** The lr the group was created with; schedules scale from it. */
  initialLr: number;
};

export type GroupSpec<O extends GroupOptions> = Partial<O> & { params: Tensor[] };

/** Per-parameter state: tensors (buffers) and numbers (step counts). */
export type ParamState = Map<string, Tensor | number>;

export interface OptimizerState {
  /** Group hyper-parameters (without the parameters themselves). */
  groups: Record<string, number | boolean>[];
  /** Per-parameter numbers, by parameter index (in group order). */
  counters: Record<string, Record<string, number>>;
  /** Per-parameter tensors, keyed 'index.name'. */
  tensors: Map<string, Tensor>;
}

/** How many parameter elements one foreach call updates at most (a single larger tensor goes alone). */
const FOREACH_CHUNK_ELEMENTS = 1 << 20;

export interface OptimizerSettings {
  /** Update a group's parameters through one libtorch call per op and run of about 1 M elements (default) rather than one per parameter and op. */
  foreach?: boolean;
}

/** Parameters updated together, with their gradients and states (same order). */
export interface ParamBatch {
  params: Tensor[];
  grads: Tensor[];
  states: ParamState[];
}

/** Drops keys whose value is undefined, so that they do not override defaults when spread. */
function definedOnly<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

export abstract class Optimizer<O extends GroupOptions> {
  readonly paramGroups: ParamGroup<O>[];
  foreach: boolean;
  private readonly state = new Map<Tensor, ParamState>();
  private readonly numel = new Map<Tensor, number>();

  protected constructor(params: Tensor[] | GroupSpec<O>[], defaults: O, settings: Partial<O> & OptimizerSettings) {
    const { foreach = true, ...options } = settings;
    this.foreach = foreach;
    const specs: GroupSpec<O>[] =
      params.length > 0 && !('params' in params[0])
        ? [{ params: params as Tensor[] } as GroupSpec<O>]
        : (params as GroupSpec<O>[]);
    const seen = new Set<Tensor>();
    this.paramGroups = specs.map((spec, i) => {
      for (const p of spec.params) {
        if (seen.has(p))
          throw new Error(`${this.constructor.name}: a parameter appears in more than one group (group ${i})`);
        seen.add(p);
      }
      const group = {
        ...defaults,
        ...definedOnly(options as Partial<O>),
        ...definedOnly(spec),
        params: [...spec.params],
      } as ParamGroup<O>;
      group.initialLr = group.lr;
      this.validate(group, i);
      return group;
    });
  }

  protected validate(group: ParamGroup<O>, index: number): void {
    if (!(group.lr >= 0)) throw new RangeError(`${this.constructor.name}: group ${index} has invalid lr ${group.lr}`);
    if (!(group.weightDecay >= 0))
      throw new RangeError(`${this.constructor.name}: group ${index} has invalid weightDecay ${group.weightDecay}`);
  }

  /** Updates parameters from their gradients; runs under noGrad inside a scope. */
  protected abstract update(batch: ParamBatch, group: ParamGroup<O>): void;

  /** One optimisation step over every parameter that has a gradient. */
  step(): void {
    noGrad(() => {
      for (const group of this.paramGroups) {
        for (const batch of this.foreach ? this.chunks(group.params) : group.params.map((p) => [p]))
          tidy(() => this.updateWithGrads(batch, group));
      }
    });
  }

  /**
   * A group's parameters in runs of about FOREACH_CHUNK_ELEMENTS: small tensors share a call, and each run's
   * temporaries stay cache-sized and are freed before the next (one list over a ResNet's 11 M parameters is slower
   * than one call per parameter, here as in PyTorch).
   */
  private chunks(params: readonly Tensor[]): Tensor[][] {
    const out: Tensor[][] = [];
    let current: Tensor[] = [];
    let elements = 0;
    for (const p of params) {
      let n = this.numel.get(p);
      if (n === undefined) this.numel.set(p, (n = p.numel));
      if (current.length > 0 && elements + n > FOREACH_CHUNK_ELEMENTS) {
        out.push(current);
        current = [];
        elements = 0;
      }
      current.push(p);
      elements += n;
    }
    if (current.length > 0) out.push(current);
    return out;
  }

  private updateWithGrads(candidates: readonly Tensor[], group: ParamGroup<O>): void {
    const batch: ParamBatch = { params: [], grads: [], states: [] };
    for (const param of candidates) {
      const grad = param.grad;
      if (grad === null) continue;
      let state = this.state.get(param);
      if (state === undefined) {
        state = new Map();
        this.state.set(param, state);
      }
      batch.params.push(param);
      batch.grads.push(grad);
      batch.states.push(state);
    }
    if (batch.params.length > 0) this.update(batch, group);
  }

  /** Each parameter's state tensor `name`, created by `init(i)` (and kept across steps) the first time it is asked for. */
  protected buffers(states: readonly ParamState[], name: string, init: (index: number) => Tensor): Tensor[] {
    return states.map((state, i) => {
      let t = state.get(name);
      if (t === undefined) {
        t = keep(init(i));
        state.set(name, t);
      }
      return t as Tensor;
    });
  }

  /** Adds one to each parameter's step counter and returns the new counts. */
  protected countSteps(states: readonly ParamState[]): number[] {
    return states.map((state) => {
      const step = ((state.get('step') as number | undefined) ?? 0) + 1;
      state.set('step', step);
      return step;
    });
  }

  zeroGrad(): void {
    for (const group of this.paramGroups) for (const p of group.params) p.grad = null;
  }

  private allParams(): Tensor[] {
    return this.paramGroups.flatMap((g) => g.params);
  }

  stateDict(): OptimizerState {
    const groups = this.paramGroups.map(
      ({ params: _params, ...options }) => options as Record<string, number | boolean>,
    );
    const counters: Record<string, Record<string, number>> = {};
    const tensors = new Map<string, Tensor>();
    this.allParams().forEach((p, i) => {
      const state = this.state.get(p);
      if (state === undefined) return;
      for (const [name, value] of state) {
        if (typeof value === 'number') (counters[i] ??= {})[name] = value;
        else tensors.set(`${i}.${name}`, value);
      }
    });
    return { groups, counters, tensors };
  }

  /** Restores hyper-parameters and state saved by stateDict() from an optimizer over the same parameters. */
  loadStateDict(saved: OptimizerState): void {
    if (saved.groups.length !== this.paramGroups.length) {
      throw new Error(
        `${this.constructor.name}.loadStateDict: saved state has ${saved.groups.length} parameter groups, this optimizer ${this.paramGroups.length}`,
      );
    }
    const params = this.allParams();
    for (const key of saved.tensors.keys()) {
      const index = Number(key.slice(0, key.indexOf('.')));
      if (!(index >= 0 && index < params.length))
        throw new Error(`${this.constructor.name}.loadStateDict: state '${key}' names no parameter`);
    }
    saved.groups.forEach((options, i) => Object.assign(this.paramGroups[i], options));
    for (const state of this.state.values()) for (const v of state.values()) if (typeof v !== 'number') v.dispose();
    this.state.clear();
    params.forEach((p, i) => {
      const state: ParamState = new Map();
      for (const [name, value] of Object.entries(saved.counters[i] ?? {})) state.set(name, value);
      for (const [key, t] of saved.tensors) {
        if (!key.startsWith(`${i}.`)) continue;
        const name = key.slice(String(i).length + 1);
        if (t.shape.join() !== p.shape.join()) {
          throw new Error(
            `${this.constructor.name}.loadStateDict: state '${key}' has shape [${t.shape}], parameter ${i} [${p.shape}]`,
          );
        }
        state.set(name, keep(zerosLike(p).copy_(t))); // in the parameter's memory layout, as a fresh state would be
      }
      if (state.size > 0) this.state.set(p, state);
    });
  }
}
