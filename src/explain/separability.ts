// How well feature vectors separate classes, in the full feature space: k-nearest-neighbour accuracy and the
// silhouette score (scikit-learn's definitions). Pure arithmetic on rows of numbers, O(N^2 x dim).

/** `rows` feature vectors of `dim` values each, one after another. */
export interface FeatureRows {
  data: Float32Array;
  rows: number;
  dim: number;
}

export const DISTANCES = ['cosine', 'euclidean'] as const;
export type Distance = (typeof DISTANCES)[number];

/** Distance between row i of `a` and row j of `b`; cosine is 1 - cos(angle), with a zero vector at distance 1 (as scikit-learn). */
function distanceFn(kind: Distance, a: FeatureRows, b: FeatureRows): (i: number, j: number) => number {
  if (a.dim !== b.dim) throw new RangeError(`feature rows of ${a.dim} and ${b.dim} values cannot be compared`);
  const { dim } = a;
  const dot = (x: Float32Array, i: number, y: Float32Array, j: number): number => {
    let s = 0;
    for (let d = 0; d < dim; d++) s += x[i * dim + d] * y[j * dim + d];
    return s;
  };
  if (kind === 'euclidean') {
    return (i, j) => {
      let s = 0;
      for (let d = 0; d < dim; d++) {
        const diff = a.data[i * dim + d] - b.data[j * dim + d];
        s += diff * diff;
      }
      return Math.sqrt(s);
    };
  }
  const norms = (f: FeatureRows): Float64Array =>
    Float64Array.from({ length: f.rows }, (_, i) => Math.sqrt(dot(f.data, i, f.data, i)));
  const na = norms(a);
  const nb = a === b ? na : norms(b);
  return (i, j) => (na[i] === 0 || nb[j] === 0 ? 1 : 1 - dot(a.data, i, b.data, j) / (na[i] * nb[j]));
}

function checkLabels(features: FeatureRows, labels: ArrayLike<number>, what: string): void {
  if (features.data.length !== features.rows * features.dim)
    throw new RangeError(`${what}: ${features.data.length} values are not ${features.rows} rows of ${features.dim}`);
  if (labels.length !== features.rows)
    throw new RangeError(`${what}: ${labels.length} labels for ${features.rows} feature rows`);
}

export interface KnnResult {
  accuracy: number;
  correct: number;
  count: number;
  k: number;
  distance: Distance;
}

/**
 * Classifies each query row by the majority label of its k nearest reference rows and returns the share classified
 * correctly. A tie between labels goes to the tied label with the nearest neighbour; equal distances keep the
 * reference order.
 */
export function knnAccuracy(
  reference: FeatureRows,
  referenceLabels: ArrayLike<number>,
  queries: FeatureRows,
  queryLabels: ArrayLike<number>,
  options: { k?: number; distance?: Distance } = {},
): KnnResult {
  const { k = 5, distance = 'cosine' } = options;
  checkLabels(reference, referenceLabels, 'reference');
  checkLabels(queries, queryLabels, 'queries');
  if (!(Number.isInteger(k) && k >= 1 && k <= reference.rows))
    throw new RangeError(`k = ${k} needs 1 <= k <= ${reference.rows} (the reference rows)`);
  if (queries.rows === 0) throw new RangeError('no query rows to classify');
  const dist = distanceFn(distance, queries, reference);
  let correct = 0;
  for (let q = 0; q < queries.rows; q++) {
    const nearest = Array.from({ length: reference.rows }, (_, r) => ({ r, d: dist(q, r) }))
      .sort((x, y) => x.d - y.d || x.r - y.r)
      .slice(0, k);
    const votes = new Map<number, number>();
    for (const { r } of nearest) votes.set(referenceLabels[r], (votes.get(referenceLabels[r]) ?? 0) + 1);
    const most = Math.max(...votes.values());
    // Map order is the order of first appearance, nearest first: the first label with the most votes wins ties.
    const predicted = [...votes].find(([, n]) => n === most)![0];
    if (predicted === queryLabels[q]) correct++;
  }
  return { accuracy: correct / queries.rows, correct, count: queries.rows, k, distance };
}

/**
 * The mean silhouette coefficient: s(i) = (b - a) / max(a, b), with a the mean distance from i to the other members
 * of its class, b the smallest mean distance from i to the members of another class, and s = 0 for a class of one.
 */
export function silhouetteScore(
  features: FeatureRows,
  labels: ArrayLike<number>,
  distance: Distance = 'cosine',
): number {
  checkLabels(features, labels, 'silhouette');
  const classes = [...new Set(Array.from(labels))];
  if (classes.length < 2 || classes.length >= features.rows)
    throw new RangeError(
      `the silhouette needs 2 to ${features.rows - 1} classes among ${features.rows} rows, got ${classes.length}`,
    );
  const slot = new Map(classes.map((c, s) => [c, s]));
  const sizes = new Float64Array(classes.length);
  for (let i = 0; i < features.rows; i++) sizes[slot.get(labels[i])!]++;
  const dist = distanceFn(distance, features, features);
  let total = 0;
  const sums = new Float64Array(classes.length);
  for (let i = 0; i < features.rows; i++) {
    sums.fill(0);
    for (let j = 0; j < features.rows; j++) if (j !== i) sums[slot.get(labels[j])!] += dist(i, j);
    const own = slot.get(labels[i])!;
    if (sizes[own] === 1) continue;
    const a = sums[own] / (sizes[own] - 1);
    let b = Infinity;
    for (let s = 0; s < classes.length; s++) if (s !== own) b = Math.min(b, sums[s] / sizes[s]);
    const scale = Math.max(a, b);
    total += scale === 0 ? 0 : (b - a) / scale;
  }
  return total / features.rows;
}
