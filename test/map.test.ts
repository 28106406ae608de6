// `dsdnet map`: land-use maps of whole GeoTIFF scenes. A mosaic of UC Merced photos of known classes is mapped and
// checked against its layout and by GDAL itself; the tiled writer reads back as written (geotiff.js and GDAL); an
// interrupted map resumed equals an uninterrupted one; a scene larger than --max-memory is mapped within it; bad
// input is refused by name before any work. GDAL checks skip without gdalinfo, the UC Merced one without ../shared.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { fromArrayBuffer } from 'geotiff';
import sharp from 'sharp';

import { Rng } from '../src/data/index.js';
import {
  MapInterrupted,
  mapScene,
  type MapOptions,
  NODATA_CLASS,
  progressPath,
  TIFF_ASCII,
  TiledTiffWriter,
} from '../src/map/index.js';
import { resolveConfig, train } from '../src/train/index.js';
import { GEO_TAGS, GEO_TRANSFORM } from './support/geo.js';
import { writeMosaic } from './support/mosaic.js';
import { makeSeparableDataset } from './support/images.js';
import { encodeTiff } from './support/tiff.js';
import { trainQuickRun } from './support/quick-run.js';
import { configureEngine } from '../src/torch/index.js';

// As the commands do: this file maps scenes batch after batch.
configureEngine({ retainFreedMemory: true });

const scratch = (): string => mkdtempSync(join(tmpdir(), 'dsdnet-map-'));
const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const gdal = spawnSync('gdalinfo', ['--version'], { encoding: 'utf8' }).status === 0;
const gdalSkip = 'gdalinfo is absent (apt-get install gdal-bin; scripts/setup.sh does)';
const ucmerced = fileURLToPath(new URL('../../../shared/datasets/ucmerced', import.meta.url));
const ucmSkip = existsSync(ucmerced) ? false : `../shared/datasets/ucmerced is absent (looked in ${ucmerced})`;

