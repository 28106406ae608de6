// RandAugment against timm's `rand-m9-mstd0.5` (non-"increasing" transforms) and PIL's op semantics: every op's
// level-to-argument mapping and its pixels on tiny images, with the expected values worked out by hand here.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  type Affine,
  augmentBatch,
  drawRandAugment,
  geometricAffine,
  normalize,
  type Photometric,
  photometricOp,
  type RandOp,
  randAugmentArg,
  warpBatch,
} from '../src/data/augment.js';
import { Rng } from '../src/data/random.js';
import { type Tensor, tensor } from '../src/torch/index.js';

const RECIPE = { ops: 2, magnitude: 9, magnitudeStd: 0.5, prob: 0.5 };

/** A [n, 3, h, w] batch in 0..1 from levels (0..255) per image, channel and row. */
function batch(levels: number[][][][]): Tensor {
  return tensor(levels, { dtype: 'float32' }).div(255);
}

/** One image whose three channels are the same rows of levels. */
function grey(rows: number[][]): Tensor {
  return batch([[rows, rows, rows]]);
}

/** The levels (0..255) of a [n, 3, h, w] batch. */
function levels(x: Tensor): number[][][][] {
  return x.mul(255).toArray() as number[][][][];
}

function assertLevels(actual: number[][], expected: number[][], what: string, tolerance = 1e-3): void {
  assert.equal(actual.length, expected.length, `${what}: rows`);
  actual.forEach((row, y) =>
    row.forEach((v, x) =>
      assert.ok(Math.abs(v - expected[y][x]) <= tolerance, `${what} at (${y}, ${x}): ${v}, expected ${expected[y][x]}`),
    ),
  );
}

/** Applies one op at one magnitude to an image given as grey rows; returns the first channel's levels. */
function applyGrey(op: Photometric, magnitude: number, rows: number[][]): number[][] {
  return levels(photometricOp(grey(rows), op, [magnitude]))[0][0];
}

test("level to argument: timm's mappings, with int() truncation where timm truncates", () => {
  const cases: [RandOp, number, number][] = [
    ['rotate', 9, 27], // level / 10 * 30 degrees
    ['rotate', 10, 30],
    ['shearX', 9, 0.27], // level / 10 * 0.3
    ['shearY', 10, 0.3],
    ['translateX', 9, 0.405], // level / 10 * 0.45 of the size
    ['translateY', 10, 0.45],
    ['posterize', 9, 3], // int(3.6) bits kept
    ['posterize', 10, 4],
    ['posterize', 7.4, 2], // int(2.96)
    ['posterize', 2.4, 0], // int(0.96): everything goes black
    ['solarize', 9, 230], // int(230.4)
    ['solarize', 10, 256], // nothing inverted
    ['solarize', 5, 128],
    ['solarize', 0, 0], // everything inverted
    ['solarizeAdd', 9, 99], // int(99.00000000000001)
    ['solarizeAdd', 10, 110],
    ['solarizeAdd', 8.5, 93], // int(93.5)
    ['color', 9, 1.72], // level / 10 * 1.8 + 0.1
    ['contrast', 10, 1.9],
    ['brightness', 0, 0.1],
    ['sharpness', 5, 1],
    ['autoContrast', 9, 0],
    ['equalize', 9, 0],
    ['invert', 9, 0],
  ];
  for (const [op, magnitude, expected] of cases) {
    assert.ok(
      Math.abs(randAugmentArg(op, magnitude) - expected) < 1e-12,
      `${op} at ${magnitude}: ${randAugmentArg(op, magnitude)}, expected ${expected}`,
    );
  }
});

