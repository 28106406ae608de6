// `dsdnet report RUN...`: final-epoch OA, AA and kappa of finished runs, as mean +- std over the runs (seeds),
// with the mean epoch time, grouped by method and options.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import type { Command } from 'commander';

import { meanStd } from '../eval/index.js';

interface RunReport {
  method: string;
  backbone: string;
  methodOptions?: Record<string, unknown>;
  final: { overallAccuracy: number; averageAccuracy: number; kappa: number };
  meanEpochSeconds: number;
}

function variant(r: RunReport): string {
  if (r.method === 'plain' || !r.methodOptions) return `${r.method} ${r.backbone}`;
  const o = r.methodOptions;
  const switches = r.method === 'dsd' ? `distill ${o.distill}, condition ${o.condition}, ${o.ddimSteps} DDIM steps, ` : '';
  return `${r.method} ${r.backbone} (${switches}entropy ${o.entropyWeight})`;
}

export function registerReportCommand(program: Command): void {
  program
    .command('report')
    .argument('<runs...>', 'finished run folders')
    .option('--json', 'print JSON')
    .description('mean +- std of final OA, AA and kappa over runs (seeds), per method variant')
    .action((runs: string[], flags: { json?: boolean }) => {
      const groups = new Map<string, { runs: string[]; reports: RunReport[] }>();
      for (const run of runs) {
        const file = join(run, 'report.json');
        if (!existsSync(file)) throw new Error(`${run}: no report.json (the run has not finished)`);
        const report = JSON.parse(readFileSync(file, 'utf8')) as RunReport;
        const key = variant(report);
        const group = groups.get(key) ?? { runs: [], reports: [] };
        group.runs.push(run);
        group.reports.push(report);
        groups.set(key, group);
      }
      const rows = [...groups].map(([name, g]) => {
        const stat = (pick: (r: RunReport) => number): { mean: number; std: number } => meanStd(g.reports.map(pick));
        return {
          variant: name,
          runs: g.runs.length,
          oa: stat((r) => 100 * r.final.overallAccuracy),
          aa: stat((r) => 100 * r.final.averageAccuracy),
          kappa: stat((r) => r.final.kappa),
          epochSeconds: stat((r) => r.meanEpochSeconds),
        };
      });
      if (flags.json) return console.log(JSON.stringify(rows, null, 1));
      const pm = (s: { mean: number; std: number }, digits: number): string => `${s.mean.toFixed(digits)} +- ${s.std.toFixed(digits)}`;
      console.log('| variant | runs | OA (%) | AA (%) | kappa | s / epoch |\n|---|---|---|---|---|---|');
      for (const r of rows) console.log(`| ${r.variant} | ${r.runs} | ${pm(r.oa, 2)} | ${pm(r.aa, 2)} | ${pm(r.kappa, 4)} | ${r.epochSeconds.mean.toFixed(1)} |`);
    });
}
