// Training augmentation on batches of decoded images, seeded by our own generator so that every epoch's draws are
// reproducible: a random crop (a window, or torchvision's random resized crop), RandAugment's geometric ops, flips and
// 90-degree rotations, all composed into one affine warp per image (a single batched grid_sample); RandAugment's
// photometric ops, Gaussian pixel noise and random erasing as batched tensor ops; then ImageNet normalisation.
// RandAugment follows timm's `rand-mM-mstdS` (its non-"increasing" transform set, level-to-argument mappings and PIL
// semantics), except that geometric ops are warped before every photometric op and that intermediate results stay
// in float instead of being rounded to 8 bits after each op.
import { arange, F, fromTypedArray, Generator, randn, type Tensor, tensor, tidy, where } from '../torch/index.js';
import type { Rng } from './random.js';

export const IMAGENET_MEAN = [0.485, 0.456, 0.406] as const;
export const IMAGENET_STD = [0.229, 0.224, 0.225] as const;

export interface RandAugmentConfig {
  /** Operations drawn per image. */
  ops: number;
  /** Magnitude 0..10. */
  magnitude: number;
  /** Standard deviation of the magnitude, drawn per operation (timm's mstd). */
  magnitudeStd: number;
  /** Probability that a drawn operation is applied. */
  prob: number;
}

export interface AugmentConfig {
  /**
   * 'window': a random output-size window of the (larger) decoded image, as resize + random crop;
   * 'resized': torchvision's random resized crop with area-fraction and aspect-ratio ranges;
   * null: the whole image.
   */
  crop: { kind: 'window' } | { kind: 'resized'; scale: [number, number]; ratio: [number, number] } | null;
  hflip: number;
  vflip: number;
  /** Probability of a random multiple of 90 degrees. */
  rot90: number;
  randAugment: RandAugmentConfig | null;
  /** Additive Gaussian pixel noise: sigma drawn uniformly (on the 0..255 scale), applied with probability p. */
  noise: { sigma: [number, number]; p: number } | null;
  /** Random erasing: probability, area fraction and aspect-ratio ranges; erased pixels become 0 after normalisation. */
  erase: { p: number; area: [number, number]; aspect: [number, number] } | null;
}

/** The DSDNet recipe's training augmentation. */
export const RECIPE_AUGMENT: AugmentConfig = {
  crop: { kind: 'window' },
  hflip: 0.5,
  vflip: 0.5,
  rot90: 0,
  randAugment: { ops: 2, magnitude: 9, magnitudeStd: 0.5, prob: 0.5 },
  noise: { sigma: [0, 10], p: 0.5 },
  erase: { p: 0.15, area: [0.02, 1 / 3], aspect: [0.3, 3.3] },
};

/** Flips and quarter turns of a random window: for small or already varied datasets. */
export const LIGHT_AUGMENT: AugmentConfig = {
  crop: { kind: 'window' },
  hflip: 0.5,
  vflip: 0.5,
  rot90: 0.5,
  randAugment: null,
  noise: null,
  erase: null,
};
/** A random window, nothing else. */
export const NO_AUGMENT: AugmentConfig = {
  crop: { kind: 'window' },
  hflip: 0,
  vflip: 0,
  rot90: 0,
  randAugment: null,
  noise: null,
  erase: null,
};
/** The training augmentations by the name a run's configuration gives (its `augment`). */
export const AUGMENT_PRESETS = {
  recipe: RECIPE_AUGMENT,
  light: LIGHT_AUGMENT,
  none: NO_AUGMENT,
} as const satisfies Record<string, AugmentConfig>;

// timm's _RAND_TRANSFORMS, in its order; TranslateX/Y are its relative (fraction of the size) variants.
const RAND_OPS = [
  'autoContrast',
  'equalize',
  'invert',
  'rotate',
  'posterize',
  'solarize',
  'solarizeAdd',
  'color',
  'contrast',
  'brightness',
  'sharpness',
  'shearX',
  'shearY',
  'translateX',
  'translateY',
] as const;
export type RandOp = (typeof RAND_OPS)[number];
const GEOMETRIC_OPS = ['rotate', 'shearX', 'shearY', 'translateX', 'translateY'] as const;
type Geometric = (typeof GEOMETRIC_OPS)[number];
export type Photometric = Exclude<RandOp, Geometric>;

function isGeometric(op: RandOp): op is Geometric {
  return (GEOMETRIC_OPS as readonly string[]).includes(op);
}

