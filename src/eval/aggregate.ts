// Runs (seeds) of the same method variant, aggregated: mean +- sample std of the final OA, AA and kappa, and the
// epoch time (each run's median epoch when its per-epoch times are known: a few epochs slowed by other jobs on the
// machine do not move it), with each variant's epoch time relative to plain training's; and each variant paired seed by seed
// with plain training (same split, same initialisation), the comparison that seed noise does not blur.
import { meanStd } from './metrics.js';

/** The part of a run's report.json that aggregation reads. */
export interface RunSummary {
  method: string;
  backbone: string;
  methodOptions?: Record<string, unknown>;
  /** 'fp32' or 'bf16'; reports written before mixed precision existed are fp32. */
  precision?: string;
  final: { overallAccuracy: number; averageAccuracy: number; kappa: number };
  meanEpochSeconds: number;
  /** The median of the run's epoch times (steps only), where its metrics.jsonl was read. */
  medianEpochSeconds?: number;
  /** The run's seed (split and initialisation), from its config.json; runs without one are not paired. */
  seed?: number;
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
  /** Mean epoch time over the plain variant's of the same backbone and precision; null without such a variant. */
  epochVsPlain: number | null;
}

const METHOD_ORDER = ['plain', 'sd', 'dsd'];

/** Plain first, then sd, then dsd; variants of a method by name. */
function byVariant(a: { method: string; variant: string }, b: { method: string; variant: string }): number {
  const rank = (m: string): number => (METHOD_ORDER.includes(m) ? METHOD_ORDER.indexOf(m) : METHOD_ORDER.length);
  return rank(a.method) - rank(b.method) || (a.variant < b.variant ? -1 : a.variant > b.variant ? 1 : 0);
}

/** What a variant is compared within: the backbone, and the precision when it is not float32. */
function settingOf(r: RunSummary): string {
  return r.precision !== undefined && r.precision !== 'fp32' ? `${r.backbone} ${r.precision}` : r.backbone;
}

export function variantName(r: RunSummary): string {
  if (r.method === 'plain' || !r.methodOptions) return `${r.method} ${settingOf(r)}`;
  const o = r.methodOptions;
  const switches = r.method === 'dsd' ? `distill ${o.distill}, condition ${o.condition}, ${o.ddimSteps} DDIM steps, ` : '';
  return `${r.method} ${settingOf(r)} (${switches}entropy ${o.entropyWeight})`;
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
      setting: settingOf(runs[0]),
      runs: runs.length,
      oa: stat((r) => 100 * r.final.overallAccuracy),
      aa: stat((r) => 100 * r.final.averageAccuracy),
      kappa: stat((r) => r.final.kappa),
      epochSeconds: stat((r) => r.medianEpochSeconds ?? r.meanEpochSeconds),
    };
  });
  rows.sort(byVariant);
  return rows.map(({ setting, ...row }) => {
    const plain = rows.find((p) => p.method === 'plain' && p.setting === setting);
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

export interface PairedRow {
  variant: string;
  /** Seeds run by both this variant and plain training, ascending. */
  seeds: number[];
  /** OA of the variant minus plain's, in points, per seed. */
  differences: number[];
  difference: MeanStd;
  wins: number;
  losses: number;
}

/** Every non-plain variant against plain training of the same backbone and precision, on the seeds both have. */
export function pairWithPlain(reports: readonly RunSummary[]): PairedRow[] {
  const plainOa = new Map(reports.filter((r) => r.method === 'plain' && r.seed !== undefined).map((r) => [`${settingOf(r)}/${r.seed}`, 100 * r.final.overallAccuracy]));
  const rows = new Map<string, { method: string; pairs: { seed: number; difference: number }[] }>();
  for (const r of reports) {
    const plain = plainOa.get(`${settingOf(r)}/${r.seed}`);
    if (r.method === 'plain' || r.seed === undefined || plain === undefined) continue;
    const name = variantName(r);
    const row = rows.get(name) ?? { method: r.method, pairs: [] };
    row.pairs.push({ seed: r.seed, difference: 100 * r.final.overallAccuracy - plain });
    rows.set(name, row);
  }
  return [...rows]
    .map(([variant, { method, pairs }]) => ({ variant, method, pairs: pairs.sort((a, b) => a.seed - b.seed) }))
    .sort(byVariant)
    .map(({ variant, pairs }) => {
      const differences = pairs.map((p) => p.difference);
      return { variant, seeds: pairs.map((p) => p.seed), differences, difference: meanStd(differences), wins: differences.filter((d) => d > 1e-9).length, losses: differences.filter((d) => d < -1e-9).length };
    });
}

/** The paired comparison as a markdown table. */
export function pairedTable(rows: readonly PairedRow[]): string {
  const signed = (v: number): string => `${v >= 0 ? '+' : ''}${v.toFixed(2)}`;
  const lines = ['| variant | seeds | OA - plain per seed (points) | mean +- std | better / worse |', '|---|---|---|---|---|'];
  for (const r of rows) {
    lines.push(`| ${r.variant} | ${r.seeds.join(', ')} | ${r.differences.map(signed).join(', ')} | ${signed(r.difference.mean)} +- ${r.difference.std.toFixed(2)} | ${r.wins} / ${r.losses} |`);
  }
  return lines.join('\n');
}
