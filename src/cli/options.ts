// Option parsers shared by the commands: values are checked when the command line is parsed, before any work, and
// errors name the value (commander adds the option's name).
import { InvalidArgumentError } from 'commander';

export function parseNumber(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError(`'${value}' is not a number`);
  return n;
}

/** An integer in [min, max]. */
export function integerIn(min: number, max = Infinity): (value: string) => number {
  return (value) => {
    const n = parseNumber(value);
    if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`expected an integer ${max === Infinity ? `>= ${min}` : `in ${min}..${max}`}, got '${value}'`);
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
  if (!(n > 0 && n < 1)) throw new InvalidArgumentError(`expected a fraction between 0 and 1 (exclusive), got '${value}'`);
  return n;
}
