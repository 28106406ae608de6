// What a deployable model's file says about how to use it, and the limits it must meet: the command line's, since a
// file is as untrusted as a flag. Depends only on the backbones' names and the data's limits, so that readers of
// exported models (ONNX Runtime, without libtorch) check the same way.
import { type BandChoice, MAX_DECODE_SIZE, type SampleScale } from '../data/index.js';
import { BACKBONES } from '../models/index.js';

/** Smallest input the backbones take (they downsample by 32). */
export const MIN_SIZE = 32;

/** What a deployable model's file says about how to use it (checkpoint metadata, an ONNX model's metadata). */
export interface ModelSettings {
  backbone: string;
  classNames: unknown;
  size: number;
  decodeSize: number;
  bands: BandChoice;
  scale: SampleScale;
}

/**
 * What is wrong with a model file's settings, against the limits the command line has: a file is as untrusted as a
 * flag (an input size of 8000 would run for minutes at gigabytes).
 */
export function modelSettingsProblems(m: ModelSettings): string[] {
  const problems: string[] = [];
  if (!(BACKBONES as readonly string[]).includes(m.backbone))
    problems.push(`unknown backbone ${JSON.stringify(m.backbone)} (expected one of ${BACKBONES.join(', ')})`);
  const names = m.classNames;
  if (!(Array.isArray(names) && names.length >= 2 && names.every((n) => typeof n === 'string' && n !== '')))
    problems.push('the class names must be a list of at least two non-empty strings');
  else if (new Set(names).size !== names.length) problems.push('the class names repeat');
  if (!(Number.isInteger(m.size) && m.size >= MIN_SIZE && m.size <= MAX_DECODE_SIZE))
    problems.push(`input size must be an integer in ${MIN_SIZE}..${MAX_DECODE_SIZE} px, got ${m.size}`);
  else if (!(Number.isInteger(m.decodeSize) && m.decodeSize >= m.size && m.decodeSize <= MAX_DECODE_SIZE))
    problems.push(`decode size must be an integer in ${m.size}..${MAX_DECODE_SIZE} px, got ${m.decodeSize}`);
  problems.push(...decodeProblems(m));
  return problems;
}

/** What is wrong with the band choice and the sample scaling. */
export function decodeProblems({ bands, scale }: Pick<ModelSettings, 'bands' | 'scale'>): string[] {
  const problems: string[] = [];
  if (
    bands !== null &&
    !(
      Array.isArray(bands) &&
      (bands.length === 1 || bands.length === 3) &&
      bands.every((b) => Number.isInteger(b) && b >= 1)
    )
  ) {
    problems.push(`bands must be one or three band numbers (1-based), got ${JSON.stringify(bands)}`);
  }
  const validPercentile = scale?.kind === 'percentile' && scale.low >= 0 && scale.low < scale.high && scale.high <= 100;
  const validRange =
    scale?.kind === 'range' && Number.isFinite(scale.min) && Number.isFinite(scale.max) && scale.min < scale.max;
  if (!validPercentile && !validRange)
    problems.push(
      `scale must be percentiles 0 <= low < high <= 100 or a range min < max, got ${JSON.stringify(scale)}`,
    );
  return problems;
}
