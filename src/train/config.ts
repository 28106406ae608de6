// The configuration of a training run: defaults, presets (files in presets/), resolution, validation (unknown settings
// refused by name), and a run's config.json read back.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

import { DEFAULT_SCALE, MAX_DECODE_SIZE } from '../data/index.js';
import { DEFAULT_METHOD_OPTIONS, methodOptionProblems, METHODS, type MethodOptions } from '../dsd/index.js';
import { readBytes } from '../io/index.js';
import { backboneOptionProblems, BACKBONES, type BottleneckStride } from '../models/index.js';
import { cpuHasNativeBf16, type Device, packageRoot, PRECISIONS, type Precision } from '../torch/index.js';
import { AUGMENTS, decodeProblems, decodeSize, MIN_SIZE, OPTIMIZERS, type TrainConfig } from '../trained/index.js';
import { pretrainedBackboneOptions } from '../weights/index.js';

/** Runs written before a setting existed resume with the behaviour they started with. */
export const LEGACY_SETTINGS: Pick<
  TrainConfig,
  'precision' | 'channelsLast' | 'skipBad' | 'bands' | 'scale' | 'bottleneckStride'
> = {
  precision: 'fp32',
  channelsLast: false,
  skipBad: false,
  bands: null,
  scale: DEFAULT_SCALE,
  bottleneckStride: '3x3',
};

export const DEFAULT_CONFIG: Omit<TrainConfig, 'data'> = {
  split: { ratio: 0.8, seed: 0 },
  backbone: 'resnet18',
  bottleneckStride: '3x3',
  method: 'dsd',
  methodOptions: DEFAULT_METHOD_OPTIONS,
  size: 128,
  batchSize: 32,
  epochs: 30,
  optimizer: 'rmsprop',
  lr: 1e-4,
  headLrMultiplier: 10,
  weightDecay: 1e-5,
  momentum: 0.9,
  warmupEpochs: 5,
  warmupStartLr: 1e-6,
  cycles: 8,
  minLr: 1e-6,
  augment: 'recipe',
  cropFraction: 0.875,
  seed: 0,
  pretrained: null,
  precision: 'fp32',
  channelsLast: true,
  skipBad: false,
  bands: null,
  scale: DEFAULT_SCALE,
};

const PRESET_NAME = /^[A-Za-z0-9_-]+$/;

function presetNames(): string[] {
  return readdirSync(join(packageRoot(), 'presets'))
    .filter((f) => f.endsWith('.json'))
    .map((f) => f.slice(0, -5))
    .sort();
}

/**
 * Settings in `settings` that no configuration has, as '"name"' strings (`methodOptions.name` inside the method
 * options); `alsoKnown` are the keys allowed besides a configuration's settings.
 */
function unknownSettings(settings: object, alsoKnown: readonly string[] = []): string[] {
  const known = new Set([...Object.keys(DEFAULT_CONFIG), ...alsoKnown]);
  const unknown = Object.keys(settings).filter((k) => !known.has(k));
  const methodKeys = new Set(Object.keys(DEFAULT_METHOD_OPTIONS));
  const method = (settings as { methodOptions?: unknown }).methodOptions;
  if (method !== null && typeof method === 'object')
    unknown.push(
      ...Object.keys(method)
        .filter((k) => !methodKeys.has(k))
        .map((k) => `methodOptions.${k}`),
    );
  return unknown.map((k) => JSON.stringify(k));
}

/** Throws, naming the settings no configuration has and where they came from. */
function refuseUnknownSettings(settings: object, where: string, alsoKnown: readonly string[] = []): void {
  const unknown = unknownSettings(settings, alsoKnown);
  if (unknown.length > 0)
    throw new Error(
      `${where}: unknown setting(s) ${unknown.join(', ')} (a preset sets ${Object.keys(DEFAULT_CONFIG).join(', ')})`,
    );
}