function gdalinfo(path: string): {
  size: number[];
  geoTransform: number[];
  coordinateSystem: { wkt: string };
  bands: { noDataValue?: number; colorTable?: { entries: number[][] }; description?: string }[];
  metadata: Record<string, Record<string, string>>;
} {
  const run = spawnSync('gdalinfo', ['-json', path], { encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  return JSON.parse(run.stdout);
}

/** Pixels of band `band` (0-based) as GDAL reads them, through a raw (ENVI, band-sequential) copy. */
function gdalPixels(path: string, band: number): Uint8Array {
  const out = join(scratch(), 'band.raw');
  const run = spawnSync('gdal_translate', ['-q', '-of', 'ENVI', '-b', String(band + 1), path, out], {
    encoding: 'utf8',
  });
  assert.equal(run.status, 0, run.stderr);
  return new Uint8Array(readFileSync(out));
}

async function readTiff(path: string): Promise<{ width: number; height: number; data: Uint8Array; bands: number }> {
  const bytes = readFileSync(path);
  const image = await (
    await fromArrayBuffer(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer)
  ).getImage();
  const data = (await image.readRasters({ interleave: true })) as unknown as Uint8Array;
  return {
    width: image.getWidth(),
    height: image.getHeight(),
    data: Uint8Array.from(data),
    bands: image.getSamplesPerPixel(),
  };
}

/** A run of the 3-class separable textures (blue, green, red), trained in seconds. */
let texturesRun: Promise<string> | undefined;
function texturesModel(): Promise<string> {
  texturesRun ??= (async () => {
    const data = await makeSeparableDataset(12, 64);
    const run = join(scratch(), 'run');
    await trainQuickRun(data, run);
    return run;
  })();
  return texturesRun;
}

/** The texture of class c (0 blue, 1 green, 2 red) at a pixel, as makeSeparableDataset draws them. */
function texture(c: number, rng: Rng, out: Uint8Array, at: number): void {
  for (let k = 0; k < 3; k++)
    out[at + k] = Math.max(0, Math.min(255, (k === 2 - c ? 170 : 40) + 60 * (rng.next() - 0.5)));
}

/** The class of scene pixel (x, y) in the generated layouts: vertical bands of classes, one region nodata (-1). */
function bandsLayout(width: number, x: number, y: number, nodataBelow = Infinity): number {
  return y >= nodataBelow && x < width / 4 ? -1 : Math.min(2, Math.floor((3 * x) / width));
}

/** Writes a generated RGB scene, tiled and compressed (our writer), with GDAL_NODATA 0 where the layout says -1. */
async function writeTexturesScene(
  path: string,
  width: number,
  height: number,
  layout: (x: number, y: number) => number,
): Promise<void> {
  const writer = new TiledTiffWriter(path, {
    width,
    height,
    bands: 3,
    tile: 256,
    photometric: 'rgb',
    tags: [...GEO_TAGS, { tag: 42113, type: TIFF_ASCII, values: '0' }],
  });
  const rng = new Rng(3);
  const rows = new Uint8Array(256 * width * 3);
  for (let top = 0; top < height; top += 256) {
    const count = Math.min(256, height - top);
    rows.fill(0);
    for (let y = 0; y < count; y++)
      for (let x = 0; x < width; x++) {
        const c = layout(x, top + y);
        if (c >= 0) texture(c, rng, rows, (y * width + x) * 3);
      }
    await writer.writeTileRow(rows, count);
  }
  writer.finish();
}

function runCli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(process.execPath, [CLI, 'map', ...args], { encoding: 'utf8' });
}

test('the tiled writer: geotiff.js and GDAL read back what was written, with the georeferencing and the colour table', async () => {
  const dir = scratch();
  const [width, height] = [300, 200];
  const rng = new Rng(1);
  const classes = Uint8Array.from({ length: width * height }, () => Math.floor(rng.next() * 5));
  classes.fill(NODATA_CLASS, 0, 40);
  const palette: [number, number, number][] = Array.from({ length: 256 }, (_, i) => [i, 255 - i, (7 * i) % 256]);
  const map = join(dir, 'map.tif');
  const writer = new TiledTiffWriter(map, {
    width,
    height,
    bands: 1,
    tile: 128,
    photometric: 'palette',
    palette,
    tags: [...GEO_TAGS, { tag: 42113, type: TIFF_ASCII, values: '255' }],
  });
  for (let top = 0; top < height; top += 128)
    await writer.writeTileRow(classes.subarray(top * width), Math.min(128, height - top));
  assert.equal(existsSync(map), false, 'nothing at the output until it is finished');
  writer.finish();
  const multi = join(dir, 'bands.tif');
  const samples = Uint8Array.from({ length: width * height * 4 }, () => Math.floor(rng.next() * 256));
  const bands = new TiledTiffWriter(multi, { width, height, bands: 4, tile: 64, photometric: 'minisblack' });
  for (let top = 0; top < height; top += 64)
    await bands.writeTileRow(samples.subarray(top * width * 4), Math.min(64, height - top));
  bands.finish();
  assert.deepEqual(readdirSync(dir).sort(), ['bands.tif', 'map.tif'], 'no temporary file is left');

  const back = await readTiff(map);
  assert.deepEqual([back.width, back.height, back.bands], [width, height, 1]);
  assert.deepEqual(back.data, classes);
  const image = await (await fromArrayBuffer(readFileSync(map).buffer as ArrayBuffer)).getImage();
  assert.deepEqual(
    [image.getOrigin(), image.getResolution(), image.getGDALNoData(), image.getGeoKeys()?.ProjectedCSTypeGeoKey],
    [[500000, 4200000, 0], [0.5, -0.5, 0], 255, 32610],
  );
  assert.deepEqual((await readTiff(multi)).data, samples);
  if (!gdal) return void console.log(`skipped the GDAL checks: ${gdalSkip}`);
  const info = gdalinfo(map);
  assert.deepEqual(info.size, [width, height]);
  assert.deepEqual(info.geoTransform, GEO_TRANSFORM);
  assert.match(info.coordinateSystem.wkt, /ID\["EPSG",32610\]\]$/);
  assert.equal(info.bands[0].noDataValue, 255);
  assert.deepEqual(info.bands[0].colorTable?.entries.slice(0, 3), [
    [0, 255, 0, 255],
    [1, 254, 7, 255],
    [2, 253, 14, 255],
  ]);
  assert.deepEqual(gdalPixels(map, 0), classes);
  for (const b of [0, 3])
    assert.deepEqual(
      gdalPixels(multi, b),
      samples.filter((_, i) => i % 4 === b),
      `band ${b + 1}`,
    );
});

