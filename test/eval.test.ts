// Metrics against hand-computed values, CSV output, and charts rendered to SVG and PNG.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import {
  aggregateRuns,
  computeMetrics,
  confusionCsv,
  confusionSpec,
  curvesSpec,
  meanStd,
  metricsCsv,
  pairedTable,
  pairWithFloat32,
  pairWithPlain,
  precisionTable,
  type RunSummary,
  variantTable,
  writeChart,
} from '../src/eval/index.js';

test('OA, AA, kappa, per-class precision/recall/F1 and the confusion matrix', () => {
  const m = computeMetrics([0, 0, 1, 1, 2, 2, 2], [0, 1, 1, 1, 2, 0, 2], ['forest', 'harbor', 'runway']);
  assert.deepEqual(m.confusion, [
    [1, 1, 0],
    [0, 2, 0],
    [1, 0, 2],
  ]);
  assert.equal(m.overallAccuracy, 5 / 7);
  assert.ok(Math.abs(m.averageAccuracy - (0.5 + 1 + 2 / 3) / 3) < 1e-12);
  const pe = (2 * 2 + 2 * 3 + 3 * 2) / 49;
  assert.ok(Math.abs(m.kappa - (5 / 7 - pe) / (1 - pe)) < 1e-12);
  assert.deepEqual(m.perClass[1], { name: 'harbor', support: 2, precision: 2 / 3, recall: 1, f1: 0.8 });
  assert.equal(computeMetrics([0, 1], [0, 1], ['a', 'b']).kappa, 1);
  assert.throws(() => computeMetrics([0, 3], [0, 1], ['a', 'b']), /label 3 or prediction 1 outside 0\.\.1/);
  assert.match(metricsCsv(m), /^class,support,precision,recall,f1\nforest,2,0\.500000,0\.500000,0\.500000\n/);
  assert.match(confusionCsv(m), /^true\\predicted,forest,harbor,runway\nforest,1,1,0\n/);
  const { mean, std } = meanStd([0.8, 0.9, 1.0]);
  assert.ok(Math.abs(mean - 0.9) < 1e-12 && Math.abs(std - 0.1) < 1e-12);
});

test('runs aggregate per variant: mean +- sample std over seeds (final and best epoch), methods in order, epoch time relative to plain', () => {
  const run = (method: string, oa: number, seconds: number, entropyWeight = 0.5): RunSummary => ({
    method,
    backbone: 'resnet18',
    methodOptions:
      method === 'plain' ? undefined : { distill: 'soft-ce', condition: 'refined', ddimSteps: 5, entropyWeight },
    final: { overallAccuracy: oa, averageAccuracy: oa, kappa: oa - 0.01 },
    bestEpoch: { epoch: 20, overallAccuracy: oa + 0.02 },
    meanEpochSeconds: seconds,
  });
  const { bestEpoch: _best, ...older } = run('dsd', 0.9, 33, 0); // a report from before the best epoch was kept
  const rows = aggregateRuns([
    run('dsd', 0.8, 33),
    run('plain', 0.8, 29),
    older,
    run('plain', 0.9, 31),
    run('sd', 0.7, 28),
  ]);
  assert.deepEqual(
    rows.map((r) => [r.variant, r.runs]),
    [
      ['plain resnet18', 2],
      ['sd resnet18 (entropy 0.5)', 1],
      ['dsd resnet18 (distill soft-ce, condition refined, 5 DDIM steps, entropy 0)', 1],
      ['dsd resnet18 (distill soft-ce, condition refined, 5 DDIM steps, entropy 0.5)', 1],
    ],
  );
  assert.ok(Math.abs(rows[0].oa.mean - 85) < 1e-9 && Math.abs(rows[0].oa.std - Math.SQRT2 * 5) < 1e-9);
  assert.ok(
    Math.abs(rows[0].bestEpochOa!.mean - 87) < 1e-9 && Math.abs(rows[0].bestEpochOa!.std - Math.SQRT2 * 5) < 1e-9,
  );
  assert.equal(rows[2].bestEpochOa, null, 'unknown for a run whose report does not name its best epoch');
  assert.ok(Math.abs(rows[0].kappa.mean - 0.84) < 1e-12);
  assert.equal(rows[0].epochSeconds.mean, 30);
  assert.ok(Math.abs(rows[2].epochVsPlain! - 1.1) < 1e-12);
  const table = variantTable(rows).split('\n');
  assert.equal(
    table[0],
    '| variant | runs | OA (%) | best-epoch OA (%) | AA (%) | kappa | s / epoch | epoch / plain |',
  );
  assert.equal(
    table[2],
    '| plain resnet18 | 2 | 85.00 +- 7.07 | 87.00 +- 7.07 | 85.00 +- 7.07 | 0.8400 +- 0.0707 | 30.0 | 1.00x |',
  );
  assert.equal(table[3], '| sd resnet18 (entropy 0.5) | 1 | 70.00 | 72.00 | 70.00 | 0.6900 | 28.0 | 0.93x |');
  assert.equal(
    table[4],
    '| dsd resnet18 (distill soft-ce, condition refined, 5 DDIM steps, entropy 0) | 1 | 90.00 |  | 90.00 | 0.8900 | 33.0 | 1.10x |',
  );
});