/**
 * What RandAugment's geometric ops bring in from outside the image: timm's img_mean, ImageNet's mean on 0..255
 * rounded, as timm's transform factory and the released script pass it (timm's bare default is 128 grey).
 */
const FILL = [124, 116, 104] as const;

/** A 2x3 affine matrix (row-major) mapping output to input in normalised coordinates, as affine_grid takes. */
export type Affine = [number, number, number, number, number, number];

function compose(a: Affine, b: Affine): Affine {
  // (a then b) applied to output coordinates: input = a(b(x)).
  return [
    a[0] * b[0] + a[1] * b[3],
    a[0] * b[1] + a[1] * b[4],
    a[0] * b[2] + a[1] * b[5] + a[2],
    a[3] * b[0] + a[4] * b[3],
    a[3] * b[1] + a[4] * b[4],
    a[3] * b[2] + a[4] * b[5] + a[5],
  ];
}

const IDENTITY: Affine = [1, 0, 0, 0, 1, 0];

/** torchvision's RandomResizedCrop box, as an affine map of the unit square. */
function cropAffine(rng: Rng, scale: [number, number], ratio: [number, number]): Affine {
  const [logLow, logHigh] = [Math.log(ratio[0]), Math.log(ratio[1])];
  for (let attempt = 0; attempt < 10; attempt++) {
    const area = rng.uniform(scale[0], scale[1]);
    const aspect = Math.exp(rng.uniform(logLow, logHigh));
    const w = Math.sqrt(area * aspect);
    const h = Math.sqrt(area / aspect);
    if (w <= 1 && h <= 1) {
      const cx = rng.uniform(w / 2, 1 - w / 2);
      const cy = rng.uniform(h / 2, 1 - h / 2);
      return [w, 0, 2 * cx - 1, 0, h, 2 * cy - 1];
    }
  }
  // Fallback: the largest centred crop within the ratio range.
  const w = Math.min(1, ratio[1]);
  const h = Math.min(1, 1 / ratio[0]);
  return [w, 0, 0, 0, h, 0];
}

/** A window of `output` pixels at a random whole-pixel offset in an image of `size` pixels: sampled exactly. */
function windowAffine(rng: Rng, size: number, output: number): Affine {
  const w = output / size;
  const x0 = rng.int(size - output + 1);
  const y0 = rng.int(size - output + 1);
  return [w, 0, (2 * x0 + output) / size - 1, 0, w, (2 * y0 + output) / size - 1];
}

/**
 * timm's level-to-argument mapping at a magnitude in 0..10 (without the random sign of the geometric ops): rotate in
 * degrees, shear factor, translation as a fraction of the size, bits kept by posterize, solarize's threshold, the
 * amount solarize-add adds (0..255 scale), and the blend factor of the enhance ops (no sign: 0.1..1.9). The
 * arithmetic is timm's, in its order, so that int() truncations agree.
 */
export function randAugmentArg(op: RandOp, magnitude: number): number {
  const level = magnitude / 10;
  switch (op) {
    case 'rotate':
      return level * 30;
    case 'shearX':
    case 'shearY':
      return level * 0.3;
    case 'translateX':
    case 'translateY':
      return level * 0.45;
    case 'posterize':
      return Math.trunc(level * 4);
    case 'solarize':
      return Math.trunc(level * 256);
    case 'solarizeAdd':
      return Math.trunc(level * 110);
    case 'color':
    case 'contrast':
    case 'brightness':
    case 'sharpness':
      return level * 1.8 + 0.1;
    case 'autoContrast':
    case 'equalize':
    case 'invert':
      return 0;
  }
}

/**
 * A geometric op with its signed argument as a map of output to input coordinates (normalised, align_corners false:
 * pixel i spans [i, i + 1] as in PIL). PIL rotates counter-clockwise about the centre, but shears about the top-left
 * corner (x_in = x + f y in pixels), hence the translation terms of the shears.
 */
export function geometricAffine(op: Geometric, value: number): Affine {
  switch (op) {
    case 'rotate': {
      const angle = (value * Math.PI) / 180;
      return [Math.cos(angle), -Math.sin(angle), 0, Math.sin(angle), Math.cos(angle), 0];
    }
    case 'shearX':
      return [1, value, value, 0, 1, 0];
    case 'shearY':
      return [1, 0, 0, value, 1, value];
    case 'translateX':
      return [1, 0, 2 * value, 0, 1, 0];
    case 'translateY':
      return [1, 0, 0, 0, 1, 2 * value];
  }
}

