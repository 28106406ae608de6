// Runs are compared only within a setting: the same dataset, split, input size, backbone (and its stride placement),
// initialisation, epochs and precision; what may differ is the method, its options and the seed. Within a setting, runs (seeds) of the same
// method variant are aggregated: mean +- sample std of the final OA, AA and kappa, of the best epoch's OA (the
// highest test OA over the epochs, which the authors' code reports: chosen on the test split, so optimistic), and the
// epoch time (each run's median epoch when its per-epoch times are known: a few epochs slowed by other jobs on the
// machine do not move it), with each variant's epoch time relative to plain training's; and each variant paired seed by seed
// with plain training (same split, same initialisation), the comparison that seed noise does not blur. Runs in a
// 16-bit precision are also paired seed by seed with the float32 runs of the same variant and otherwise same setting.
import { basename } from 'node:path';

import { meanStd } from './metrics.js';

/** The part of a run's report.json that aggregation reads. */
export interface RunSummary {
  method: string;
  backbone: string;
  methodOptions?: Record<string, unknown>;
  /** 'fp32' or 'bf16'; reports written before mixed precision existed are fp32. */
  precision?: string;
  final: { overallAccuracy: number; averageAccuracy: number; kappa: number };
  /** The epoch with the highest test OA, and that OA. */
  bestEpoch?: { epoch: number; overallAccuracy: number };
  meanEpochSeconds: number;
  /** The median of the run's epoch times (steps only), where its metrics.jsonl was read. */
  medianEpochSeconds?: number;
  /** The run's seed (split and initialisation), from its config.json; runs without one are not paired. */
  seed?: number;
  /** Dataset folder, epochs and initialisation, from report.json. */
  dataset?: string;
  epochs?: number;
  pretrained?: { source?: string } | null;
  /** Input size, split ('ratio 0.8' or the split file) and ResNet-50's stride placement, from config.json. */
  size?: number;
  split?: string;
  bottleneckStride?: string;
}

/** The setting a run belongs to, in words: everything runs must share to be compared. */
export function settingOf(r: RunSummary): string {
  const parts = [
    r.dataset === undefined ? 'dataset unknown' : basename(r.dataset),
    r.split ?? 'split unknown',
    r.size === undefined ? 'size unknown' : `${r.size} px`,
    r.bottleneckStride === '1x1' ? `${r.backbone} (v1: strides on 1x1)` : r.backbone,
    r.pretrained?.source ? `from ${basename(r.pretrained.source)}` : 'from scratch',
    r.epochs === undefined ? 'epochs unknown' : `${r.epochs} epochs`,
    r.precision ?? 'fp32',
  ];
  return parts.join(', ');
}

type MeanStd = { mean: number; std: number };

export interface VariantRow {
  setting: string;
  variant: string;
  method: string;
  runs: number;
  /** Percent. */
  oa: MeanStd;
  /** Percent: each run's highest test OA over its epochs; null where a run's report does not name its best epoch. */
  bestEpochOa: MeanStd | null;
  aa: MeanStd;
  kappa: MeanStd;
  epochSeconds: MeanStd;
  /** Mean epoch time over the plain variant's of the same setting; null without such a variant. */
  epochVsPlain: number | null;
}

const METHOD_ORDER = ['plain', 'sd', 'dsd'];

/** Plain first, then sd, then dsd; variants of a method by name. */
function byVariant(a: { method: string; variant: string }, b: { method: string; variant: string }): number {
  const rank = (m: string): number => (METHOD_ORDER.includes(m) ? METHOD_ORDER.indexOf(m) : METHOD_ORDER.length);
  return rank(a.method) - rank(b.method) || (a.variant < b.variant ? -1 : a.variant > b.variant ? 1 : 0);
}

/** The backbone, and the precision when it is not float32: what a variant's name shows of its setting. */
function shortSetting(r: RunSummary): string {
  return r.precision !== undefined && r.precision !== 'fp32' ? `${r.backbone} ${r.precision}` : r.backbone;
}

export function variantName(r: RunSummary): string {
  if (r.method === 'plain' || !r.methodOptions) return `${r.method} ${shortSetting(r)}`;
  const o = r.methodOptions;
  const switches =
    r.method === 'dsd' ? `distill ${o.distill}, condition ${o.condition}, ${o.ddimSteps} DDIM steps, ` : '';
  return `${r.method} ${shortSetting(r)} (${switches}entropy ${o.entropyWeight})`;
}

