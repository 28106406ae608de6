// Metrics against hand-computed values, CSV output, and charts rendered to SVG and PNG.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import { computeMetrics, confusionCsv, confusionSpec, curvesSpec, meanStd, metricsCsv, writeChart } from '../src/eval/index.js';

test('OA, AA, kappa, per-class precision/recall/F1 and the confusion matrix', () => {
  const m = computeMetrics([0, 0, 1, 1, 2, 2, 2], [0, 1, 1, 1, 2, 0, 2], ['forest', 'harbor', 'runway']);
  assert.deepEqual(m.confusion, [[1, 1, 0], [0, 2, 0], [1, 0, 2]]);
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

test('charts: confusion heat map and training curves as SVG and PNG', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'dsdnet-charts-'));
  const m = computeMetrics([0, 1, 1], [0, 1, 0], ['forest', 'harbor']);
  await writeChart(confusionSpec(m, 'UCM test'), join(dir, 'confusion'));
  await writeChart(curvesSpec([{ epoch: 1, trainLoss: 2, trainAccuracy: 0.3, testAccuracy: 0.4 }], 'curves'), join(dir, 'curves'));
  const svg = readFileSync(join(dir, 'confusion.svg'), 'utf8');
  assert.match(svg, /^<svg/);
  assert.match(svg, /forest/);
  assert.match(svg, /OA 66\.67%/);
  const png = readFileSync(join(dir, 'curves.png'));
  assert.deepEqual([...png.subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47]);
});