test(
  'a mosaic of UC Merced photos: the map matches the known layout and GDAL reads its georeferencing, colours and nodata',
  { skip: ucmSkip, timeout: 600_000 },
  async () => {
    // The ImageNet MobileNetV2 fine-tuned for 3 epochs at 96 px on 30 photos a class (4 classes); the mosaic is of 9
    // other photos a class.
    const classes = ['agricultural', 'beach', 'denseresidential', 'harbor'];
    const root = scratch();
    const mosaicPhotos: string[][] = [];
    for (const name of classes) {
      mkdirSync(join(root, name));
      const files = readdirSync(join(ucmerced, name)).sort();
      for (const file of files.slice(0, 30)) symlinkSync(join(ucmerced, name, file), join(root, name, file));
      mosaicPhotos.push(files.slice(30, 39).map((file) => join(ucmerced, name, file)));
    }
    const run = join(scratch(), 'run');
    await train(
      resolveConfig(
        root,
        {},
        {
          backbone: 'mobilenet_v2',
          pretrained: 'imagenet',
          method: 'plain',
          size: 96,
          batchSize: 16,
          epochs: 3,
          warmupEpochs: 0,
          cycles: 1,
          lr: 1e-4,
          headLrMultiplier: 10,
          split: { ratio: 0.9, seed: 0 },
          augment: 'light',
        },
      ),
      { out: run, report: 'quiet' },
    );
    // 6 x 6 cells of 256 px: a quadrant per class (3 x 3 photos each).
    const cell = 256;
    const side = 6 * cell;
    const layout = (row: number, col: number): number => 2 * Math.floor(row / 3) + Math.floor(col / 3);
    const used = [0, 0, 0, 0];
    const dir = scratch();
    const scene = join(dir, 'scene.tif');
    await writeMosaic(scene, 6, cell, (row, col) => mosaicPhotos[layout(row, col)][used[layout(row, col)]++]);
    const map = join(dir, 'map.tif');
    const cli = runCli([run, scene, '-o', map, '--tile', '256', '--stride', '128', '--no-progress']);
    assert.equal(cli.status, 0, cli.stderr);
    console.log(cli.stdout.trim());
    const back = await readTiff(map);
    let centres = 0;
    let pixelsRight = 0;
    for (let row = 0; row < 6; row++)
      for (let col = 0; col < 6; col++) {
        if (back.data[(row * cell + cell / 2) * side + col * cell + cell / 2] === layout(row, col)) centres++;
        for (let y = 0; y < cell; y++)
          for (let x = 0; x < cell; x++)
            if (back.data[(row * cell + y) * side + col * cell + x] === layout(row, col)) pixelsRight++;
      }
    console.log(
      `UC Merced mosaic (4 classes, 36 cells of 256 px): map accuracy at cell centres ${centres}/36 = ${((100 * centres) / 36).toFixed(1)}%, over all pixels ${((100 * pixelsRight) / (side * side)).toFixed(1)}%`,
    );
    assert.ok(centres >= 30, `only ${centres} of 36 cell centres are of their class`);
    assert.ok(existsSync(join(dir, 'map.png')), 'the preview is beside the map');
    const preview = await sharp(join(dir, 'map.png')).metadata();
    assert.ok(preview.width! > side / 2 && preview.height === side / 2, `preview ${preview.width} x ${preview.height}`);
    if (!gdal) return void console.log(`skipped the GDAL checks: ${gdalSkip}`);
    const info = gdalinfo(map);
    assert.deepEqual(info.size, [side, side]);
    assert.deepEqual(info.geoTransform, GEO_TRANSFORM);
    assert.match(info.coordinateSystem.wkt, /ID\["EPSG",32610\]\]$/);
    assert.equal(info.bands[0].noDataValue, 255);
    const table = info.bands[0].colorTable!.entries;
    assert.equal(table.length, 256);
    assert.equal(new Set(table.slice(0, 4).map((e) => e.join())).size, 4, 'a colour per class');
    assert.deepEqual(JSON.parse(info.metadata[''].CLASSES), classes);
  },
);