/** One row per setting and variant; within a setting plain first, then sd, then dsd (variants of a method by name). */
export function aggregateRuns(reports: readonly RunSummary[]): VariantRow[] {
  const groups = new Map<string, RunSummary[]>();
  for (const r of reports) {
    const key = `${settingOf(r)}\n${variantName(r)}`;
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  const rows = [...groups.values()].map((runs) => {
    const stat = (pick: (r: RunSummary) => number): MeanStd => meanStd(runs.map(pick));
    return {
      variant: variantName(runs[0]),
      method: runs[0].method,
      setting: settingOf(runs[0]),
      runs: runs.length,
      oa: stat((r) => 100 * r.final.overallAccuracy),
      bestEpochOa: runs.every((r) => r.bestEpoch !== undefined)
        ? stat((r) => 100 * r.bestEpoch!.overallAccuracy)
        : null,
      aa: stat((r) => 100 * r.final.averageAccuracy),
      kappa: stat((r) => r.final.kappa),
      epochSeconds: stat((r) => r.medianEpochSeconds ?? r.meanEpochSeconds),
    };
  });
  const settings = [...new Set(rows.map((r) => r.setting))];
  rows.sort((a, b) => settings.indexOf(a.setting) - settings.indexOf(b.setting) || byVariant(a, b));
  return rows.map((row) => {
    const plain = rows.find((p) => p.method === 'plain' && p.setting === row.setting);
    return { ...row, epochVsPlain: plain ? row.epochSeconds.mean / plain.epochSeconds.mean : null };
  });
}

/** What the variant table's columns hold, for a line under it. */
export const VARIANT_TABLE_NOTE =
  "OA, AA and kappa are the final epoch's; best-epoch OA is each run's highest test OA over its epochs, the figure the authors' code reports (chosen on the test split, so optimistic).";

/** The rows as a markdown table; a single run shows its value without a spread. */
export function variantTable(rows: readonly VariantRow[]): string {
  const show = (s: MeanStd, runs: number, digits: number): string =>
    runs > 1 ? `${s.mean.toFixed(digits)} +- ${s.std.toFixed(digits)}` : s.mean.toFixed(digits);
  const lines = [
    '| variant | runs | OA (%) | best-epoch OA (%) | AA (%) | kappa | s / epoch | epoch / plain |',
    '|---|---|---|---|---|---|---|---|',
  ];
  for (const r of rows) {
    const ratio = r.epochVsPlain === null ? '' : `${r.epochVsPlain.toFixed(2)}x`;
    const best = r.bestEpochOa === null ? '' : show(r.bestEpochOa, r.runs, 2);
    lines.push(
      `| ${r.variant} | ${r.runs} | ${show(r.oa, r.runs, 2)} | ${best} | ${show(r.aa, r.runs, 2)} | ${show(r.kappa, r.runs, 4)} | ${r.epochSeconds.mean.toFixed(1)} | ${ratio} |`,
    );
  }
  return lines.join('\n');
}

export interface PairedRow {
  setting: string;
  variant: string;
  /** Seeds run by both this variant and plain training, ascending. */
  seeds: number[];
  /** OA of the variant minus plain's, in points, per seed. */
  differences: number[];
  difference: MeanStd;
  wins: number;
  losses: number;
  /** Best-epoch OA of the variant minus plain's, in points, over the same seeds; null where a run does not name it. */
  bestEpochDifference: MeanStd | null;
}

/** Every non-plain variant against plain training of the same setting, on the seeds both have. */
export function pairWithPlain(reports: readonly RunSummary[]): PairedRow[] {
  const plainRuns = new Map(
    reports.filter((r) => r.method === 'plain' && r.seed !== undefined).map((r) => [`${settingOf(r)}\n${r.seed}`, r]),
  );
  const bestOa = (r: RunSummary): number | undefined =>
    r.bestEpoch === undefined ? undefined : 100 * r.bestEpoch.overallAccuracy;
  const rows = new Map<
    string,
    {
      setting: string;
      variant: string;
      method: string;
      pairs: { seed: number; difference: number; bestDifference?: number }[];
    }
  >();
  for (const r of reports) {
    const plain = plainRuns.get(`${settingOf(r)}\n${r.seed}`);
    if (r.method === 'plain' || r.seed === undefined || plain === undefined) continue;
    const [setting, variant] = [settingOf(r), variantName(r)];
    const row = rows.get(`${setting}\n${variant}`) ?? { setting, variant, method: r.method, pairs: [] };
    const [best, plainBest] = [bestOa(r), bestOa(plain)];
    row.pairs.push({
      seed: r.seed,
      difference: 100 * (r.final.overallAccuracy - plain.final.overallAccuracy),
      bestDifference: best === undefined || plainBest === undefined ? undefined : best - plainBest,
    });
    rows.set(`${setting}\n${variant}`, row);
  }
  const settings = [...new Set(reports.map(settingOf))];
  return [...rows.values()]
    .sort((a, b) => settings.indexOf(a.setting) - settings.indexOf(b.setting) || byVariant(a, b))
    .map(({ setting, variant, pairs }) => {
      const sorted = pairs.sort((a, b) => a.seed - b.seed);
      const differences = sorted.map((p) => p.difference);
      const bestDifferences = sorted.flatMap((p) => (p.bestDifference === undefined ? [] : [p.bestDifference]));
      return {
        setting,
        variant,
        seeds: sorted.map((p) => p.seed),
        differences,
        difference: meanStd(differences),
        wins: differences.filter((d) => d > 1e-9).length,
        losses: differences.filter((d) => d < -1e-9).length,
        bestEpochDifference: bestDifferences.length === sorted.length ? meanStd(bestDifferences) : null,
      };
    });
}

/** The paired comparison as a markdown table. */
export function pairedTable(rows: readonly PairedRow[]): string {
  const signed = (v: number): string => `${v >= 0 ? '+' : ''}${v.toFixed(2)}`;
  const lines = [
    '| variant | seeds | OA - plain per seed (points) | mean +- std | better / worse | best-epoch OA - plain |',
    '|---|---|---|---|---|---|',
  ];
  for (const r of rows) {
    const best = r.bestEpochDifference;
    lines.push(
      `| ${r.variant} | ${r.seeds.join(', ')} | ${r.differences.map(signed).join(', ')} | ${signed(r.difference.mean)} +- ${r.difference.std.toFixed(2)} | ${r.wins} / ${r.losses} | ${best === null ? '' : `${signed(best.mean)} +- ${best.std.toFixed(2)}`} |`,
    );
  }
  return lines.join('\n');
}

export interface PrecisionRow {
  /** The setting without its precision. */
  setting: string;
  /** The variant as its float32 runs name it. */
  variant: string;
  method: string;
  precision: string;
  /** Seeds run in both precisions, ascending. */
  seeds: number[];
  /** Percent OA over those seeds, in float32 and in the lower precision. */
  fp32: MeanStd;
  lower: MeanStd;
  /** OA in the lower precision minus float32's, in points, per seed. */
  differences: number[];
  difference: MeanStd;
  /** Whether the difference of the means is no larger than float32's seed spread (its sample std). */
  withinSeedSpread: boolean;
}

/** Every run in a precision other than fp32 against the fp32 run of the same variant, setting and seed. */
export function pairWithFloat32(reports: readonly RunSummary[]): PrecisionRow[] {
  // A run's setting and variant as its float32 twin names them.
  const asFloat32 = (r: RunSummary): RunSummary => ({ ...r, precision: 'fp32' });
  const isFloat32 = (r: RunSummary): boolean => (r.precision ?? 'fp32') === 'fp32';
  const key = (r: RunSummary): string => `${settingOf(asFloat32(r))}\n${variantName(asFloat32(r))}`;
  const fp32 = new Map(
    reports
      .filter((r) => isFloat32(r) && r.seed !== undefined)
      .map((r) => [`${key(r)}\n${r.seed}`, 100 * r.final.overallAccuracy]),
  );
  const settings = [...new Set(reports.map((r) => settingOf(asFloat32(r))))];
  const rows = new Map<string, { run: RunSummary; pairs: { seed: number; fp32: number; lower: number }[] }>();
  for (const r of reports) {
    if (isFloat32(r) || r.seed === undefined) continue;
    const reference = fp32.get(`${key(r)}\n${r.seed}`);
    if (reference === undefined) continue;
    const rowKey = `${key(r)}\n${r.precision}`;
    const row = rows.get(rowKey) ?? { run: r, pairs: [] };
    row.pairs.push({ seed: r.seed, fp32: reference, lower: 100 * r.final.overallAccuracy });
    rows.set(rowKey, row);
  }
  return [...rows.values()]
    .map(({ run, pairs }) => {
      const sorted = pairs.sort((a, b) => a.seed - b.seed);
      const [reference, lower] = [meanStd(sorted.map((p) => p.fp32)), meanStd(sorted.map((p) => p.lower))];
      const differences = sorted.map((p) => p.lower - p.fp32);
      const setting = settingOf(asFloat32(run));
      return {
        order: settings.indexOf(setting),
        setting: setting.replace(/, fp32$/, ''),
        variant: variantName(asFloat32(run)),
        method: run.method,
        precision: run.precision ?? 'fp32',
        seeds: sorted.map((p) => p.seed),
        fp32: reference,
        lower,
        differences,
        difference: meanStd(differences),
        withinSeedSpread: Math.abs(lower.mean - reference.mean) <= reference.std + 1e-9,
      };
    })
    .sort((a, b) => a.order - b.order || byVariant(a, b))
    .map(({ order: _order, ...row }) => row);
}

/** The precision comparison as a markdown table. */
export function precisionTable(rows: readonly PrecisionRow[]): string {
  const signed = (v: number): string => `${v >= 0 ? '+' : ''}${v.toFixed(2)}`;
  const show = (s: MeanStd, runs: number): string =>
    runs > 1 ? `${s.mean.toFixed(2)} +- ${s.std.toFixed(2)}` : s.mean.toFixed(2);
  const lines = [
    '| setting | variant | precision | seeds | OA fp32 (%) | OA (%) | OA - fp32 per seed (points) | mean +- std | within fp32 seed spread |',
    '|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of rows) {
    const n = r.seeds.length;
    lines.push(
      `| ${r.setting} | ${r.variant} | ${r.precision} | ${r.seeds.join(', ')} | ${show(r.fp32, n)} | ${show(r.lower, n)} | ${r.differences.map(signed).join(', ')} | ${signed(r.difference.mean)} +- ${r.difference.std.toFixed(2)} | ${n > 1 ? (r.withinSeedSpread ? 'yes' : 'no') : ''} |`,
    );
  }
  return lines.join('\n');
}