function drawMagnitude(rng: Rng, config: RandAugmentConfig): number {
  if (config.magnitudeStd <= 0) return config.magnitude;
  // Box-Muller from our generator; clipped to 0..10 as timm does.
  const g = Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
  return Math.min(10, Math.max(0, config.magnitude + g * config.magnitudeStd));
}

/** One applied RandAugment op: its magnitude, and the random sign (+-1) that timm gives geometric ops (1 otherwise). */
export interface RandStep {
  op: RandOp;
  magnitude: number;
  sign: number;
}

/**
 * RandAugment's draws for one image, in timm's order: `ops` ops chosen uniformly with replacement, then per op the
 * coin of probability `prob`, the magnitude ~ N(magnitude, magnitudeStd) clipped to 0..10, and the sign of a
 * geometric op. Returns the applied ops in order.
 */
export function drawRandAugment(rng: Rng, config: RandAugmentConfig): RandStep[] {
  const chosen = Array.from({ length: config.ops }, () => RAND_OPS[rng.int(RAND_OPS.length)]);
  const steps: RandStep[] = [];
  for (const op of chosen) {
    if (rng.next() >= config.prob) continue;
    const magnitude = drawMagnitude(rng, config);
    const sign = isGeometric(op) && rng.next() < 0.5 ? -1 : 1;
    steps.push({ op, magnitude, sign });
  }
  return steps;
}

interface ImagePlan {
  affine: Affine;
  photometric: { op: Photometric; magnitude: number }[];
  noiseSigma: number;
  erase: { x0: number; y0: number; x1: number; y1: number } | null;
}

function planImage(rng: Rng, config: AugmentConfig, inputSize: number, size: number): ImagePlan {
  const crop = config.crop;
  let affine =
    crop === null
      ? IDENTITY
      : crop.kind === 'window'
        ? windowAffine(rng, inputSize, size)
        : cropAffine(rng, crop.scale, crop.ratio);
  // RandAugment acts on the cropped image and the flips come after it, as in the recipe: composed in that order.
  const photometric: ImagePlan['photometric'] = [];
  for (const step of config.randAugment ? drawRandAugment(rng, config.randAugment) : []) {
    if (isGeometric(step.op))
      affine = compose(affine, geometricAffine(step.op, step.sign * randAugmentArg(step.op, step.magnitude)));
    else photometric.push({ op: step.op, magnitude: step.magnitude });
  }
  if (rng.next() < config.vflip) affine = compose(affine, [1, 0, 0, 0, -1, 0]);
  if (rng.next() < config.hflip) affine = compose(affine, [-1, 0, 0, 0, 1, 0]);
  if (config.rot90 > 0 && rng.next() < config.rot90) {
    const k = 1 + rng.int(3);
    const [c, s] = [Math.round(Math.cos((k * Math.PI) / 2)), Math.round(Math.sin((k * Math.PI) / 2))];
    affine = compose(affine, [c, -s, 0, s, c, 0]);
  }
  const noiseSigma =
    config.noise && rng.next() < config.noise.p ? rng.uniform(config.noise.sigma[0], config.noise.sigma[1]) / 255 : 0;
  let erase: ImagePlan['erase'] = null;
  if (config.erase && rng.next() < config.erase.p) {
    for (let attempt = 0; attempt < 10 && erase === null; attempt++) {
      const area = rng.uniform(config.erase.area[0], config.erase.area[1]) * size * size;
      const aspect = Math.exp(rng.uniform(Math.log(config.erase.aspect[0]), Math.log(config.erase.aspect[1])));
      const h = Math.round(Math.sqrt(area * aspect));
      const w = Math.round(Math.sqrt(area / aspect));
      if (w < size && h < size && w > 0 && h > 0) {
        const y0 = rng.int(size - h + 1);
        const x0 = rng.int(size - w + 1);
        erase = { x0, y0, x1: x0 + w, y1: y0 + h };
      }
    }
  }
  return { affine, photometric, noiseSigma, erase };
}

/**
 * One photometric op on a sub-batch in 0..1 ([n, 3, S, S]), each image at its own magnitude, with PIL's semantics on
 * the 0..255 scale: ops defined by a threshold or by bits see the pixel levels rounded, as PIL sees uint8 values.
 */
