// The map's colours (one per class, in its colour table) and its PNG preview: the map scaled down, a legend of class
// colours and names beside it.
import sharp from 'sharp';

import { writeFileAtomic } from '../io/index.js';
import { NODATA_CLASS } from './grid.js';

export type Rgb = [number, number, number];

/** Nodata is shown black; it is transparent in GIS tools that honour GDAL_NODATA. */
const NODATA_COLOUR: Rgb = [0, 0, 0];

function hslToRgb(h: number, s: number, l: number): Rgb {
  const f = (n: number): number => {
    const k = (n + h / 30) % 12;
    return Math.round(255 * (l - s * Math.min(l, 1 - l) * Math.max(-1, Math.min(k - 3, 9 - k, 1))));
  };
  return [f(0), f(8), f(4)];
}

/** Distinct colours: hues a golden angle apart, lightness alternating so neighbours in the list differ. */
export function classColours(count: number): Rgb[] {
  return Array.from({ length: count }, (_, i) => hslToRgb((i * 137.508) % 360, 0.65, i % 2 === 0 ? 0.5 : 0.65));
}

/** The 256-entry colour table: the classes' colours, black elsewhere (nodata included). */
export function colourTable(colours: readonly Rgb[]): Rgb[] {
  return Array.from({ length: 256 }, (_, i) => (i < colours.length && i !== NODATA_CLASS ? colours[i] : NODATA_COLOUR));
}

const escapeXml = (text: string): string => text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** Writes the preview PNG: `classes` (width x height class indices, already scaled down) and the legend. */
export async function writePreview(
  path: string,
  classes: Uint8Array,
  width: number,
  height: number,
  names: readonly string[],
  colours: readonly Rgb[],
): Promise<void> {
  const table = colourTable(colours);
  const rgb = Buffer.alloc(width * height * 3);
  for (let p = 0; p < classes.length; p++) rgb.set(table[classes[p]], p * 3);
  const row = 22;
  const legendWidth = 24 + 8 * Math.max(...names.map((n) => n.length), 6);
  const entries = [
    ...names.map((name, i) => ({ name, colour: colours[i] })),
    { name: 'nodata', colour: NODATA_COLOUR },
  ];
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${legendWidth}" height="${row * entries.length + 8}">${entries
    .map(
      ({ name, colour }, i) =>
        `<rect x="4" y="${6 + i * row}" width="14" height="14" fill="rgb(${colour.join(',')})" stroke="#444"/><text x="24" y="${18 + i * row}" font-family="DejaVu Sans, sans-serif" font-size="13">${escapeXml(name)}</text>`,
    )
    .join('')}</svg>`;
  const legend = await sharp(Buffer.from(svg)).png().toBuffer();
  const legendHeight = row * entries.length + 8;
  const png = await sharp({
    create: { width: width + legendWidth, height: Math.max(height, legendHeight), channels: 3, background: '#ffffff' },
  })
    .composite([
      { input: rgb, raw: { width, height, channels: 3 }, left: 0, top: 0 },
      { input: legend, left: width, top: 0 },
    ])
    .png()
    .toBuffer();
  writeFileAtomic(path, [png]);
}
