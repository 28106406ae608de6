// Runs (seeds) of the same method variant, aggregated: mean +- sample std of the final OA, AA and kappa, and the
// mean epoch time, with each variant's epoch time relative to plain training's.
import { meanStd } from './metrics.js';

/** The part of a run's report.json that aggregation reads. */
export interface RunSummary {
  method: string;
  backbone: string;
  methodOptions?: Record<string, unknown>;
  final: { overallAccuracy: number; averageAccuracy: number; kappa: number };
  meanEpochSeconds: number;
}

type MeanStd = { mean: number; std: number };

export interface VariantRow {
  variant: string;
  method: string;
  runs: number;
  /** Percent. */
  oa: MeanStd;
  aa: MeanStd;
  kappa: MeanStd;
  epochSeconds: MeanStd;
  /** Mean epoch time over the plain variant's of the same backbone; null without such a variant. */
  epochVsPlain: number | null;
}

const METHOD_ORDER = ['plain', 'sd', 'dsd'];

export function variantName(r: RunSummary): string {
  if (r.method === 'plain' || !r.methodOptions) return `${r.method} ${r.backbone}`;
  const o = r.methodOptions;
  const switches = r.method === 'dsd' ? `distill ${o.distill}, condition ${o.condition}, ${o.ddimSteps} DDIM steps, ` : '';
  return `${r.method} ${r.backbone} (${switches}entropy ${o.entropyWeight})`;
}

/** One row per variant, plain first, then sd, then dsd (variants of a method by name). */
export function aggregateRuns(reports: readonly RunSummary[]): VariantRow[] {
  const groups = new Map<string, RunSummary[]>();
  for (const r of reports) {
    const name = variantName(r);
    groups.set(name, [...(groups.get(name) ?? []), r]);
  }
  const rows = [...groups].map(([variant, runs]) => {
    const stat = (pick: (r: RunSummary) => number): MeanStd => meanStd(runs.map(pick));
    return {
      variant,
      method: runs[0].method,
      backbone: runs[0].backbone,
      runs: runs.length,
      oa: stat((r) => 100 * r.final.overallAccuracy),
      aa: stat((r) => 100 * r.final.averageAccuracy),
      kappa: stat((r) => r.final.kappa),
      epochSeconds: stat((r) => r.meanEpochSeconds),
    };
  });
  const rank = (m: string): number => (METHOD_ORDER.includes(m) ? METHOD_ORDER.indexOf(m) : METHOD_ORDER.length);
  rows.sort((a, b) => rank(a.method) - rank(b.method) || (a.variant < b.variant ? -1 : a.variant > b.variant ? 1 : 0));
  return rows.map(({ backbone, ...row }) => {
    const plain = rows.find((p) => p.method === 'plain' && p.backbone === backbone);
    return { ...row, epochVsPlain: plain ? row.epochSeconds.mean / plain.epochSeconds.mean : null };
  });
}

/** The rows as a markdown table; a single run shows its value without a spread. */
export function variantTable(rows: readonly VariantRow[]): string {
  const show = (s: MeanStd, runs: number, digits: number): string => (runs > 1 ? `${s.mean.toFixed(digits)} +- ${s.std.toFixed(digits)}` : s.mean.toFixed(digits));
  const lines = ['| variant | runs | OA (%) | AA (%) | kappa | s / epoch | epoch / plain |', '|---|---|---|---|---|---|---|'];
  for (const r of rows) {
    const ratio = r.epochVsPlain === null ? '' : `${r.epochVsPlain.toFixed(2)}x`;
    lines.push(`| ${r.variant} | ${r.runs} | ${show(r.oa, r.runs, 2)} | ${show(r.aa, r.runs, 2)} | ${show(r.kappa, r.runs, 4)} | ${r.epochSeconds.mean.toFixed(1)} | ${ratio} |`);
  }
  return lines.join('\n');
}