test('runs pair with plain training seed by seed: differences in points, mean +- std, better / worse', () => {
  const run = (method: string, seed: number, oa: number): RunSummary => ({
    method,
    backbone: 'mobilenet_v2',
    methodOptions:
      method === 'plain' ? undefined : { distill: 'soft-ce', condition: 'refined', ddimSteps: 5, entropyWeight: 0.5 },
    final: { overallAccuracy: oa, averageAccuracy: oa, kappa: oa },
    meanEpochSeconds: 40,
    seed,
  });
  const paired = pairWithPlain([
    run('plain', 0, 0.98),
    run('dsd', 1, 0.97),
    run('plain', 1, 0.975),
    run('dsd', 0, 0.985),
    run('dsd', 2, 0.99),
  ]);
  assert.equal(paired.length, 1);
  assert.deepEqual(paired[0].seeds, [0, 1], 'seed 2 has no plain run to pair with');
  assert.deepEqual(
    paired[0].differences.map((d) => Number(d.toFixed(6))),
    [0.5, -0.5],
  );
  assert.equal(paired[0].wins, 1);
  assert.equal(paired[0].losses, 1);
  assert.ok(Math.abs(paired[0].difference.mean) < 1e-9 && Math.abs(paired[0].difference.std - Math.SQRT1_2) < 1e-9);
  assert.equal(
    pairedTable(paired).split('\n')[2],
    '| dsd mobilenet_v2 (distill soft-ce, condition refined, 5 DDIM steps, entropy 0.5) | 0, 1 | +0.50, -0.50 | +0.00 +- 0.71 | 1 / 1 |  |',
  );
  // Best-epoch OA is paired too, where every paired run names it.
  const best = (r: RunSummary, oa: number): RunSummary => ({ ...r, bestEpoch: { epoch: 3, overallAccuracy: oa } });
  const withBest = pairWithPlain([best(run('plain', 0, 0.98), 0.99), best(run('dsd', 0, 0.985), 0.985)]);
  assert.ok(Math.abs(withBest[0].bestEpochDifference!.mean + 0.5) < 1e-9);
  assert.match(pairedTable(withBest).split('\n')[2], /\| 1 \/ 0 \| -0\.50 \+- 0\.00 \|$/);
  assert.equal(pairWithPlain([best(run('plain', 0, 0.98), 0.99), run('dsd', 0, 0.985)])[0].bestEpochDifference, null);
  // bf16 runs are variants of their own, paired with bf16 plain runs only.
  const bf16 = (r: RunSummary): RunSummary => ({ ...r, precision: 'bf16', meanEpochSeconds: 20 });
  const mixed = pairWithPlain([run('plain', 0, 0.98), bf16(run('plain', 0, 0.97)), bf16(run('dsd', 0, 0.99))]);
  assert.deepEqual(
    mixed.map((r) => [r.variant, r.differences.map((d) => Number(d.toFixed(6)))]),
    [['dsd mobilenet_v2 bf16 (distill soft-ce, condition refined, 5 DDIM steps, entropy 0.5)', [2]]],
  );
  const rows = aggregateRuns([run('plain', 0, 0.98), bf16(run('plain', 0, 0.97)), bf16(run('dsd', 0, 0.99))]);
  assert.deepEqual(
    rows.map((r) => [r.variant, r.epochVsPlain]),
    [
      ['plain mobilenet_v2', 1],
      ['plain mobilenet_v2 bf16', 1],
      ['dsd mobilenet_v2 bf16 (distill soft-ce, condition refined, 5 DDIM steps, entropy 0.5)', 1],
    ],
  );
});