test(
  'resume: a map interrupted after some batches and run again equals an uninterrupted one; another setting is refused by name',
  { timeout: 600_000 },
  async () => {
    const run = await texturesModel();
    const dir = scratch();
    const scene = join(dir, 'scene.tif');
    await writeTexturesScene(scene, 700, 500, (x, y) => bandsLayout(700, x, y, 400));
    const options = (name: string, extra: Partial<MapOptions> = {}): MapOptions => ({
      model: run,
      scene,
      output: join(dir, `${name}.tif`),
      probabilities: join(dir, `${name}-probs.tif`),
      tile: 64,
      stride: 32,
      batch: 8,
      maxMemoryMB: 64,
      showProgress: false,
      ...extra,
    });
    const whole = await mapScene(options('whole'));
    assert.equal(whole.resumedFrom, 0);
    assert.ok(whole.skipped > 0, 'windows in the nodata corner are not scored');

    const controller = new AbortController();
    await assert.rejects(
      mapScene(
        options('resumed', { signal: controller.signal, onBatch: (n) => n === 5 && controller.abort('SIGINT') }),
      ),
      (error: unknown) => {
        assert.ok(error instanceof MapInterrupted);
        assert.match(
          error.message,
          /interrupted: \d+ of \d+ windows are saved in .*resumed\.tif\.progress; run the same command again to continue/,
        );
        return true;
      },
    );
    assert.equal(existsSync(join(dir, 'resumed.tif')), false);
    assert.equal(existsSync(progressPath(join(dir, 'resumed.tif'))), true);
    await assert.rejects(
      mapScene(options('resumed', { stride: 48 })),
      /resumed\.tif\.progress: it holds the progress of another map \(its stride differs: 32 there, 48 now\)/,
    );
    const resumed = await mapScene(options('resumed'));
    assert.ok(
      resumed.resumedFrom > 0 && resumed.resumedFrom < resumed.grid.count,
      `resumed from ${resumed.resumedFrom}`,
    );
    assert.equal(
      existsSync(progressPath(join(dir, 'resumed.tif'))),
      false,
      'the progress file is removed when the map is written',
    );
    assert.deepEqual((await readTiff(join(dir, 'resumed.tif'))).data, (await readTiff(join(dir, 'whole.tif'))).data);
    assert.deepEqual(
      (await readTiff(join(dir, 'resumed-probs.tif'))).data,
      (await readTiff(join(dir, 'whole-probs.tif'))).data,
    );

    // The command line: SIGINT saves and exits 130; the same command again finishes the same map.
    const args = [
      run,
      scene,
      '-o',
      join(dir, 'cli.tif'),
      '--tile',
      '64',
      '--stride',
      '32',
      '--batch',
      '1',
      '--no-progress',
    ];
    const child = spawn(process.execPath, [CLI, 'map', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk) => (stderr += chunk));
    while (!existsSync(progressPath(join(dir, 'cli.tif'))) && child.exitCode === null)
      await new Promise((r) => setTimeout(r, 20));
    child.kill('SIGINT');
    const code = await new Promise((r) => child.on('exit', r));
    assert.equal(code, 130, stderr);
    assert.match(stderr, /SIGINT: stopping after the current batch.*\n.*interrupted: \d+ of 315 windows are saved/s);
    const again = runCli(args);
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stdout, / done before;/);
    assert.deepEqual((await readTiff(join(dir, 'cli.tif'))).data, (await readTiff(join(dir, 'whole.tif'))).data);
    // Nodata: the corner the scene marks nodata is 255 in the map, and the rest is mapped to the layout.
    const map = await readTiff(join(dir, 'whole.tif'));
    let right = 0;
    for (let y = 0; y < 500; y++)
      for (let x = 0; x < 700; x++) {
        const truth = bandsLayout(700, x, y, 400);
        if (map.data[y * 700 + x] === (truth < 0 ? NODATA_CLASS : truth)) right++;
      }
    console.log(
      `generated textures (3 classes, 700 x 500, a nodata corner): ${((100 * right) / 350000).toFixed(1)}% of pixels right`,
    );
    assert.ok(right / 350000 > 0.9, `${right} of 350000 pixels right`); // windows across a class boundary blur it by up to a stride
  },
);