export function photometricOp(x: Tensor, op: Photometric, magnitudes: readonly number[]): Tensor {
  const n = magnitudes.length;
  const perImage = (values: number[]): Tensor => tensor(values, { dtype: 'float32' }).reshape([n, 1, 1, 1]);
  const arg = (): Tensor => perImage(magnitudes.map((m) => randAugmentArg(op, m)));
  // PIL's ImageEnhance: blend(degenerate, image, factor) = degenerate + factor (image - degenerate), clipped.
  const blend = (degenerate: Tensor): Tensor => degenerate.add(x.sub(degenerate).mul(arg())).clamp(0, 1);
  switch (op) {
    case 'autoContrast': {
      const low = x.amin([2, 3], true);
      const range = x.amax([2, 3], true).sub(low);
      return where(range.gt(1e-6), x.sub(low).div(range.clamp(1e-6)), x);
    }
    case 'equalize':
      return equalize(x);
    case 'invert':
      return x.neg().add(1);
    case 'posterize': {
      // Keeps the top `bits` bits of each level: level & ~(2^(8 - bits) - 1).
      const step = perImage(magnitudes.map((m) => 2 ** Math.max(0, 8 - randAugmentArg(op, m))));
      return x.mul(255).round().div(step).floor().mul(step).div(255);
    }
    case 'solarize':
      // Levels at or above the threshold are inverted.
      return where(x.mul(255).round().ge(arg()), x.neg().add(1), x);
    case 'solarizeAdd':
      // Levels below 128 get the amount added, clipped at 255.
      return where(x.mul(255).round().lt(128), x.add(arg().div(255)).clamp(0, 1), x);
    case 'color':
      return blend(grayscale(x));
    case 'contrast': {
      // PIL blends with a flat image at the greyscale mean, rounded to a level (int(mean + 0.5)).
      const mean = grayscale(x).mean([1, 2, 3], true).mul(255).add(0.5).floor().div(255);
      return blend(mean);
    }
    case 'brightness':
      return x.mul(arg()).clamp(0, 1);
    case 'sharpness': {
      // PIL's SMOOTH filter ([[1, 1, 1], [1, 5, 1], [1, 1, 1]] / 13) on the interior; PIL leaves the one-pixel border
      // as it is, so the blend leaves it unchanged.
      const [, , h, w] = x.shape;
      const degenerate = x.clone();
      if (h > 2 && w > 2) {
        const kernel = tensor(
          [
            [1, 1, 1],
            [1, 5, 1],
            [1, 1, 1],
          ],
          { dtype: 'float32' },
        )
          .div(13)
          .reshape([1, 1, 3, 3])
          .expand([3, 1, 3, 3]);
        degenerate
          .narrow(2, 1, h - 2)
          .narrow(3, 1, w - 2)
          .copy_(F.conv2d(x, kernel, null, { groups: 3 }));
      }
      return blend(degenerate);
    }
  }
}

/** Luma of [n, 3, S, S] as [n, 1, S, S]. */
function grayscale(x: Tensor): Tensor {
  const [r, g, b] = x.split(1, 1);
  return r.mul(0.299).add(g.mul(0.587)).add(b.mul(0.114));
}

/**
 * Histogram equalisation per image and channel on 256 levels ([n, 3, S, S]): level v -> (cdf(v) - cdf(0)) /
 * (pixels - 1), the textbook mapping (PIL's lookup table rounds differently).
 */
export function equalize(x: Tensor): Tensor {
  const [n, c, h, w] = x.shape;
  // Every (image, channel) plane gets its own 256 bins: one bincount and one lookup for the whole sub-batch.
  const planes = n * c;
  const bins = x
    .mul(255)
    .round()
    .clamp(0, 255)
    .long()
    .reshape([planes, h * w])
    .add(arange(0, planes * 256, 256, { dtype: 'int64' }).reshape([planes, 1]));
  const cdf = bins
    .flatten()
    .bincount(planes * 256)
    .float()
    .reshape([planes, 256])
    .cumsum(1);
  const lut = cdf
    .sub(cdf.narrow(1, 0, 1))
    .div(Math.max(h * w - 1, 1))
    .clamp(0, 1);
  return lut.flatten().indexSelect(0, bins.flatten()).reshape(x.shape);
}

/** Applies each image's drawn photometric ops in order (in place), batching the images that drew the same op. */
function applyPhotometric(x: Tensor, plans: readonly ImagePlan[]): Tensor {
  const slots = Math.max(0, ...plans.map((p) => p.photometric.length));
  const out = x;
  for (let slot = 0; slot < slots; slot++) {
    const groups = new Map<Photometric, { index: number[]; magnitudes: number[] }>();
    plans.forEach((p, i) => {
      const step = p.photometric[slot];
      if (step === undefined) return;
      const group = groups.get(step.op) ?? { index: [], magnitudes: [] };
      group.index.push(i);
      group.magnitudes.push(step.magnitude);
      groups.set(step.op, group);
    });
    for (const [name, group] of groups) {
      const index = tensor(group.index, { dtype: 'int64' });
      out.indexCopy_(0, index, photometricOp(out.indexSelect(0, index), name, group.magnitudes));
    }
  }
  return out;
}