/** A preset by name (presets/NAME.json) or by path to a JSON file; unknown settings are refused by name. */
export function readPreset(nameOrPath: string): ConfigSettings {
  const byName = !nameOrPath.endsWith('.json');
  if (byName && !PRESET_NAME.test(nameOrPath)) {
    throw new Error(
      `--preset '${nameOrPath}': give a preset's name (${presetNames().join(', ')}) or a path to a .json file`,
    );
  }
  const path = byName ? join(packageRoot(), 'presets', `${nameOrPath}.json`) : nameOrPath;
  if (!existsSync(path))
    throw new Error(
      byName
        ? `unknown preset '${nameOrPath}' (the presets are ${presetNames().join(', ')}; or give a path to a .json file)`
        : `${path}: no such preset file`,
    );
  let settings: unknown;
  try {
    settings = JSON.parse(readBytes(path).toString('utf8'));
  } catch (error) {
    throw new Error(`${path}: not a readable preset (${(error as Error).message})`);
  }
  if (settings === null || typeof settings !== 'object' || Array.isArray(settings))
    throw new Error(`${path}: a preset is a JSON object of settings`);
  refuseUnknownSettings(settings, `${path}: not a dsdnet preset`, ['description']);
  const { description: _description, ...preset } = settings as ConfigSettings & { description?: string };
  return preset;
}

/** A precision, or 'auto': bf16 where the CPU computes bfloat16 natively, fp32 elsewhere. */
export type PrecisionSetting = Precision | 'auto';
export const PRECISION_SETTINGS: readonly PrecisionSetting[] = [...PRECISIONS, 'auto'];

/** What a preset or the command line may set: a TrainConfig, with precision possibly 'auto' and some method options. */
export type ConfigSettings = Partial<Omit<TrainConfig, 'precision' | 'methodOptions'>> & {
  precision?: PrecisionSetting;
  methodOptions?: Partial<MethodOptions>;
};

/** 'auto': bf16 on GPUs and on CPUs that compute it natively, else fp32. */
export function resolvePrecision(setting: PrecisionSetting, device: Device = 'cpu'): Precision {
  if (setting !== 'auto') return setting;
  return device !== 'cpu' || cpuHasNativeBf16() ? 'bf16' : 'fp32';
}

/**
 * Defaults, then the preset, then explicit settings; validated (a setting no configuration has is refused). Unless a
 * preset or a flag sets the architecture, ImageNet weights from the catalogue get the one they were trained with.
 */
export function resolveConfig(
  data: string,
  preset: ConfigSettings,
  overrides: ConfigSettings,
  device: Device = 'cpu',
): TrainConfig {
  refuseUnknownSettings(preset, "resolveConfig's preset");
  refuseUnknownSettings(overrides, "resolveConfig's overrides");
  const precision = resolvePrecision(overrides.precision ?? preset.precision ?? DEFAULT_CONFIG.precision, device);
  const methodOptions = { ...DEFAULT_METHOD_OPTIONS, ...preset.methodOptions, ...overrides.methodOptions };
  const config: TrainConfig = { ...DEFAULT_CONFIG, ...preset, ...overrides, precision, methodOptions, data };
  // Unless told, the weights' own architecture: the catalogue's v1 ResNet-50, or what a dsdnet file records.
  config.bottleneckStride =
    overrides.bottleneckStride ??
    preset.bottleneckStride ??
    recordedStride(config.pretrained, config.backbone) ??
    DEFAULT_CONFIG.bottleneckStride;
  validateConfig(config);
  return config;
}

/**
 * The stride placement a pretrained source records for `backbone`, if any. A source that cannot be read here (a run
 * killed before its first save, bad metadata) records nothing: reading its weights names what is wrong.
 */
function recordedStride(pretrained: unknown, backbone: string): BottleneckStride | undefined {
  if (typeof pretrained !== 'string') return undefined;
  try {
    return pretrainedBackboneOptions(pretrained, backbone).bottleneckStride;
  } catch {
    return undefined;
  }
}

/** The configuration of the run in `out`: its config.json, with settings it predates filled in, validated. */
export function readRunConfig(out: string): TrainConfig {
  const configFile = join(out, 'config.json');
  if (!existsSync(configFile)) throw new Error(`${out}: nothing to resume (no config.json)`);
  let config: TrainConfig;
  try {
    config = { ...LEGACY_SETTINGS, ...(JSON.parse(readBytes(configFile).toString('utf8')) as TrainConfig) };
    validateConfig(config);
  } catch (error) {
    throw new Error(`${configFile}: ${(error as Error).message}`);
  }
  return config;
}

