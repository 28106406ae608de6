// How many bytes the tensors of one weights file may take in memory once extracted: a small file whose zip entries
// inflate to gigabytes (a "zip bomb") is refused before anything is inflated. DSDNET_MAX_WEIGHT_BYTES (or an option)
// sets the limit; the default is min(8 GiB, half the machine's memory).
import { totalmem } from 'node:os';

export const MAX_WEIGHT_BYTES_ENV = 'DSDNET_MAX_WEIGHT_BYTES';
const GIB = 2 ** 30;
const DEFAULT_CAP = 8 * GIB;
const UNITS: Record<string, number> = { '': 1, K: 2 ** 10, M: 2 ** 20, G: GIB, T: 2 ** 40 };

/** '512 bytes', '600.0 MiB', '8.0 GiB'. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} bytes`;
  const [unit, size] =
    n < 2 ** 20 ? ['KiB', 2 ** 10] : n < GIB ? ['MiB', 2 ** 20] : n < 2 ** 40 ? ['GiB', GIB] : ['TiB', 2 ** 40];
  return `${(n / size).toFixed(1)} ${unit}`;
}

export interface ByteLimit {
  bytes: number;
  /** Where the limit comes from, for errors. */
  from: string;
}

/** The limit: `option` if given, else $DSDNET_MAX_WEIGHT_BYTES (bytes, or with a K/M/G/T suffix: 16G), else the default. */
export function maxWeightBytes(option?: number): ByteLimit {
  if (option !== undefined) {
    if (!(Number.isSafeInteger(option) && option > 0))
      throw new Error(`maxWeightBytes must be a positive whole number of bytes, got ${option}`);
    return { bytes: option, from: 'the maxWeightBytes option' };
  }
  const text = process.env[MAX_WEIGHT_BYTES_ENV];
  if (text === undefined || text.trim() === '') {
    const bytes = Math.min(DEFAULT_CAP, Math.floor(totalmem() / 2));
    return {
      bytes,
      from: `the default, min(8 GiB, half of this machine's ${formatBytes(totalmem())}); set ${MAX_WEIGHT_BYTES_ENV} to change it`,
    };
  }
  const match = /^(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?$/i.exec(text.trim());
  const bytes = match === null ? NaN : Math.floor(Number(match[1]) * UNITS[match[2].toUpperCase()]);
  if (!(Number.isSafeInteger(bytes) && bytes > 0)) {
    throw new Error(
      `${MAX_WEIGHT_BYTES_ENV}=${JSON.stringify(text)} is not a size: give bytes, or a number with K, M, G or T (e.g. 16G)`,
    );
  }
  return { bytes, from: `${MAX_WEIGHT_BYTES_ENV}=${text.trim()}` };
}
