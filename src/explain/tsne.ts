// Exact t-SNE (van der Maaten and Hinton, 2008) to two dimensions, with scikit-learn's schedule: perplexity-matched
// Gaussian affinities, early exaggeration 12 for 250 iterations at momentum 0.5, then momentum 0.8, per-coordinate
// gains, learning rate max(N / 48, 50). O(N^2) per iteration, so it is limited to MAX_TSNE_POINTS.
import type { FeatureRows } from './separability.js';

export const MAX_TSNE_POINTS = 3000;

export interface TsneOptions {
  perplexity?: number;
  iterations?: number;
  /** Uniform [0, 1) numbers for the initial layout (seed it for a reproducible result). */
  random: () => number;
}

/** Row i's conditional affinities p(j | i) for squared distances `d2`, with the Gaussian width found by bisection to match the perplexity. */
function conditionalRow(d2: Float64Array, i: number, n: number, perplexity: number, out: Float64Array): void {
  const target = Math.log(perplexity);
  let beta = 1;
  let low = 0;
  let high = Infinity;
  for (let step = 0; step < 100; step++) {
    let sum = 0;
    let weighted = 0;
    for (let j = 0; j < n; j++) {
      const p = j === i ? 0 : Math.exp(-d2[i * n + j] * beta);
      out[j] = p;
      sum += p;
      weighted += d2[i * n + j] * p;
    }
    if (sum === 0) sum = 1e-300;
    const entropy = Math.log(sum) + (beta * weighted) / sum;
    for (let j = 0; j < n; j++) out[j] /= sum;
    if (Math.abs(entropy - target) < 1e-5) return;
    if (entropy > target) {
      low = beta;
      beta = high === Infinity ? beta * 2 : (beta + high) / 2;
    } else {
      high = beta;
      beta = (beta + low) / 2;
    }
  }
}

/** The symmetric joint affinities P (N x N, summing to 1) of the rows in squared euclidean distance. */
function jointAffinities(features: FeatureRows, perplexity: number): Float64Array {
  const { rows: n, dim, data } = features;
  const d2 = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      let s = 0;
      for (let d = 0; d < dim; d++) {
        const diff = data[i * dim + d] - data[j * dim + d];
        s += diff * diff;
      }
      d2[i * n + j] = d2[j * n + i] = s;
    }
  }
  const conditional = new Float64Array(n * n);
  for (let i = 0; i < n; i++) conditionalRow(d2, i, n, perplexity, conditional.subarray(i * n, (i + 1) * n));
  const p = new Float64Array(n * n);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++)
      p[i * n + j] = Math.max((conditional[i * n + j] + conditional[j * n + i]) / (2 * n), 1e-12);
  return p;
}

/** Two coordinates per row. */
export function tsne(features: FeatureRows, options: TsneOptions): [number, number][] {
  const n = features.rows;
  const { perplexity = Math.min(30, (n - 1) / 3), iterations = 1000, random } = options;
  if (n < 4) throw new RangeError(`t-SNE needs at least 4 points, got ${n}`);
  if (n > MAX_TSNE_POINTS)
    throw new RangeError(
      `exact t-SNE is limited to ${MAX_TSNE_POINTS} points (its cost grows as N^2), got ${n}: use --method umap`,
    );
  if (!(perplexity > 0 && perplexity < n))
    throw new RangeError(`perplexity ${perplexity} must be between 0 and the number of points (${n})`);
  const p = jointAffinities(features, perplexity);
  const exaggerated = 250;
  const learningRate = Math.max(n / 12 / 4, 50);
  // Initial layout: N(0, 1e-4) by Box-Muller from the seeded uniform numbers.
  const y = Float64Array.from(
    { length: 2 * n },
    () => 1e-2 * Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random()),
  );
  const update = new Float64Array(2 * n);
  const gains = new Float64Array(2 * n).fill(1);
  const grad = new Float64Array(2 * n);
  const kernel = new Float64Array(n * n);
  for (let iter = 0; iter < iterations; iter++) {
    const exaggeration = iter < exaggerated ? 12 : 1;
    const momentum = iter < exaggerated ? 0.5 : 0.8;
    let z = 0;
    for (let i = 0; i < n; i++) {
      for (let j = i + 1; j < n; j++) {
        const dx = y[2 * i] - y[2 * j];
        const dy = y[2 * i + 1] - y[2 * j + 1];
        const k = 1 / (1 + dx * dx + dy * dy);
        kernel[i * n + j] = kernel[j * n + i] = k;
        z += 2 * k;
      }
    }
    grad.fill(0);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        if (i === j) continue;
        const k = kernel[i * n + j];
        const force = 4 * (exaggeration * p[i * n + j] - k / z) * k;
        grad[2 * i] += force * (y[2 * i] - y[2 * j]);
        grad[2 * i + 1] += force * (y[2 * i + 1] - y[2 * j + 1]);
      }
    }
    for (let c = 0; c < 2 * n; c++) {
      gains[c] = update[c] * grad[c] < 0 ? gains[c] + 0.2 : Math.max(gains[c] * 0.8, 0.01);
      update[c] = momentum * update[c] - learningRate * gains[c] * grad[c];
      y[c] += update[c];
    }
  }
  return Array.from({ length: n }, (_, i) => [y[2 * i], y[2 * i + 1]]);
}
