// Option parsers shared by the commands: values are checked when the command line is parsed, before any work, and
// errors name the value (commander adds the option's name).
import { InvalidArgumentError } from 'commander';

import { DEFAULT_SCALE, type SampleScale } from '../data/index.js';
import { type Device, resolveDevice } from '../torch/index.js';

export function parseNumber(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError(`'${value}' is not a number`);
  return n;
}

/** An integer in [min, max]. */
export function integerIn(min: number, max = Infinity): (value: string) => number {
  return (value) => {
    const n = parseNumber(value);
    if (!Number.isInteger(n) || n < min || n > max)
      throw new InvalidArgumentError(
        `expected an integer ${max === Infinity ? `>= ${min}` : `in ${min}..${max}`}, got '${value}'`,
      );
    return n;
  };
}

export const parsePositiveInteger = integerIn(1);

/** A number >= 0. */
export function parseNonNegative(value: string): number {
  const n = parseNumber(value);
  if (n < 0) throw new InvalidArgumentError(`expected a number >= 0, got '${value}'`);
  return n;
}

/** A fraction strictly between 0 and 1. */
export function parseFraction(value: string): number {
  const n = parseNumber(value);
  if (!(n > 0 && n < 1))
    throw new InvalidArgumentError(`expected a fraction between 0 and 1 (exclusive), got '${value}'`);
  return n;
}

/** Prints a warning (skipped files, damaged cache shards) on stderr. */
export const warn = (message: string): void => void process.stderr.write(`warning: ${message}\n`);

/** `--bands 4,3,2`: one or three 1-based band numbers. */
export function parseBands(value: string): number[] {
  const bands = value.split(',').map((b) => Number(b.trim()));
  if (!((bands.length === 1 || bands.length === 3) && bands.every((b) => Number.isInteger(b) && b >= 1))) {
    throw new InvalidArgumentError(`expected one or three band numbers counted from 1, e.g. 4,3,2; got '${value}'`);
  }
  return bands;
}

/** `--scale percentile` (2nd to 98th), `--scale percentile:1:99`, or a fixed range `--scale 0:4095`. */
export function parseScale(value: string): SampleScale {
  const parts = value.split(':');
  const numbers = (list: string[]): number[] => list.map((p) => (p.trim() === '' ? NaN : Number(p)));
  if (parts[0] === 'percentile' && parts.length === 1) return DEFAULT_SCALE;
  if (parts[0] === 'percentile' && parts.length === 3) {
    const [low, high] = numbers(parts.slice(1));
    if (low >= 0 && low < high && high <= 100) return { kind: 'percentile', low, high };
  } else if (parts.length === 2) {
    const [min, max] = numbers(parts);
    if (Number.isFinite(min) && Number.isFinite(max) && min < max) return { kind: 'range', min, max };
  }
  throw new InvalidArgumentError(
    `expected 'percentile', 'percentile:LOW:HIGH' (0 <= LOW < HIGH <= 100) or 'MIN:MAX' (MIN < MAX), got '${value}'`,
  );
}

/** The help text of every command's --device. */
export const DEVICE_HELP =
  'where to compute: cpu, cuda (the first GPU), cuda:N, or auto (a GPU when libtorch sees one)';

/** `--device cpu|cuda|cuda:N|auto`, checked against the GPUs libtorch sees. */
export function parseDevice(value: string): Device {
  try {
    return resolveDevice(value.trim());
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
}

/**
 * The device of a data-parallel worker: with several ranks on one machine, CUDA means this rank's own GPU,
 * cuda:LOCAL_RANK, as torchrun's workers take it.
 */
export function rankDevice(device: Device, env: NodeJS.ProcessEnv = process.env): Device {
  if (device === 'cpu' || env.LOCAL_RANK === undefined || Number(env.WORLD_SIZE ?? 1) <= 1) return device;
  return parseDevice(`cuda:${Number(env.LOCAL_RANK)}`);
}
