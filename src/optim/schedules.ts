// Learning-rate schedules, evaluated per iteration. Each maps (iteration, the group's initial lr) to an lr; start and
// minimum lrs are absolute, the same for every parameter group (as timm's schedulers and the DSDNet recipe use them).
import type { GroupOptions, Optimizer } from './optimizer.js';

export interface LrSchedule {
  lrAt(iteration: number, initialLr: number): number;
}

export class ConstantLr implements LrSchedule {
  lrAt(_iteration: number, initialLr: number): number {
    return initialLr;
  }
}

/** lr = initial * gamma^floor(iteration / stepIters). */
export class StepLr implements LrSchedule {
  constructor(
    readonly stepIters: number,
    readonly gamma = 0.1,
  ) {
    if (!(Number.isInteger(stepIters) && stepIters > 0))
      throw new RangeError(`StepLr: stepIters must be a positive integer, got ${stepIters}`);
  }
  lrAt(iteration: number, initialLr: number): number {
    return initialLr * this.gamma ** Math.floor(iteration / this.stepIters);
  }
}

export interface WarmupCosineOptions {
  /** Iterations of linear warm-up from warmupStartLr to the group's lr (0 for none). */
  warmupIters: number;
  warmupStartLr: number;
  /** Iterations after warm-up, split into `cycles` equal cosine cycles, each restarting at the group's lr. */
  cosineIters: number;
  cycles: number;
  minLr: number;
}

/**
 * Linear warm-up, then cosine annealing from the group's lr to minLr in equal cycles with full restarts:
 * lr = min + (initial - min) * (1 + cos(pi * t_cycle / cycle_length)) / 2. After the last cycle lr stays at minLr.
 */
export class WarmupCosineRestarts implements LrSchedule {
  readonly cycleIters: number;

  constructor(readonly options: WarmupCosineOptions) {
    const { warmupIters, cosineIters, cycles } = options;
    if (!(Number.isInteger(warmupIters) && warmupIters >= 0))
      throw new RangeError(`warmupIters must be a non-negative integer, got ${warmupIters}`);
    if (!(Number.isInteger(cycles) && cycles >= 1))
      throw new RangeError(`cycles must be a positive integer, got ${cycles}`);
    if (!(cosineIters >= cycles))
      throw new RangeError(`cosineIters (${cosineIters}) must be at least the number of cycles (${cycles})`);
    this.cycleIters = cosineIters / cycles;
  }

  lrAt(iteration: number, initialLr: number): number {
    const { warmupIters, warmupStartLr, cosineIters, minLr } = this.options;
    if (iteration < warmupIters) return warmupStartLr + ((initialLr - warmupStartLr) * iteration) / warmupIters;
    const t = iteration - warmupIters;
    if (t >= cosineIters) return minLr;
    const inCycle = t - Math.floor(t / this.cycleIters) * this.cycleIters;
    return minLr + ((initialLr - minLr) * (1 + Math.cos((Math.PI * inCycle) / this.cycleIters))) / 2;
  }
}

/** Sets every group's lr for the given iteration. */
export function applySchedule<O extends GroupOptions>(
  optimizer: Optimizer<O>,
  schedule: LrSchedule,
  iteration: number,
): void {
  for (const group of optimizer.paramGroups) group.lr = schedule.lrAt(iteration, group.initialLr);
}
