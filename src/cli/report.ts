// `dsdnet report RUN...`: final-epoch OA, AA and kappa of finished runs and their best epoch's OA, as mean +- std over
// the runs (seeds), with the median epoch time, grouped by setting (dataset, split, size, backbone, initialisation, epochs, precision)
// and within it by method and options; then each variant paired with plain training seed by seed, and runs in bf16
// with their float32 twins.
import { existsSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';

import type { Command } from 'commander';

import {
  aggregateRuns,
  pairedTable,
  pairWithFloat32,
  pairWithPlain,
  precisionTable,
  type RunSummary,
  VARIANT_TABLE_NOTE,
  variantTable,
} from '../eval/index.js';
import type { TrainConfig } from '../trained/index.js';

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

export function registerReportCommand(program: Command): void {
  program
    .command('report')
    .argument('<runs...>', 'finished run folders')
    .option('--json', 'print JSON')
    .description('mean +- std of final OA, AA and kappa, and of best-epoch OA, over runs (seeds), per method variant')
    .action((runs: string[], flags: { json?: boolean }) => {
      const reports = runs.map((run) => {
        const file = join(run, 'report.json');
        if (!existsSync(file)) throw new Error(`${run}: no report.json (the run has not finished)`);
        const configFile = join(run, 'config.json');
        const config = existsSync(configFile)
          ? (JSON.parse(readFileSync(configFile, 'utf8')) as Partial<TrainConfig>)
          : {};
        const split =
          config.split === undefined
            ? undefined
            : 'ratio' in config.split
              ? `ratio ${config.split.ratio}`
              : `split ${basename(config.split.file)}`;
        const metrics = join(run, 'metrics.jsonl');
        const epochSeconds = existsSync(metrics)
          ? readFileSync(metrics, 'utf8')
              .split('\n')
              .filter((l) => l.trim() !== '')
              .map((l) => (JSON.parse(l) as { seconds: number }).seconds)
          : [];
        const summary: RunSummary = {
          ...(JSON.parse(readFileSync(file, 'utf8')) as RunSummary),
          seed: config.seed,
          size: config.size,
          split,
          bottleneckStride: config.bottleneckStride,
        };
        return { ...summary, medianEpochSeconds: epochSeconds.length > 0 ? median(epochSeconds) : undefined };
      });
      const rows = aggregateRuns(reports);
      const paired = pairWithPlain(reports);
      const precisions = pairWithFloat32(reports);
      if (flags.json)
        return console.log(
          JSON.stringify({ variants: rows, pairedWithPlain: paired, pairedWithFloat32: precisions }, null, 1),
        );
      const settings = [...new Set(rows.map((r) => r.setting))];
      console.log(
        `Runs are compared within a setting (dataset, split, input size, backbone, initialisation, epochs, precision): ${settings.length} here.\n${VARIANT_TABLE_NOTE}`,
      );
      for (const setting of settings) {
        console.log(`\n### ${setting}\n\n${variantTable(rows.filter((r) => r.setting === setting))}`);
        const pairs = paired.filter((p) => p.setting === setting);
        if (pairs.length > 0)
          console.log(
            `\nPaired with plain training seed by seed (same split and initialisation):\n\n${pairedTable(pairs)}`,
          );
      }
      if (precisions.length > 0)
        console.log(
          `\n### Precision: each variant paired with its float32 runs seed by seed\n\n${precisionTable(precisions)}`,
        );
    });
}