test('bf16 runs pair with the float32 runs of the same variant, setting and seed; the difference of means is set against the fp32 seed spread', () => {
  const run = (
    method: string,
    seed: number,
    oa: number,
    precision = 'fp32',
    extra: Partial<RunSummary> = {},
  ): RunSummary => ({
    method,
    backbone: 'resnet18',
    methodOptions:
      method === 'plain' ? undefined : { distill: 'soft-ce', condition: 'refined', ddimSteps: 5, entropyWeight: 0.5 },
    dataset: '/data/ucmerced',
    split: 'ratio 0.8',
    size: 128,
    epochs: 30,
    pretrained: null,
    precision,
    final: { overallAccuracy: oa, averageAccuracy: oa, kappa: oa },
    meanEpochSeconds: 30,
    seed,
    ...extra,
  });
  const reports = [
    run('dsd', 0, 0.83),
    run('dsd', 1, 0.82),
    run('dsd', 2, 0.845),
    run('dsd', 2, 0.85, 'bf16'),
    run('dsd', 0, 0.82, 'bf16'),
    run('dsd', 1, 0.83, 'bf16'),
    run('dsd', 3, 0.9, 'bf16'),
    run('plain', 0, 0.84),
    run('plain', 0, 0.7, 'bf16'),
    run('plain', 1, 0.5, 'bf16', { size: 224 }), // no fp32 run at 224 px: not paired
  ];
  const rows = pairWithFloat32(reports);
  assert.deepEqual(
    rows.map((r) => [r.setting, r.variant, r.precision, r.seeds]),
    [
      ['ucmerced, ratio 0.8, 128 px, resnet18, from scratch, 30 epochs', 'plain resnet18', 'bf16', [0]],
      [
        'ucmerced, ratio 0.8, 128 px, resnet18, from scratch, 30 epochs',
        'dsd resnet18 (distill soft-ce, condition refined, 5 DDIM steps, entropy 0.5)',
        'bf16',
        [0, 1, 2],
      ],
    ],
  );
  const dsd = rows[1];
  assert.deepEqual(
    dsd.differences.map((d) => Number(d.toFixed(6))),
    [-1, 1, 0.5],
  );
  assert.ok(Math.abs(dsd.fp32.mean - 83.1666667) < 1e-6 && Math.abs(dsd.lower.mean - 83.3333333) < 1e-6);
  assert.equal(dsd.withinSeedSpread, true, '+0.17 points against an fp32 std of 1.26');
  assert.equal(
    pairWithFloat32(
      reports.map((r) =>
        r.precision === 'bf16' && r.method === 'dsd'
          ? { ...r, final: { ...r.final, overallAccuracy: r.final.overallAccuracy - 0.02 } }
          : r,
      ),
    )[1].withinSeedSpread,
    false,
    '2 points lower is outside the spread',
  );
  assert.equal(
    precisionTable(rows).split('\n')[3],
    '| ucmerced, ratio 0.8, 128 px, resnet18, from scratch, 30 epochs | dsd resnet18 (distill soft-ce, condition refined, 5 DDIM steps, entropy 0.5) | bf16 | 0, 1, 2 | 83.17 +- 1.26 | 83.33 +- 1.53 | -1.00, +1.00, +0.50 | +0.17 +- 1.04 | yes |',
  );
  assert.equal(
    precisionTable(rows).split('\n')[2],
    '| ucmerced, ratio 0.8, 128 px, resnet18, from scratch, 30 epochs | plain resnet18 | bf16 | 0 | 84.00 | 70.00 | -14.00 | -14.00 +- 0.00 |  |',
    'a single seed shows no verdict',
  );
});

