// Two-dimensional pictures of feature vectors: UMAP (umap-js) or exact t-SNE, both seeded so that a run is
// reproducible, both on the rows scaled to unit length, so that they see the cosine geometry the numbers measure.
import { UMAP } from 'umap-js';

import { Rng } from '../data/index.js';
import type { FeatureRows } from './separability.js';
import { tsne } from './tsne.js';

export const PROJECTIONS = ['umap', 'tsne'] as const;
export type ProjectionMethod = (typeof PROJECTIONS)[number];

export interface Projection {
  method: ProjectionMethod;
  /** The settings used, to be written beside the points. */
  settings: Record<string, number | string>;
  points: [number, number][];
}

/** Each row divided by its length (zero rows stay zero). */
export function unitRows(features: FeatureRows): FeatureRows {
  const { rows, dim } = features;
  const data = new Float32Array(features.data);
  for (let i = 0; i < rows; i++) {
    const row = data.subarray(i * dim, (i + 1) * dim);
    const length = Math.hypot(...row);
    if (length > 0) for (let d = 0; d < dim; d++) row[d] /= length;
  }
  return { data, rows, dim };
}

export function project2d(features: FeatureRows, method: ProjectionMethod, seed: number): Projection {
  const unit = unitRows(features);
  const rng = new Rng(seed);
  const random = (): number => rng.next();
  if (method === 'tsne') {
    const perplexity = Math.min(30, (unit.rows - 1) / 3);
    return {
      method,
      settings: { seed, distance: 'euclidean on unit rows (cosine)', perplexity, iterations: 1000 },
      points: tsne(unit, { perplexity, random }),
    };
  }
  // umap-js needs more points than neighbours; 15 is its default.
  const nNeighbors = Math.min(15, unit.rows - 1);
  if (nNeighbors < 2) throw new RangeError(`UMAP needs at least 3 points, got ${unit.rows}`);
  const rows = Array.from({ length: unit.rows }, (_, i) =>
    Array.from(unit.data.subarray(i * unit.dim, (i + 1) * unit.dim)),
  );
  const umap = new UMAP({ nComponents: 2, nNeighbors, minDist: 0.1, random });
  const points = umap.fit(rows).map(([x, y]) => [x, y] as [number, number]);
  return { method, settings: { seed, distance: 'euclidean on unit rows (cosine)', nNeighbors, minDist: 0.1 }, points };
}
