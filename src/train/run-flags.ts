// A run's settings as the command line gives them: the flags as settings over a preset, the flags a run's method
// ignores (refused), and on resume what the flags ask that the run's config.json does not say.
import { resolve } from 'node:path';

import type { SampleScale } from '../data/index.js';
import type { MethodName, MethodOptions } from '../dsd/index.js';
import type { BackboneName, BottleneckStride } from '../models/index.js';
import type { TrainConfig } from '../trained/index.js';
import { type ConfigSettings, type PrecisionSetting, resolveConfig, resolvePrecision } from './config.js';

/** The flags that set a run's configuration, as the command line parsed them (choices and ranges checked there). */
export interface RunFlags {
  method?: MethodName;
  backbone?: BackboneName;
  bottleneckStride?: BottleneckStride;
  size?: number;
  epochs?: number;
  batchSize?: number;
  optimizer?: TrainConfig['optimizer'];
  lr?: number;
  ratio?: number;
  seed?: number;
  /** A split file. */
  split?: string;
  distill?: MethodOptions['distill'];
  condition?: MethodOptions['condition'];
  ddimSteps?: number;
  entropyWeight?: number;
  augment?: TrainConfig['augment'];
  /** 'imagenet', 'none', or a file or folder of weights. */
  pretrained?: string;
  precision?: PrecisionSetting;
  channelsLast?: boolean;
  skipBad?: boolean;
  bands?: number[];
  scale?: SampleScale;
}

/** The settings the flags give, over `preset` (whose method options they extend and whose warm-up they may shorten). */
export function overridesFromFlags(flags: RunFlags, preset: ConfigSettings): ConfigSettings {
  const o: ConfigSettings = {};
  if (flags.method !== undefined) o.method = flags.method;
  if (flags.backbone !== undefined) o.backbone = flags.backbone;
  if (flags.bottleneckStride !== undefined) o.bottleneckStride = flags.bottleneckStride;
  if (flags.size !== undefined) o.size = flags.size;
  if (flags.epochs !== undefined) o.epochs = flags.epochs;
  if (flags.batchSize !== undefined) o.batchSize = flags.batchSize;
  if (flags.optimizer !== undefined) o.optimizer = flags.optimizer;
  if (flags.lr !== undefined) o.lr = flags.lr;
  if (flags.augment !== undefined) o.augment = flags.augment;
  if (flags.seed !== undefined) o.seed = flags.seed;
  if (flags.pretrained !== undefined)
    o.pretrained =
      flags.pretrained === 'none' ? null : flags.pretrained === 'imagenet' ? 'imagenet' : resolve(flags.pretrained);
  if (flags.precision !== undefined) o.precision = flags.precision;
  if (flags.channelsLast !== undefined) o.channelsLast = flags.channelsLast;
  if (flags.skipBad !== undefined) o.skipBad = flags.skipBad;
  if (flags.bands !== undefined) o.bands = flags.bands;
  if (flags.scale !== undefined) o.scale = flags.scale;
  if (flags.split !== undefined) o.split = { file: resolve(flags.split) };
  else if (flags.ratio !== undefined || flags.seed !== undefined)
    o.split = { ratio: flags.ratio ?? 0.8, seed: flags.seed ?? 0 };
  const method = { ...preset.methodOptions };
  if (flags.distill !== undefined) method.distill = flags.distill;
  if (flags.condition !== undefined) method.condition = flags.condition;
  if (flags.ddimSteps !== undefined) method.ddimSteps = flags.ddimSteps;
  if (flags.entropyWeight !== undefined) method.entropyWeight = flags.entropyWeight;
  o.methodOptions = method;
  if (o.epochs !== undefined && preset.warmupEpochs !== undefined && preset.warmupEpochs >= o.epochs)
    o.warmupEpochs = Math.max(0, Math.floor(o.epochs / 6));
  return o;
}

/** The method options that mean nothing to a method: all four for plain, the diffusion's two for sd. */
const IDLE_METHOD_FLAGS: Record<MethodName, (keyof RunFlags)[]> = {
  plain: ['distill', 'condition', 'ddimSteps', 'entropyWeight'],
  sd: ['condition', 'ddimSteps'],
  dsd: [],
};

/** Refuses flags that the run's method ignores (they would be taken silently and change nothing). */
export function checkMethodFlags(flags: RunFlags, method: MethodName): void {
  const idle = IDLE_METHOD_FLAGS[method].filter((name) => flags[name] !== undefined);
  if (idle.length === 0) return;
  const shown = idle
    .map((name) => `--${name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} ${String(flags[name])}`)
    .join(', ');
  const why = method === 'plain' ? 'trains without self-distillation' : 'has no diffusion modules';
  throw new Error(
    `--method ${method} ${why}, so ${shown} would change nothing; leave ${idle.length > 1 ? 'them' : 'it'} out or choose ${method === 'plain' ? '--method sd or dsd' : '--method dsd'}`,
  );
}

const differs = (a: unknown, b: unknown): boolean => JSON.stringify(a) !== JSON.stringify(b);

/**
 * What the flags ask of a resumed run that its config.json (`saved`) does not say, as "setting value (the run has
 * X)". With a preset (--preset given), the flags must describe the whole run, as they would for a new one; without,
 * only the flags given are compared. A run resumes exactly as it started, so differences are refused, not applied.
 */
export function resumeContradictions(
  dir: string | undefined,
  flags: RunFlags,
  preset: ConfigSettings | null,
  saved: TrainConfig,
): string[] {
  const found: string[] = [];
  const check = (name: string, given: unknown, has: unknown): void => {
    if (given !== undefined && differs(given, has))
      found.push(`${name} ${JSON.stringify(given)} (the run has ${JSON.stringify(has)})`);
  };
  const data = dir === undefined ? saved.data : resolve(dir);
  check('dataset', data, saved.data);
  const { split, methodOptions, ...rest } =
    preset === null ? overridesFromFlags(flags, {}) : resolveConfig(data, preset, overridesFromFlags(flags, preset));
  if (rest.precision !== undefined) rest.precision = resolvePrecision(rest.precision);
  for (const [key, value] of Object.entries(rest))
    if (key !== 'data') check(key, value, saved[key as keyof TrainConfig]);
  for (const [key, value] of Object.entries(methodOptions ?? {}))
    check(key, value, saved.methodOptions[key as keyof MethodOptions]);
  if (preset !== null) check('split', split, saved.split);
  else {
    check('ratio', flags.ratio, 'ratio' in saved.split ? saved.split.ratio : undefined);
    check(
      'split',
      flags.split === undefined ? undefined : resolve(flags.split),
      'file' in saved.split ? saved.split.file : undefined,
    );
  }
  return found;
}