/** Normalises a batch in 0..1 with ImageNet's mean and std. */
export function normalize(batch: Tensor): Tensor {
  const mean = tensor([...IMAGENET_MEAN], { dtype: 'float32' }).reshape([1, 3, 1, 1]);
  const std = tensor([...IMAGENET_STD], { dtype: 'float32' }).reshape([1, 3, 1, 1]);
  return batch.sub(mean).div_(std);
}

/** uint8 NHWC bytes -> float NCHW in 0..1. */
export function toFloatBatch(pixels: Uint8Array, count: number, size: number): Tensor {
  return tidy(() => fromTypedArray(pixels, [count, size, size, 3]).permute([0, 3, 1, 2]).float().div(255).contiguous());
}

/** Test-time transform: the centre `outputSize` window of the decoded images (resize + centre crop), normalised. */
export function evalBatch(pixels: Uint8Array, count: number, size: number, outputSize = size): Tensor {
  if (outputSize > size) throw new Error(`a ${outputSize} px centre crop does not fit in ${size} px images`);
  return tidy(() => {
    const offset = Math.floor((size - outputSize) / 2);
    const window = toFloatBatch(pixels, count, size).narrow(2, offset, outputSize).narrow(3, offset, outputSize);
    return normalize(window).contiguous();
  });
}

/**
 * Warps each uint8 NHWC image by its affine map (output to input, normalised) to a float NCHW batch in 0..1 of
 * outputSize, bilinearly; areas mapped from outside the image take the fill colour.
 */
export function warpBatch(
  pixels: Uint8Array,
  count: number,
  size: number,
  outputSize: number,
  affines: readonly Affine[],
): Tensor {
  return tidy(() => {
    // Sampled straight from the decoded NHWC layout on the 0..255 scale, offset by the fill so that grid_sample's zero
    // padding comes out as the fill; in-place steps spare big allocations.
    const fill = tensor([...FILL], { dtype: 'float32' });
    const images = fromTypedArray(pixels, [count, size, size, 3]).float().sub_(fill).permute([0, 3, 1, 2]);
    const theta = tensor(
      affines.map((a) => [a.slice(0, 3), a.slice(3)]),
      { dtype: 'float32' },
    );
    const grid = F.affineGrid(theta, [count, 3, outputSize, outputSize]);
    return F.gridSample(images, grid)
      .add_(fill.reshape([1, 3, 1, 1]))
      .div_(255);
  });
}

/** Augments a batch of uint8 NHWC images into a normalised float NCHW batch of outputSize. */
export function augmentBatch(
  pixels: Uint8Array,
  count: number,
  size: number,
  outputSize: number,
  config: AugmentConfig,
  rng: Rng,
): Tensor {
  if (config.crop?.kind === 'window' && outputSize > size)
    throw new Error(`a ${outputSize} px window does not fit in ${size} px images`);
  const plans = Array.from({ length: count }, () => planImage(rng, config, size, outputSize));
  return tidy(() => {
    let x = applyPhotometric(
      warpBatch(
        pixels,
        count,
        size,
        outputSize,
        plans.map((p) => p.affine),
      ),
      plans,
    );
    const noisy = plans.map((p, i) => [i, p.noiseSigma] as const).filter(([, sigma]) => sigma > 0);
    if (noisy.length > 0) {
      // Noise from a generator seeded by ours: reproducible, and the default generator (dropout...) is left alone.
      const generator = new Generator(rng.nextUint32());
      const index = tensor(
        noisy.map(([i]) => i),
        { dtype: 'int64' },
      );
      const sigma = tensor(
        noisy.map(([, s]) => s),
        { dtype: 'float32' },
      ).reshape([noisy.length, 1, 1, 1]);
      const noise = randn([noisy.length, 3, outputSize, outputSize], { generator }).mul_(sigma);
      x.indexAdd_(0, index, noise);
    }
    x = normalize(x.clamp_(0, 1));
    plans.forEach(({ erase }, i) => {
      if (erase)
        x.select(0, i)
          .narrow(1, erase.y0, erase.y1 - erase.y0)
          .narrow(2, erase.x0, erase.x1 - erase.x0)
          .fill_(0);
    });
    return x;
  });
}