test('draws: 2 ops with replacement from 15, each applied with p 0.5, magnitude ~ N(9, 0.5) clipped to 10, signs on geometric ops only', () => {
  const rng = new Rng(11);
  const images = 20000;
  const counts = new Map<RandOp, number>();
  const magnitudes: number[] = [];
  let applied = 0;
  let negative = 0;
  let geometric = 0;
  let same = 0;
  for (let i = 0; i < images; i++) {
    const steps = drawRandAugment(rng, RECIPE);
    applied += steps.length;
    if (steps.length === 2 && steps[0].op === steps[1].op) same++;
    for (const { op, magnitude, sign } of steps) {
      counts.set(op, (counts.get(op) ?? 0) + 1);
      magnitudes.push(magnitude);
      if (['rotate', 'shearX', 'shearY', 'translateX', 'translateY'].includes(op)) {
        geometric++;
        if (sign === -1) negative++;
        else assert.equal(sign, 1);
      } else {
        assert.equal(sign, 1, `${op} has no random sign`);
      }
    }
  }
  // Binomial(40000, 0.5): std 100.
  assert.ok(Math.abs(applied - images) < 500, `${applied} ops applied of ${2 * images} drawn`);
  assert.equal(counts.size, 15, 'all 15 transforms occur');
  for (const [op, n] of counts) assert.ok(Math.abs(n / applied - 1 / 15) < 0.01, `${op}: ${n / applied}`);
  assert.ok(Math.abs(negative / geometric - 0.5) < 0.02, `negative signs: ${negative / geometric}`);
  // With replacement: both ops are the same transform in about 1/15 of the images that apply both (~5000).
  assert.ok(same > 200, `${same} images drew the same op twice`);
  const mean = magnitudes.reduce((s, m) => s + m, 0) / magnitudes.length;
  const std = Math.sqrt(magnitudes.reduce((s, m) => s + (m - mean) ** 2, 0) / magnitudes.length);
  assert.ok(Math.abs(mean - 9) < 0.02, `magnitude mean ${mean}`);
  assert.ok(Math.abs(std - 0.5) < 0.02, `magnitude std ${std}`);
  assert.ok(Math.max(...magnitudes) === 10, 'clipped at 10 (2 std above 9: about 2% of draws)');
  const clipped = magnitudes.filter((m) => m === 10).length / magnitudes.length;
  assert.ok(clipped > 0.015 && clipped < 0.03, `clipped fraction ${clipped}`);

  const always = drawRandAugment(new Rng(3), { ops: 2, magnitude: 9, magnitudeStd: 0, prob: 1 });
  assert.equal(always.length, 2);
  assert.ok(always.every((s) => s.magnitude === 9));
  assert.equal(drawRandAugment(new Rng(3), { ops: 2, magnitude: 9, magnitudeStd: 0.5, prob: 0 }).length, 0);
});

test('solarize inverts levels at or above int(level / 10 * 256); solarize-add adds int(level / 10 * 110) below 128', () => {
  const row = [[0, 100, 229, 230, 231, 255]];
  assertLevels(applyGrey('solarize', 9, row), [[0, 100, 229, 255 - 230, 255 - 231, 0]], 'solarize 9 (threshold 230)');
  assertLevels(applyGrey('solarize', 10, row), row, 'solarize 10 (threshold 256)');
  assertLevels(applyGrey('solarize', 0, row), [row[0].map((v) => 255 - v)], 'solarize 0 (threshold 0)');
  const add = [[0, 100, 127, 128, 200, 255]];
  assertLevels(applyGrey('solarizeAdd', 9, add), [[99, 199, 226, 128, 200, 255]], 'solarize-add 9 (+99)');
  assertLevels(applyGrey('solarizeAdd', 10, add), [[110, 210, 237, 128, 200, 255]], 'solarize-add 10 (+110)');
  // Each image of a sub-batch at its own magnitude.
  const two = photometricOp(
    batch([
      [row, row, row],
      [row, row, row],
    ]),
    'solarize',
    [9, 5],
  );
  assertLevels(levels(two)[1][2], [[0, 100, 255 - 229, 255 - 230, 255 - 231, 0]], 'solarize 5 (threshold 128)');
});