test(
  'a scene larger than --max-memory allows to hold is mapped within it; bad input is refused by name before work',
  { timeout: 600_000 },
  async () => {
    const run = await texturesModel();
    const dir = scratch();
    const scene = join(dir, 'big.tif');
    const side = 4000;
    await writeTexturesScene(scene, side, side, (x, y) => bandsLayout(side, x, y));
    // Neither the scene (48 MB of pixels) nor its maps (16 MB of classes, 48 MB of probabilities) fit in 16 MB.
    const result = await mapScene({
      model: run,
      scene,
      output: join(dir, 'big-map.tif'),
      probabilities: join(dir, 'big-probs.tif'),
      tile: 256,
      stride: 256,
      batch: 32,
      maxMemoryMB: 16,
      showProgress: false,
    });
    assert.ok(result.plan.bytes <= 16 * 2 ** 20 && result.plan.stripRows < side, JSON.stringify(result.plan));
    const map = await readTiff(join(dir, 'big-map.tif'));
    // Windows do not overlap here (stride = tile), so a window across a class boundary gives all its pixels one class:
    // errors are within a window of the two boundaries.
    const [right, inner] = [
      [0, 0],
      [0, 0],
    ];
    for (let i = 0; i < side * side; i++) {
      const x = i % side;
      const ok = map.data[i] === bandsLayout(side, x, Math.floor(i / side)) ? 1 : 0;
      right[0] += ok;
      right[1]++;
      if ([side / 3, (2 * side) / 3].every((edge) => Math.abs(x - edge) > 256))
        [inner[0], inner[1]] = [inner[0] + ok, inner[1] + 1];
    }
    console.log(
      `4000 x 4000 scene with --max-memory 16: plan ${JSON.stringify(result.plan)}, ${((100 * right[0]) / right[1]).toFixed(1)}% of pixels right, ${((100 * inner[0]) / inner[1]).toFixed(2)}% beyond a window of the class boundaries`,
    );
    assert.ok(right[0] / right[1] > 0.9 && inner[0] / inner[1] > 0.99);

    const out = join(dir, 'out.tif');
    const cases: [string[], RegExp][] = [
      [['--max-memory', '1'], /--max-memory 1: mapping this scene needs at least \d+ MB/],
      [['--tile', '16'], /option '--tile <px>' argument '16' is invalid\. expected an integer in 32\.\.8192/],
      [['--stride', '300'], /--stride 300: expected 1\.\.256 \(at most --tile, so that windows cover the scene\)/],
      [['--bands', '4,3,2'], /big\.tif: --bands 4,3,2 asks for band 4, the image has 3/],
      [['-o', join(dir, 'big-map.tif')], /big-map\.tif exists; choose another name or pass --overwrite/],
    ];
    for (const [flags, message] of cases) {
      const cli = runCli([run, scene, '-o', out, ...flags]);
      assert.equal(cli.status, 1, flags.join(' '));
      assert.match(cli.stderr, message);
    }
    const notTiff = join(dir, 'notes.tif');
    writeFileSync(notTiff, 'not a tiff');
    assert.match(runCli([run, notTiff, '-o', out]).stderr, /notes\.tif: not a TIFF \(a scene must be a GeoTIFF\)/);
    const plain = join(dir, 'plain.tif');
    writeFileSync(
      plain,
      encodeTiff({
        width: 64,
        height: 64,
        bands: 3,
        bits: 8,
        format: 'uint',
        data: new Uint8Array(64 * 64 * 3).fill(90),
      }),
    );
    const unreferenced = runCli([run, plain, '-o', out, '--tile', '32', '--stride', '32']);
    assert.equal(unreferenced.status, 0, unreferenced.stderr);
    assert.match(unreferenced.stderr, /plain\.tif has no georeferencing .* will not line up in a GIS/);
    assert.deepEqual(
      readdirSync(dir).filter((f) => f.includes('.tmp-')),
      [],
      'no temporary files are left',
    );
  },
);

test(
  "a 16-bit scene is stretched once for the whole scene (the model's percentiles) and mapped as its 8-bit twin",
  { timeout: 600_000 },
  async () => {
    const run = await texturesModel();
    const dir = scratch();
    const [width, height] = [512, 384];
    const rng = new Rng(5);
    const eight = new Uint8Array(width * height * 3);
    for (let p = 0; p < width * height; p++)
      texture(bandsLayout(width, p % width, Math.floor(p / width)), rng, eight, p * 3);
    // 12-bit in 16, as sensors deliver it: the 8-bit values x 16 plus an offset.
    const wide = Uint16Array.from(eight, (v) => 100 + 16 * v);
    writeFileSync(
      join(dir, 'wide.tif'),
      encodeTiff({ width, height, bands: 3, bits: 16, format: 'uint', data: wide, rowsPerStrip: 32, tags: GEO_TAGS }),
    );
    writeFileSync(
      join(dir, 'eight.tif'),
      encodeTiff({ width, height, bands: 3, bits: 8, format: 'uint', data: eight, rowsPerStrip: 32, tags: GEO_TAGS }),
    );
    const maps = [];
    for (const name of ['wide', 'eight']) {
      await mapScene({
        model: run,
        scene: join(dir, `${name}.tif`),
        output: join(dir, `${name}-map.tif`),
        tile: 64,
        stride: 32,
        batch: 16,
        maxMemoryMB: 64,
        showProgress: false,
      });
      maps.push((await readTiff(join(dir, `${name}-map.tif`))).data);
    }
    let [right, same] = [0, 0];
    for (let i = 0; i < width * height; i++) {
      if (maps[0][i] === bandsLayout(width, i % width, Math.floor(i / width))) right++;
      if (maps[0][i] === maps[1][i]) same++;
    }
    console.log(
      `16-bit scene (${width} x ${height}): ${((100 * right) / (width * height)).toFixed(1)}% of pixels right, the same class as its 8-bit twin at ${((100 * same) / (width * height)).toFixed(1)}%`,
    );
    assert.ok(right / (width * height) > 0.9 && same / (width * height) > 0.95);
  },
);
