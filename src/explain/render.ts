// Pictures of class activation maps: a map laid over its image in the turbo colour map (Google's perceptually
// ordered rainbow, polynomial approximation by Mikhailov 2019), panels side by side with their titles, a colour bar,
// and a montage of several images, as PNG (sharp; titles as SVG text, rendered by librsvg).
import sharp, { type OverlayOptions } from 'sharp';

/** Turbo's colour of v in 0..1, as 0..255 RGB. */
export function turbo(v: number): [number, number, number] {
  const x = Math.min(1, Math.max(0, v));
  const channel = (c: number[]): number =>
    Math.round(255 * Math.min(1, Math.max(0, c[0] + x * (c[1] + x * (c[2] + x * (c[3] + x * (c[4] + x * c[5])))))));
  return [
    channel([0.13572138, 4.6153926, -42.66032258, 132.13108234, -152.94239396, 59.28637943]),
    channel([0.09140261, 2.19418839, 4.84296658, -14.18503333, 4.27729857, 2.82956604]),
    channel([0.1066733, 12.64194608, -60.58204836, 110.36276771, -89.90310912, 27.34824973]),
  ];
}

/** The image (size x size RGB) with the map (size x size, any scale) over it: the map scaled to its maximum, blended at `alpha`. */
export function overlay(rgb: Uint8Array, map: Float32Array, size: number, alpha = 0.5): Uint8Array {
  const max = map.reduce((m, v) => Math.max(m, v), 0);
  const out = new Uint8Array(size * size * 3);
  for (let p = 0; p < size * size; p++) {
    const colour = turbo(max > 0 ? map[p] / max : 0);
    for (let c = 0; c < 3; c++) out[p * 3 + c] = Math.round((1 - alpha) * rgb[p * 3 + c] + alpha * colour[c]);
  }
  return out;
}

export interface Panel {
  /** size x size RGB. */
  rgb: Uint8Array;
  size: number;
  title: string;
}

const escape = (text: string): string => text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);

const TITLE = 22;
const GAP = 8;
const BAR = 14;

/** A vertical colour bar with its ends labelled: the map's 0 at the bottom, its maximum at the top. */
function colourBar(height: number): { svg: string; width: number } {
  const stops = Array.from(
    { length: 11 },
    (_, i) => `<stop offset="${i / 10}" stop-color="rgb(${turbo(1 - i / 10).join(',')})"/>`,
  ).join('');
  const svg = `<defs><linearGradient id="bar" x1="0" y1="0" x2="0" y2="1">${stops}</linearGradient></defs><rect x="0" y="${TITLE}" width="${BAR}" height="${height}" fill="url(#bar)"/><text x="${BAR + 4}" y="${TITLE + 12}" font-size="12">max</text><text x="${BAR + 4}" y="${TITLE + height}" font-size="12">0</text>`;
  return { svg, width: BAR + 34 };
}

/** Rows of panels (all of one size) with their titles and one colour bar at the right, as PNG. */
export async function montage(rows: readonly (readonly Panel[])[], displaySize: number): Promise<Buffer> {
  const columns = Math.max(...rows.map((r) => r.length));
  const cell = displaySize + GAP;
  const bar = colourBar(displaySize);
  const width = columns * cell + bar.width + GAP;
  const height = rows.length * (displaySize + TITLE + GAP) + GAP;
  const layers: OverlayOptions[] = [];
  const titles: string[] = [];
  for (const [r, row] of rows.entries()) {
    for (const [c, panel] of row.entries()) {
      const [left, top] = [GAP + c * cell, GAP + r * (displaySize + TITLE + GAP)];
      const input = await sharp(panel.rgb, { raw: { width: panel.size, height: panel.size, channels: 3 } })
        .resize(displaySize, displaySize)
        .png()
        .toBuffer();
      layers.push({ input, left, top: top + TITLE });
      titles.push(`<text x="${left}" y="${top + TITLE - 6}" font-size="13">${escape(panel.title)}</text>`);
    }
  }
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="DejaVu Sans, sans-serif">${titles.join('')}<g transform="translate(${columns * cell + GAP}, ${GAP})">${bar.svg}</g></svg>`;
  layers.push({ input: Buffer.from(svg), left: 0, top: 0 });
  return sharp({ create: { width, height, channels: 3, background: '#ffffff' } })
    .composite(layers)
    .png()
    .toBuffer();
}