test('posterize keeps int(level / 10 * 4) bits', () => {
  const row = [[0, 31, 32, 100, 223, 224, 255]];
  assertLevels(applyGrey('posterize', 9, row), [[0, 0, 32, 96, 192, 224, 224]], 'posterize 9 (3 bits)');
  assertLevels(applyGrey('posterize', 10, row), [[0, 16, 32, 96, 208, 224, 240]], 'posterize 10 (4 bits)');
  assertLevels(applyGrey('posterize', 5, row), [[0, 0, 0, 64, 192, 192, 192]], 'posterize 5 (2 bits)');
  assertLevels(applyGrey('posterize', 2, row), [[0, 0, 0, 0, 0, 0, 0]], 'posterize 2 (0 bits)');
});

test('brightness, colour and contrast blend with black, the greyscale image and its rounded mean by level / 10 * 1.8 + 0.1', () => {
  // Brightness at 9: x 1.72, clipped.
  assertLevels(
    applyGrey('brightness', 9, [[0, 50, 100, 148, 200]]),
    [[0, 50 * 1.72, 100 * 1.72, 148 * 1.72, 255]],
    'brightness 9',
  );
  assertLevels(applyGrey('brightness', 0, [[0, 50, 100, 148, 200]]), [[0, 5, 10, 14.8, 20]], 'brightness 0');

  // Colour at 9 on (200, 100, 50): luma 0.299 * 200 + 0.587 * 100 + 0.114 * 50 = 124.2.
  const rgb = batch([[[[200]], [[100]], [[50]]]]);
  const gray = 0.299 * 200 + 0.587 * 100 + 0.114 * 50;
  const colour = levels(photometricOp(rgb, 'color', [9]))[0].map((c) => c[0][0]);
  const wantColour = [200, 100, 50].map((v) => Math.min(255, Math.max(0, gray + 1.72 * (v - gray))));
  colour.forEach((v, c) =>
    assert.ok(Math.abs(v - wantColour[c]) < 1e-3, `colour 9 channel ${c}: ${v}, expected ${wantColour[c]}`),
  );

  // Contrast at 9 on grey levels 10, 20, 30, 41: mean 25.25 -> int(25.75) = 25, then 25 + 1.72 (v - 25).
  assertLevels(
    applyGrey('contrast', 9, [
      [10, 20],
      [30, 41],
    ]),
    [
      [0, 25 + 1.72 * -5],
      [25 + 1.72 * 5, 25 + 1.72 * 16],
    ],
    'contrast 9',
  );
  // The mean is the luma's, not the channels': pure red, luma 76.245 -> 76; factor 0.1 at level 0.
  const red = levels(photometricOp(batch([[[[255, 255]], [[0, 0]], [[0, 0]]]]), 'contrast', [0]))[0].map(
    (c) => c[0][0],
  );
  [76 + 0.1 * (255 - 76), 76 + 0.1 * -76, 76 + 0.1 * -76].forEach((want, c) =>
    assert.ok(Math.abs(red[c] - want) < 1e-3, `contrast 0 channel ${c}: ${red[c]}, expected ${want}`),
  );
});

