// The README's pictures of #26 from a plain and a dsd run on UC Merced (their test split): a Grad-CAM montage of
// both runs on the same photos, their embeddings side by side with the separability numbers, and a land-use map of
// a mosaic of test photos (9 classes in 3 x 3 blocks of 2 x 2 photos, 0.5 m pixels in EPSG:32610) with its legend
// and its accuracy against the known layout. Writes the pictures into OUT (docs/ for the README) and prints the numbers.
// Usage: node dist/scripts/readme-pictures.js PLAIN_RUN DSD_RUN OUT
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { fromArrayBuffer } from 'geotiff';
import sharp from 'sharp';

import { writeMosaic } from '../test/support/mosaic.js';

const [plain, dsd, out] = process.argv.slice(2);
if (!plain || !dsd || !out) throw new Error('usage: node dist/scripts/readme-pictures.js PLAIN_RUN DSD_RUN OUT');
const cli = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'dsdnet-pictures-'));
mkdirSync(out, { recursive: true });

function dsdnet(...args: string[]): string {
  const run = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', maxBuffer: 2 ** 26 });
  if (run.status !== 0) throw new Error(`dsdnet ${args.join(' ')}: ${run.stderr}`);
  return run.stdout;
}

const config = JSON.parse(readFileSync(join(plain, 'config.json'), 'utf8')) as { data: string };
const split = JSON.parse(readFileSync(join(plain, 'split.json'), 'utf8')) as {
  classes: string[];
  test: { path: string; label: number }[];
};
const testPhotos = (name: string): string[] =>
  split.test.filter((e) => split.classes[e.label] === name).map((e) => join(config.data, e.path));

// Grad-CAM: the same four test photos through both runs, the last stage (and dsd's stage heads).
const photos = ['airplane', 'baseballdiamond', 'harbor', 'storagetanks'].map((name) => testPhotos(name)[0]);
const montages: Buffer[] = [];
for (const [name, run] of [
  ['plain', plain],
  ['dsd', dsd],
] as const) {
  console.log(dsdnet('explain', run, ...photos, '-o', join(work, `explain-${name}`)).trim());
  const image = sharp(join(work, `explain-${name}`, 'montage.png'));
  const { width = 0, height = 0 } = await image.metadata();
  const title = Buffer.from(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="30" font-family="DejaVu Sans, sans-serif"><text x="8" y="22" font-size="18">${name}</text></svg>`,
  );
  montages.push(
    await sharp({ create: { width, height: height + 30, channels: 3, background: '#ffffff' } })
      .composite([
        { input: title, left: 0, top: 0 },
        { input: await image.toBuffer(), left: 0, top: 30 },
      ])
      .png()
      .toBuffer(),
  );
}
const sizes = await Promise.all(montages.map((m) => sharp(m).metadata()));
const explainPicture = sharp({
  create: {
    width: Math.max(...sizes.map((s) => s.width ?? 0)),
    height: sizes.reduce((h, s) => h + (s.height ?? 0), 0),
    channels: 3,
    background: '#ffffff',
  },
});
await explainPicture
  .composite([
    { input: montages[0], left: 0, top: 0 },
    { input: montages[1], left: 0, top: sizes[0].height ?? 0 },
  ])
  // JPEG: photos under colour maps are 4 MB as PNG, 0.3 MB here.
  .jpeg({ quality: 80, mozjpeg: true })
  .toFile(join(out, 'explain-plain-dsd.jpg'));

// Embeddings of the test split, side by side.
console.log(dsdnet('embed', plain, dsd, '-o', join(work, 'embed')).trim());
copyFileSync(join(work, 'embed', 'embedding.png'), join(out, 'embed-plain-dsd.png'));

// A land-use map of a mosaic of test photos not used above.
const mosaicClasses = [
  'agricultural',
  'forest',
  'beach',
  'denseresidential',
  'freeway',
  'golfcourse',
  'harbor',
  'parkinglot',
  'river',
];
const cell = 256;
const side = 6 * cell;
const layout = (row: number, col: number): number => 3 * Math.floor(row / 2) + Math.floor(col / 2);
const scene = join(work, 'mosaic.tif');
await writeMosaic(
  scene,
  6,
  cell,
  (row, col) => testPhotos(mosaicClasses[layout(row, col)])[1 + 2 * (row % 2) + (col % 2)],
);
console.log(
  dsdnet('map', plain, scene, '-o', join(work, 'map.tif'), '--tile', '256', '--stride', '128', '--no-progress').trim(),
);
const bytes = readFileSync(join(work, 'map.tif'));
const map = (await (
  await (
    await fromArrayBuffer(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer)
  ).getImage()
).readRasters({ interleave: true })) as unknown as Uint8Array;
const index = (name: string): number => split.classes.indexOf(name);
let centres = 0;
let right = 0;
for (let row = 0; row < 6; row++) {
  for (let col = 0; col < 6; col++) {
    const expected = index(mosaicClasses[layout(row, col)]);
    if (map[(row * cell + cell / 2) * side + col * cell + cell / 2] === expected) centres++;
    for (let y = 0; y < cell; y++)
      for (let x = 0; x < cell; x++) if (map[(row * cell + y) * side + col * cell + x] === expected) right++;
  }
}
console.log(
  `mosaic of 36 UC Merced test photos (9 classes): cell centres right ${centres}/36, pixels right ${((100 * right) / (side * side)).toFixed(1)}%`,
);
copyFileSync(join(work, 'map.png'), join(out, 'map-mosaic.png'));
console.log(`${out}: explain-plain-dsd.jpg, embed-plain-dsd.png, map-mosaic.png (work files in ${work})`);
