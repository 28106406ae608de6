// Pictures of results, made with Vega-Lite (rendered headless to SVG; PNG through sharp): the confusion-matrix heat
// map and the training curves.
import { writeFileSync } from 'node:fs';

import sharp from 'sharp';
import type { TopLevelSpec } from 'vega-lite';

import type { Metrics } from './metrics.js';

export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  // Loaded on first use: Vega takes a third of a second to load, which every command would otherwise pay at start.
  const [vega, { compile }] = await Promise.all([import('vega'), import('vega-lite')]);
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  return svg;
}

/** Writes `<base>.svg` and `<base>.png` (at 2x). */
export async function writeChart(spec: TopLevelSpec, base: string): Promise<void> {
  const svg = await renderSvg(spec);
  writeFileSync(`${base}.svg`, svg);
  await sharp(Buffer.from(svg), { density: 144 }).png().toFile(`${base}.png`);
}

export function confusionSpec(metrics: Metrics, title: string): TopLevelSpec {
  const names = metrics.perClass.map((c) => c.name);
  const values = metrics.confusion.flatMap((row, i) => {
    const total = row.reduce((a, b) => a + b, 0);
    return row.map((count, j) => ({
      truth: names[i],
      predicted: names[j],
      count,
      share: total === 0 ? 0 : count / total,
    }));
  });
  const cell = Math.max(14, Math.min(32, Math.floor(640 / Math.max(names.length, 1))));
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: `${title} (OA ${(100 * metrics.overallAccuracy).toFixed(2)}%, AA ${(100 * metrics.averageAccuracy).toFixed(2)}%, kappa ${metrics.kappa.toFixed(4)})`,
    data: { values },
    width: cell * names.length,
    height: cell * names.length,
    encoding: {
      x: { field: 'predicted', type: 'nominal', sort: names, title: 'predicted class', axis: { labelAngle: -45 } },
      y: { field: 'truth', type: 'nominal', sort: names, title: 'true class' },
    },
    layer: [
      {
        mark: 'rect',
        encoding: {
          color: {
            field: 'share',
            type: 'quantitative',
            title: 'share of row',
            scale: { scheme: 'blues', domain: [0, 1] },
          },
        },
      },
      {
        mark: { type: 'text', fontSize: Math.max(7, cell / 3) },
        transform: [{ filter: 'datum.count > 0' }],
        encoding: {
          text: { field: 'count', type: 'quantitative' },
          color: { condition: { test: 'datum.share > 0.5', value: 'white' }, value: 'black' },
        },
      },
    ],
  } as TopLevelSpec;
}

export interface EpochPoint {
  epoch: number;
  trainLoss: number;
  trainAccuracy: number;
  testAccuracy?: number;
}

export function curvesSpec(points: readonly EpochPoint[], title: string): TopLevelSpec {
  const values = points.flatMap((p) => [
    { epoch: p.epoch, panel: 'loss', series: 'train loss', value: p.trainLoss },
    { epoch: p.epoch, panel: 'accuracy (%)', series: 'train accuracy', value: 100 * p.trainAccuracy },
    ...(p.testAccuracy === undefined
      ? []
      : [{ epoch: p.epoch, panel: 'accuracy (%)', series: 'test OA', value: 100 * p.testAccuracy }]),
  ]);
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title,
    data: { values },
    facet: { row: { field: 'panel', type: 'nominal', title: null, sort: ['loss', 'accuracy (%)'] } },
    resolve: { scale: { y: 'independent' } },
    spec: {
      width: 480,
      height: 180,
      mark: { type: 'line', point: true },
      encoding: {
        x: { field: 'epoch', type: 'quantitative', title: 'epoch', axis: { tickMinStep: 1, format: 'd' } },
        y: { field: 'value', type: 'quantitative', title: null },
        color: { field: 'series', type: 'nominal', title: null },
      },
    },
  } as TopLevelSpec;
}