test('runs of different settings (dataset, split, size, backbone and its strides, initialisation, epochs) are never averaged or paired together', () => {
  const base: RunSummary = {
    method: 'plain',
    backbone: 'resnet18',
    dataset: '/data/ucmerced',
    split: 'ratio 0.8',
    size: 128,
    epochs: 30,
    pretrained: null,
    final: { overallAccuracy: 0.8, averageAccuracy: 0.8, kappa: 0.8 },
    meanEpochSeconds: 30,
    seed: 0,
  };
  const others: Partial<RunSummary>[] = [
    { dataset: '/data/aid' },
    { split: 'ratio 0.5' },
    { size: 224 },
    { backbone: 'resnet50' },
    { backbone: 'resnet50', bottleneckStride: '1x1' },
    { pretrained: { source: '/w/resnet18.pth' } },
    { epochs: 60 },
  ];
  const reports = [
    base,
    { ...base, seed: 1, final: { overallAccuracy: 0.9, averageAccuracy: 0.9, kappa: 0.9 } },
    ...others.map((o) => ({ ...base, ...o })),
  ];
  const rows = aggregateRuns(reports);
  assert.equal(rows.length, 8, 'one row per setting');
  assert.equal(rows[0].runs, 2, 'the two runs of the same setting average');
  assert.deepEqual(
    rows.map((r) => r.setting),
    [
      'ucmerced, ratio 0.8, 128 px, resnet18, from scratch, 30 epochs, fp32',
      'aid, ratio 0.8, 128 px, resnet18, from scratch, 30 epochs, fp32',
      'ucmerced, ratio 0.5, 128 px, resnet18, from scratch, 30 epochs, fp32',
      'ucmerced, ratio 0.8, 224 px, resnet18, from scratch, 30 epochs, fp32',
      'ucmerced, ratio 0.8, 128 px, resnet50, from scratch, 30 epochs, fp32',
      'ucmerced, ratio 0.8, 128 px, resnet50 (v1: strides on 1x1), from scratch, 30 epochs, fp32',
      'ucmerced, ratio 0.8, 128 px, resnet18, from resnet18.pth, 30 epochs, fp32',
      'ucmerced, ratio 0.8, 128 px, resnet18, from scratch, 60 epochs, fp32',
    ],
  );
  const dsd = {
    ...base,
    method: 'dsd',
    size: 224,
    methodOptions: { distill: 'soft-ce', condition: 'refined', ddimSteps: 5, entropyWeight: 0.5 },
  };
  assert.deepEqual(
    pairWithPlain([...reports, dsd]).map((p) => [p.setting, p.seeds]),
    [['ucmerced, ratio 0.8, 224 px, resnet18, from scratch, 30 epochs, fp32', [0]]],
    'paired only with plain of its own setting',
  );
});

test('charts: confusion heat map and training curves as SVG and PNG', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'dsdnet-charts-'));
  const m = computeMetrics([0, 1, 1], [0, 1, 0], ['forest', 'harbor']);
  await writeChart(confusionSpec(m, 'UCM test'), join(dir, 'confusion'));
  await writeChart(
    curvesSpec([{ epoch: 1, trainLoss: 2, trainAccuracy: 0.3, testAccuracy: 0.4 }], 'curves'),
    join(dir, 'curves'),
  );
  const svg = readFileSync(join(dir, 'confusion.svg'), 'utf8');
  assert.match(svg, /^<svg/);
  assert.match(svg, /forest/);
  assert.match(svg, /OA 66\.67%/);
  const png = readFileSync(join(dir, 'curves.png'));
  assert.deepEqual([...png.subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47]);
});
