// The optimizer base: parameter groups with their own hyper-parameters, per-parameter state, and a serialisable
// state dict (tensors by 'index.name', hyper-parameters and counters as JSON).
import { keep, noGrad, type Tensor, tidy } from '../torch/index.js';

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

/** Drops keys whose value is undefined, so that they do not override defaults when spread. */
function definedOnly<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

export abstract class Optimizer<O extends GroupOptions> {
  readonly paramGroups: ParamGroup<O>[];
  private readonly state = new Map<Tensor, ParamState>();

  protected constructor(params: Tensor[] | GroupSpec<O>[], defaults: O, options: Partial<O>) {
    const specs: GroupSpec<O>[] = params.length > 0 && !('params' in params[0]) ? [{ params: params as Tensor[] } as GroupSpec<O>] : (params as GroupSpec<O>[]);
    const seen = new Set<Tensor>();
    this.paramGroups = specs.map((spec, i) => {
      for (const p of spec.params) {
        if (seen.has(p)) throw new Error(`${this.constructor.name}: a parameter appears in more than one group (group ${i})`);
        seen.add(p);
      }
      const group = { ...defaults, ...definedOnly(options), ...definedOnly(spec), params: [...spec.params] } as ParamGroup<O>;
      group.initialLr = group.lr;
      this.validate(group, i);
      return group;
    });
  }

  protected validate(group: ParamGroup<O>, index: number): void {
    if (!(group.lr >= 0)) throw new RangeError(`${this.constructor.name}: group ${index} has invalid lr ${group.lr}`);
    if (!(group.weightDecay >= 0)) throw new RangeError(`${this.constructor.name}: group ${index} has invalid weightDecay ${group.weightDecay}`);
  }

  /** Updates one parameter from its gradient; runs under noGrad inside a scope. */
  protected abstract update(param: Tensor, grad: Tensor, group: ParamGroup<O>, state: ParamState): void;

  /** One optimisation step over every parameter that has a gradient. */
  step(): void {
    noGrad(() => {
      for (const group of this.paramGroups) {
        for (const param of group.params) {
          tidy(() => {
            const grad = param.grad;
            if (grad === null) return;
            let state = this.state.get(param);
            if (state === undefined) {
              state = new Map();
              this.state.set(param, state);
            }
            this.update(param, grad, group, state);
          });
        }
      }
    });
  }

  /** A state tensor, created by `init` (and kept across steps) the first time it is asked for. */
  protected buffer(state: ParamState, name: string, init: () => Tensor): Tensor {
    let t = state.get(name);
    if (t === undefined) {
      t = keep(init());
      state.set(name, t);
    }
    return t as Tensor;
  }

  zeroGrad(): void {
    for (const group of this.paramGroups) for (const p of group.params) p.grad = null;
  }

  private allParams(): Tensor[] {
    return this.paramGroups.flatMap((g) => g.params);
  }

  stateDict(): OptimizerState {
    const groups = this.paramGroups.map(({ params: _params, ...options }) => options as Record<string, number | boolean>);
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
      throw new Error(`${this.constructor.name}.loadStateDict: saved state has ${saved.groups.length} parameter groups, this optimizer ${this.paramGroups.length}`);
    }
    const params = this.allParams();
    for (const key of saved.tensors.keys()) {
      const index = Number(key.slice(0, key.indexOf('.')));
      if (!(index >= 0 && index < params.length)) throw new Error(`${this.constructor.name}.loadStateDict: state '${key}' names no parameter`);
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
          throw new Error(`${this.constructor.name}.loadStateDict: state '${key}' has shape [${t.shape}], parameter ${i} [${p.shape}]`);
        }
        state.set(name, keep(t.clone()));
      }
      if (state.size > 0) this.state.set(p, state);
    });
  }
}
