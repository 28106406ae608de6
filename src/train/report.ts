// The run's report at the end: report.json, report.md, metrics.csv, confusion.csv, the confusion matrix and the
// training curves (SVG and PNG); and the CLI's summary line of a finished run.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

import {
  confusionCsv,
  confusionSpec,
  curvesSpec,
  type EpochPoint,
  type Metrics,
  metricsCsv,
  writeChart,
} from '../eval/index.js';
import { markdownCell, printable } from '../io/index.js';
import type { TrainConfig } from '../trained/index.js';
import type { EpochRecord } from './loop.js';

export async function writeReport(
  out: string,
  config: TrainConfig,
  final: Metrics,
  records: EpochRecord[],
  best: number,
  pretrained: Record<string, unknown> | undefined,
): Promise<void> {
  const bestRecord = records.reduce((a, b) => (b.testOA > a.testOA ? b : a), records[0]);
  const meanEpochSeconds = records.reduce((s, r) => s + r.seconds, 0) / records.length;
  const report = {
    dataset: config.data,
    backbone: config.backbone,
    method: config.method,
    methodOptions: config.method === 'plain' ? undefined : config.methodOptions,
    pretrained: pretrained ?? null,
    precision: config.precision,
    channelsLast: config.channelsLast,
    epochs: config.epochs,
    final: {
      overallAccuracy: final.overallAccuracy,
      averageAccuracy: final.averageAccuracy,
      kappa: final.kappa,
      perClass: final.perClass,
      confusion: final.confusion,
    },
    bestEpoch: {
      epoch: bestRecord.epoch,
      overallAccuracy: best,
      note: 'selected on the test split, shown for reference only',
    },
    meanEpochSeconds,
  };
  writeFileSync(join(out, 'report.json'), JSON.stringify(report, null, 2) + '\n');
  writeFileSync(join(out, 'metrics.csv'), metricsCsv(final));
  writeFileSync(join(out, 'confusion.csv'), confusionCsv(final));
  const title = `${config.method} ${config.backbone}, final epoch`;
  await writeChart(confusionSpec(final, title), join(out, 'confusion'));
  const points: EpochPoint[] = records.map((r) => ({
    epoch: r.epoch,
    trainLoss: r.trainLoss,
    trainAccuracy: r.trainAccuracy,
    testAccuracy: r.testOA,
  }));
  await writeChart(curvesSpec(points, `${config.method} ${config.backbone}`), join(out, 'curves'));
  const pct = (v: number): string => (100 * v).toFixed(2);
  writeFileSync(
    join(out, 'report.md'),
    [
      `# ${config.method} / ${config.backbone} on ${printable(config.data)}`,
      '',
      `Final epoch (${config.epochs}): OA ${pct(final.overallAccuracy)}%, AA ${pct(final.averageAccuracy)}%, kappa ${final.kappa.toFixed(4)} on ${final.count} test images.`,
      `Best epoch on the test split (reference only): ${bestRecord.epoch}, OA ${pct(best)}%. Mean epoch time ${meanEpochSeconds.toFixed(1)} s.`,
      `Precision: ${config.precision === 'fp32' ? 'fp32' : `${config.precision} mixed precision (float32 weights and losses)`}, ${config.channelsLast ? 'channels-last' : 'row-major'} activations.`,
      `Initialisation: ${pretrained ? `${String(pretrained.source)} (${String(pretrained.kind)}, ${String(pretrained.layout)} names${pretrained.batchNormCalibratedOn ? `, BatchNorm calibrated on ${String(pretrained.batchNormCalibratedOn)} training images` : ''})` : 'random'}.`,
      '',
      '| class | support | precision | recall | F1 |',
      '|---|---|---|---|---|',
      ...final.perClass.map(
        (c) =>
          `| ${markdownCell(c.name)} | ${c.support} | ${c.precision.toFixed(3)} | ${c.recall.toFixed(3)} | ${c.f1.toFixed(3)} |`,
      ),
      '',
      '![confusion matrix](confusion.svg)',
      '![training curves](curves.svg)',
      '',
    ].join('\n'),
  );
}

/** A tensor-free summary line of a finished run, for the CLI. */
export function summarize(result: { out: string; interrupted: boolean; final?: Metrics }): string {
  if (!result.final)
    return result.interrupted
      ? `interrupted; resume with: dsdnet train --resume --out ${result.out}`
      : `stopped; resume with: dsdnet train --resume --out ${result.out}`;
  const m = result.final;
  return `final: OA ${(100 * m.overallAccuracy).toFixed(2)}%  AA ${(100 * m.averageAccuracy).toFixed(2)}%  kappa ${m.kappa.toFixed(4)}  (report: ${join(result.out, 'report.md')})`;
}
