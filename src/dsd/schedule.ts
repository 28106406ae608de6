// The diffusion noise schedule of DSDNet: T = 1000 steps with betas linear from 1e-4 to 0.02, and the DDIM
// (eta = 0) timesteps used for generation: the last `usedSteps` of a `gridSteps`-step grid (default: 5 of 10,
// i.e. t = 400, 300, 200, 100, 0).

export interface NoiseScheduleOptions {
  trainSteps: number;
  betaStart: number;
  betaEnd: number;
  gridSteps: number;
  usedSteps: number;
}

export const DEFAULT_NOISE_SCHEDULE: NoiseScheduleOptions = {
  trainSteps: 1000,
  betaStart: 1e-4,
  betaEnd: 0.02,
  gridSteps: 10,
  usedSteps: 5,
};

export class NoiseSchedule {
  /** alpha_bar_t = prod_{s <= t} (1 - beta_s), for t = 0..T-1 (float64). */
  readonly alphaBar: Float64Array;
  /** Generation timesteps, from noisiest to clean. */
  readonly timesteps: number[];
  /** Distance between grid points. */
  readonly stride: number;

  constructor(readonly options: NoiseScheduleOptions = DEFAULT_NOISE_SCHEDULE) {
    const { trainSteps: T, betaStart, betaEnd, gridSteps, usedSteps } = options;
    if (!(Number.isInteger(T) && T >= 2)) throw new RangeError(`trainSteps must be an integer >= 2, got ${T}`);
    if (!(Number.isInteger(gridSteps) && gridSteps >= 1 && T % gridSteps === 0))
      throw new RangeError(`gridSteps must divide trainSteps (${T}), got ${gridSteps}`);
    if (!(Number.isInteger(usedSteps) && usedSteps >= 1 && usedSteps <= gridSteps))
      throw new RangeError(`usedSteps must be in 1..${gridSteps}, got ${usedSteps}`);
    this.alphaBar = new Float64Array(T);
    let product = 1;
    for (let t = 0; t < T; t++) {
      const beta = betaStart + ((betaEnd - betaStart) * t) / (T - 1);
      product *= 1 - beta;
      this.alphaBar[t] = product;
    }
    this.stride = T / gridSteps;
    const grid = Array.from({ length: gridSteps }, (_, i) => (gridSteps - 1 - i) * this.stride);
    this.timesteps = grid.slice(gridSteps - usedSteps);
  }

  /** alpha_bar at t, with alpha_bar = 1 before the first step (t < 0). */
  alphaBarAt(t: number): number {
    return t < 0 ? 1 : this.alphaBar[t];
  }
}