test("sharpness blends with PIL's SMOOTH image (3x3 kernel [[1,1,1],[1,5,1],[1,1,1]] / 13, border untouched)", () => {
  // A flat image stays flat: PIL leaves the border as it is (zero padding would darken it).
  assertLevels(
    applyGrey('sharpness', 9, [
      [100, 100, 100, 100],
      [100, 100, 100, 100],
      [100, 100, 100, 100],
      [100, 100, 100, 100],
    ]),
    Array(4).fill([100, 100, 100, 100]),
    'flat',
  );
  // A 120 spike on 100 at (1, 1): smoothed (1, 1) = (5 * 120 + 8 * 100) / 13, its interior neighbours (120 + 12 * 100) / 13.
  const rows = [
    [100, 100, 100, 100],
    [100, 120, 100, 100],
    [100, 100, 100, 100],
    [100, 100, 100, 100],
  ];
  const peak = (5 * 120 + 8 * 100) / 13;
  const near = (120 + 12 * 100) / 13;
  for (const [magnitude, f] of [
    [9, 1.72],
    [0, 0.1],
  ]) {
    const p = peak + f * (120 - peak);
    const q = near + f * (100 - near);
    assertLevels(
      applyGrey('sharpness', magnitude, rows),
      [
        [100, 100, 100, 100],
        [100, p, q, 100],
        [100, q, q, 100],
        [100, 100, 100, 100],
      ],
      `sharpness ${magnitude}`,
    );
  }
});

test('invert and auto-contrast', () => {
  assertLevels(applyGrey('invert', 9, [[0, 100, 255]]), [[255, 155, 0]], 'invert');
  // Per channel, lowest level to 0 and highest to 255 (PIL truncates the middle one to 127); a flat channel stays.
  const out = levels(photometricOp(batch([[[[50, 100, 150]], [[7, 7, 7]], [[0, 255, 128]]]]), 'autoContrast', [9]))[0];
  assertLevels(out[0], [[0, 127.5, 255]], 'auto-contrast', 0.5 + 1e-3);
  assertLevels(out[1], [[7, 7, 7]], 'flat channel');
  assertLevels(out[2], [[0, 255, 128]], 'full-range channel');
});

// Geometric ops, through the warp that augmentation uses: a 20 px image whose red channel is 10 x, green 10 y and
// blue 77, so that bilinear sampling reproduces any input position exactly.
const SIZE = 20;
const FILL = [124, 116, 104];

function ramp(): Uint8Array {
  const pixels = new Uint8Array(SIZE * SIZE * 3);
  for (let y = 0; y < SIZE; y++) {
    for (let x = 0; x < SIZE; x++) pixels.set([10 * x, 10 * y, 77], (y * SIZE + x) * 3);
  }
  return pixels;
}

/** The levels of the ramp warped by one affine map: [channel][y][x]. */
function warped(affine: Affine): number[][][] {
  return levels(warpBatch(ramp(), 1, SIZE, SIZE, [affine]))[0];
}

/** Expected levels at output pixel (x, y) when it samples input pixel coordinates (xi, yi), or the fill outside. */
function sampleAt(xi: number, yi: number): number[] {
  const inside = xi >= 0 && xi <= SIZE - 1 && yi >= 0 && yi <= SIZE - 1;
  return inside ? [10 * xi, 10 * yi, 77] : FILL;
}

function assertWarp(affine: Affine, source: (x: number, y: number) => [number, number], what: string): void {
  const out = warped(affine);
  let checked = 0;
  for (let y = 0; y < SIZE; y++) {
    for (let x = 0; x < SIZE; x++) {
      const [xi, yi] = source(x, y);
      // Skip the one-pixel band where bilinear sampling mixes the image with the fill.
      if ((xi > -1 && xi < 0) || (xi > SIZE - 1 && xi < SIZE) || (yi > -1 && yi < 0) || (yi > SIZE - 1 && yi < SIZE))
        continue;
      const want = sampleAt(xi, yi);
      want.forEach((v, c) =>
        assert.ok(
          Math.abs(out[c][y][x] - v) < 2e-3,
          `${what}: channel ${c} at (${x}, ${y}) is ${out[c][y][x]}, expected ${v}`,
        ),
      );
      checked++;
    }
  }
  assert.ok(checked > SIZE * SIZE * 0.8, `${what}: ${checked} pixels checked`);
}

