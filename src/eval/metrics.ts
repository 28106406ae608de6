// Classification metrics of the field: overall accuracy (OA), average per-class accuracy (AA), Cohen's kappa,
// per-class precision, recall and F1, and the confusion matrix (rows: true class, columns: predicted).

export interface ClassMetrics {
  name: string;
  support: number;
  precision: number;
  recall: number;
  f1: number;
}

export interface Metrics {
  overallAccuracy: number;
  averageAccuracy: number;
  kappa: number;
  perClass: ClassMetrics[];
  confusion: number[][];
  count: number;
}

export function confusionMatrix(
  truth: ArrayLike<number>,
  predicted: ArrayLike<number>,
  numClasses: number,
): number[][] {
  if (truth.length !== predicted.length)
    throw new Error(`confusionMatrix: ${truth.length} labels but ${predicted.length} predictions`);
  const m = Array.from({ length: numClasses }, () => new Array<number>(numClasses).fill(0));
  for (let i = 0; i < truth.length; i++) {
    const [t, p] = [truth[i], predicted[i]];
    if (!(t >= 0 && t < numClasses && p >= 0 && p < numClasses))
      throw new RangeError(`label ${t} or prediction ${p} outside 0..${numClasses - 1}`);
    m[t][p]++;
  }
  return m;
}

export function metricsFromConfusion(confusion: number[][], classNames: readonly string[]): Metrics {
  const k = confusion.length;
  const count = confusion.flat().reduce((a, b) => a + b, 0);
  const rowSums = confusion.map((row) => row.reduce((a, b) => a + b, 0));
  const colSums = confusion[0]?.map((_, j) => confusion.reduce((s, row) => s + row[j], 0)) ?? [];
  const correct = confusion.reduce((s, row, i) => s + row[i], 0);
  const overallAccuracy = count === 0 ? 0 : correct / count;
  const present = rowSums.map((n, i) => [n, i] as const).filter(([n]) => n > 0);
  const averageAccuracy =
    present.length === 0 ? 0 : present.reduce((s, [n, i]) => s + confusion[i][i] / n, 0) / present.length;
  const expected = count === 0 ? 0 : rowSums.reduce((s, r, i) => s + r * colSums[i], 0) / (count * count);
  const kappa = expected === 1 ? 1 : (overallAccuracy - expected) / (1 - expected);
  const perClass = Array.from({ length: k }, (_, i) => {
    const precision = colSums[i] === 0 ? 0 : confusion[i][i] / colSums[i];
    const recall = rowSums[i] === 0 ? 0 : confusion[i][i] / rowSums[i];
    const f1 = precision + recall === 0 ? 0 : (2 * precision * recall) / (precision + recall);
    return { name: classNames[i] ?? String(i), support: rowSums[i], precision, recall, f1 };
  });
  return { overallAccuracy, averageAccuracy, kappa, perClass, confusion, count };
}

export function computeMetrics(
  truth: ArrayLike<number>,
  predicted: ArrayLike<number>,
  classNames: readonly string[],
): Metrics {
  return metricsFromConfusion(confusionMatrix(truth, predicted, classNames.length), classNames);
}

/** mean and sample standard deviation (n - 1), as reported over seeds. */
export function meanStd(values: readonly number[]): { mean: number; std: number } {
  const mean = values.reduce((a, b) => a + b, 0) / Math.max(values.length, 1);
  const std = values.length < 2 ? 0 : Math.sqrt(values.reduce((s, v) => s + (v - mean) ** 2, 0) / (values.length - 1));
  return { mean, std };
}

export function metricsCsv(metrics: Metrics): string {
  const lines = ['class,support,precision,recall,f1'];
  for (const c of metrics.perClass)
    lines.push([csvField(c.name), c.support, c.precision.toFixed(6), c.recall.toFixed(6), c.f1.toFixed(6)].join(','));
  lines.push(
    '',
    `overall_accuracy,${metrics.overallAccuracy.toFixed(6)}`,
    `average_accuracy,${metrics.averageAccuracy.toFixed(6)}`,
    `kappa,${metrics.kappa.toFixed(6)}`,
  );
  return lines.join('\n') + '\n';
}

export function confusionCsv(metrics: Metrics): string {
  const names = metrics.perClass.map((c) => csvField(c.name));
  return (
    [['true\\predicted', ...names].join(','), ...metrics.confusion.map((row, i) => [names[i], ...row].join(','))].join(
      '\n',
    ) + '\n'
  );
}

function csvField(value: string): string {
  return /[",\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}
