// `dsdnet report RUN...`: final-epoch OA, AA and kappa of finished runs, as mean +- std over the runs (seeds),
// with the mean epoch time, grouped by method and options.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import type { Command } from 'commander';

import { aggregateRuns, type RunSummary, variantTable } from '../eval/index.js';

export function registerReportCommand(program: Command): void {
  program
    .command('report')
    .argument('<runs...>', 'finished run folders')
    .option('--json', 'print JSON')
    .description('mean +- std of final OA, AA and kappa over runs (seeds), per method variant')
    .action((runs: string[], flags: { json?: boolean }) => {
      const reports = runs.map((run) => {
        const file = join(run, 'report.json');
        if (!existsSync(file)) throw new Error(`${run}: no report.json (the run has not finished)`);
        return JSON.parse(readFileSync(file, 'utf8')) as RunSummary;
      });
      const rows = aggregateRuns(reports);
      console.log(flags.json ? JSON.stringify(rows, null, 1) : variantTable(rows));
    });
}