test("translate-rel moves by level / 10 * 0.45 of the size (PIL: x_in = x + pct * width); outside is timm's fill (124, 116, 104)", () => {
  // Level 10, positive: 9 pixels, content moves left/up.
  assertWarp(geometricAffine('translateX', randAugmentArg('translateX', 10)), (x, y) => [x + 9, y], 'translateX +9 px');
  assertWarp(
    geometricAffine('translateY', -randAugmentArg('translateY', 10)),
    (x, y) => [x, y - 9],
    'translateY -9 px',
  );
  const out = warped(geometricAffine('translateX', 0.45));
  assert.deepEqual(
    [0, 1, 2].map((c) => Math.round(out[c][5][15])),
    FILL,
    'fill colour',
  );
});

test('shear multiplies by level / 10 * 0.3 about the top-left corner, as PIL (x_in = x + f y in pixel-edge coordinates)', () => {
  const f = randAugmentArg('shearX', 10);
  assert.equal(f, 0.3);
  // Pixel centres are at i + 0.5: x_in + 0.5 = x + 0.5 + f (y + 0.5).
  assertWarp(geometricAffine('shearX', f), (x, y) => [x + f * (y + 0.5), y], 'shearX 0.3');
  assertWarp(geometricAffine('shearX', -f), (x, y) => [x - f * (y + 0.5), y], 'shearX -0.3');
  assertWarp(geometricAffine('shearY', f), (x, y) => [x, y + f * (x + 0.5)], 'shearY 0.3');
});

test('rotate turns by level / 10 * 30 degrees, counter-clockwise about the centre for a positive angle (PIL)', () => {
  const degrees = randAugmentArg('rotate', 10);
  const [c, s] = [Math.cos((degrees * Math.PI) / 180), Math.sin((degrees * Math.PI) / 180)];
  // PIL's rotate(30) samples input (cos u - sin v, sin u + cos v) about the centre (10, 10) in pixel-edge coordinates.
  const source = (x: number, y: number): [number, number] => {
    const [u, v] = [x + 0.5 - SIZE / 2, y + 0.5 - SIZE / 2];
    return [c * u - s * v + SIZE / 2 - 0.5, s * u + c * v + SIZE / 2 - 0.5];
  };
  assertWarp(geometricAffine('rotate', degrees), source, 'rotate 30');
  // Spot check: output (12, 7) samples input (12.915, 8.585) to 3 decimals.
  const out = warped(geometricAffine('rotate', 30));
  assert.ok(
    Math.abs(out[0][7][12] - 129.151) < 0.01 && Math.abs(out[1][7][12] - 85.849) < 0.01,
    `(${out[0][7][12]}, ${out[1][7][12]})`,
  );
});

test('flips act after RandAugment, as in the recipe', () => {
  // Find a generator state whose single drawn op is a shear (the plan draws RandAugment first when there is no crop).
  const config = { ops: 1, magnitude: 10, magnitudeStd: 0, prob: 1 };
  let seed = 0;
  while (drawRandAugment(new Rng(seed), config)[0].op !== 'shearY') seed++;
  const [{ sign }] = drawRandAugment(new Rng(seed), config);
  const pixels = ramp();
  const off = { crop: null, hflip: 0, vflip: 0, rot90: 0, noise: null, erase: null };
  const out = augmentBatch(pixels, 1, SIZE, SIZE, { ...off, hflip: 1, randAugment: config }, new Rng(seed));
  const shear = geometricAffine('shearY', sign * 0.3);
  const shearThenFlip = normalize(warpBatch(pixels, 1, SIZE, SIZE, [shear])).flip(3);
  // Flip, then shear: the output samples flip(shear(p)), i.e. the shear's first row negated.
  const flipThenShear = normalize(
    warpBatch(pixels, 1, SIZE, SIZE, [[-shear[0], -shear[1], -shear[2], shear[3], shear[4], shear[5]]]),
  );
  assert.ok(out.allclose(shearThenFlip, 1e-4, 1e-4), 'shear, then flip');
  assert.ok(!out.allclose(flipThenShear, 1e-4, 1e-4), 'not flip, then shear');
});