export function validateConfig(c: TrainConfig): void {
  const problems: string[] = [];
  const unknown = unknownSettings(c, ['data']);
  if (unknown.length > 0) problems.push(`unknown setting(s) ${unknown.join(', ')}`);
  const positiveInt = (name: keyof TrainConfig): void => {
    const v = c[name] as number;
    if (!(Number.isInteger(v) && v > 0)) problems.push(`${name} must be a positive integer, got ${v}`);
  };
  if (!(BACKBONES as readonly string[]).includes(c.backbone))
    problems.push(`unknown backbone '${c.backbone}' (expected one of ${BACKBONES.join(', ')})`);
  else problems.push(...backboneOptionProblems(c.backbone, { bottleneckStride: c.bottleneckStride }));
  if (!(METHODS as readonly string[]).includes(c.method))
    problems.push(`unknown method '${c.method}' (expected one of ${METHODS.join(', ')})`);
  if (!(OPTIMIZERS as readonly string[]).includes(c.optimizer))
    problems.push(`unknown optimizer '${c.optimizer}' (expected one of ${OPTIMIZERS.join(', ')})`);
  if (!(AUGMENTS as readonly string[]).includes(c.augment))
    problems.push(`unknown augment '${c.augment}' (expected one of ${AUGMENTS.join(', ')})`);
  positiveInt('size');
  positiveInt('batchSize');
  if (c.size < MIN_SIZE)
    problems.push(`size must be at least ${MIN_SIZE} px (the backbones downsample by 32), got ${c.size}`);
  if (c.batchSize === 1)
    problems.push('batchSize must be at least 2: BatchNorm cannot normalise a batch of one image in training');
  positiveInt('epochs');
  if (!(Number.isInteger(c.warmupEpochs) && c.warmupEpochs >= 0 && c.warmupEpochs < c.epochs))
    problems.push(`warmupEpochs must be an integer in [0, epochs), got ${c.warmupEpochs}`);
  for (const name of ['lr', 'warmupStartLr', 'minLr', 'weightDecay', 'headLrMultiplier'] as const)
    if (!(c[name] >= 0)) problems.push(`${name} must be >= 0, got ${c[name]}`);
  if (!(c.cropFraction > 0 && c.cropFraction <= 1))
    problems.push(`cropFraction must be in (0, 1], got ${c.cropFraction}`);
  else if (decodeSize(c) > MAX_DECODE_SIZE)
    problems.push(`size / cropFraction must be at most ${MAX_DECODE_SIZE} px (the decode size), got ${decodeSize(c)}`);
  problems.push(...methodOptionProblems(c.methodOptions).map((p) => `methodOptions: ${p}`));
  problems.push(...decodeProblems(c));
  if (!(Number.isInteger(c.cycles) && c.cycles >= 1))
    problems.push(`cycles must be a positive integer, got ${c.cycles}`);
  if ('ratio' in c.split && !(c.split.ratio > 0 && c.split.ratio < 1))
    problems.push(`ratio must be between 0 and 1, got ${c.split.ratio}`);
  if (!(Number.isSafeInteger(c.seed) && c.seed >= 0))
    problems.push(`seed must be a non-negative integer, got ${c.seed}`);
  if (
    c.pretrained !== null &&
    !(typeof c.pretrained === 'string' && (c.pretrained === 'imagenet' || existsSync(c.pretrained)))
  ) {
    problems.push(`pretrained must be 'imagenet' or an existing file or folder, got ${JSON.stringify(c.pretrained)}`);
  }
  if (!(PRECISIONS as readonly string[]).includes(c.precision))
    problems.push(`unknown precision '${c.precision}' (expected auto, ${PRECISIONS.join(' or ')})`);
  for (const name of ['channelsLast', 'skipBad'] as const)
    if (typeof c[name] !== 'boolean') problems.push(`${name} must be true or false, got ${JSON.stringify(c[name])}`);
  if (problems.length > 0) throw new Error(`invalid training configuration: ${problems.join('; ')}`);
}
