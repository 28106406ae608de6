// Stratified train/test splits: per class, by ratio or by count, from a seed, identical on every machine. Split
// files are JSON (class list, train and test lists of relative path and label) that other tools can read.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

import { printable, writeFileAtomic } from '../io/index.js';
import { deriveSeed, Rng } from './random.js';
import type { Dataset } from './scan.js';

export interface SplitEntry {
  path: string;
  label: number;
}

export interface Split {
  classes: string[];
  /** How it was made: seed and ratio or per-class count (absent for splits made elsewhere). */
  seed?: number;
  ratio?: number;
  perClass?: number;
  train: SplitEntry[];
  test: SplitEntry[];
}

export type SplitSpec = { seed: number } & (
  { ratio: number; perClass?: undefined } | { perClass: number; ratio?: undefined }
);

export function makeSplit(dataset: Dataset, spec: SplitSpec): Split {
  if (spec.ratio !== undefined && !(spec.ratio > 0 && spec.ratio < 1))
    throw new RangeError(`ratio must be between 0 and 1 (exclusive), got ${spec.ratio}`);
  if (spec.perClass !== undefined && !(Number.isInteger(spec.perClass) && spec.perClass > 0))
    throw new RangeError(`per-class count must be a positive integer, got ${spec.perClass}`);
  const rng = new Rng(spec.seed);
  const train: SplitEntry[] = [];
  const test: SplitEntry[] = [];
  dataset.classes.forEach((name, label) => {
    // Items are already sorted by path; the class order and this order make the draw machine-independent.
    const paths = dataset.items.filter((item) => item.label === label).map((item) => item.path);
    const n = paths.length;
    const nTrain = spec.ratio !== undefined ? Math.round(spec.ratio * n) : spec.perClass!;
    if (nTrain < 1 || nTrain >= n) {
      throw new RangeError(
        `class '${printable(name)}' has ${n} images: a split with ${nTrain} for training leaves ${nTrain < 1 ? 'none for training' : 'none for testing'}`,
      );
    }
    const order = rng.shuffle(paths.slice());
    for (const path of order.slice(0, nTrain).sort()) train.push({ path, label });
    for (const path of order.slice(nTrain).sort()) test.push({ path, label });
  });
  return {
    classes: [...dataset.classes],
    seed: spec.seed,
    ...(spec.ratio !== undefined ? { ratio: spec.ratio } : { perClass: spec.perClass }),
    train,
    test,
  };
}

/** `count` splits from one base seed (seeds derived per repetition), for mean +- std protocols. */
export function repeatedSplits(dataset: Dataset, spec: SplitSpec, count: number): Split[] {
  return Array.from({ length: count }, (_, i) =>
    makeSplit(dataset, { ...spec, seed: deriveSeed(spec.seed, i) } as SplitSpec),
  );
}

/** SHA-256 of the split's content (classes and lists), to pin or compare splits. */
export function splitHash(split: Split): string {
  return createHash('sha256')
    .update(JSON.stringify([split.classes, split.train, split.test]))
    .digest('hex');
}

export function writeSplit(path: string, split: Split): void {
  writeFileAtomic(path, [Buffer.from(JSON.stringify(split, null, 1) + '\n')]);
}

/** The first ten names of a list, printable, for an error message. */
function someOf(names: readonly string[]): string {
  return printable(`${names.slice(0, 10).join(', ')}${names.length > 10 ? ', ...' : ''}`);
}

/** Reads a split file; with a dataset, checks that its classes and files are that dataset's. */
export function readSplit(path: string, dataset?: Dataset): Split {
  const name = printable(path);
  let split: Split;
  try {
    split = JSON.parse(readFileSync(path, 'utf8')) as Split;
  } catch (error) {
    throw new Error(
      `${name}: cannot read the split file (${printable((error as NodeJS.ErrnoException).code ?? (error as Error).message)})`,
    );
  }
  const valid =
    Array.isArray(split?.classes) &&
    Array.isArray(split.train) &&
    Array.isArray(split.test) &&
    [...split.train, ...split.test].every(
      (e) => typeof e?.path === 'string' && Number.isInteger(e.label) && e.label >= 0 && e.label < split.classes.length,
    );
  if (!valid)
    throw new Error(
      `${name}: not a split file (expected classes, and train/test lists of {path, label} with labels in range)`,
    );
  for (const list of ['train', 'test'] as const) {
    if (split[list].length === 0) throw new Error(`${name}: the ${list} list is empty`);
    const seen = new Set<string>();
    const repeated = split[list].filter((e) => seen.has(e.path) || !seen.add(e.path)).map((e) => e.path);
    if (repeated.length > 0)
      throw new Error(
        `${name}: ${repeated.length} duplicate entr${repeated.length === 1 ? 'y' : 'ies'} in the ${list} list: ${someOf(repeated)}`,
      );
  }
  if (dataset !== undefined) checkSplitAgainst(name, split, dataset);
  return split;
}

/** `name`: the split file's path as printed. */
function checkSplitAgainst(name: string, split: Split, dataset: Dataset): void {
  if (split.classes.join('\n') !== dataset.classes.join('\n')) {
    throw new Error(
      `${name}: its classes [${printable(split.classes.join(', '))}] are not the dataset's [${dataset.classes.join(', ')}] (${printable(dataset.root)})`,
    );
  }
  const labels = new Map(dataset.items.map((item) => [item.path, item.label]));
  const missing = [...split.train, ...split.test].filter((e) => !labels.has(e.path)).map((e) => e.path);
  if (missing.length > 0)
    throw new Error(`${name}: ${missing.length} file(s) not in ${printable(dataset.root)}: ${someOf(missing)}`);
  const relabelled = [...split.train, ...split.test].filter((e) => labels.get(e.path) !== e.label).map((e) => e.path);
  if (relabelled.length > 0)
    throw new Error(`${name}: labels disagree with the class folders for ${someOf(relabelled)}`);
  const train = new Set(split.train.map((e) => e.path));
  const overlap = split.test.filter((e) => train.has(e.path)).map((e) => e.path);
  if (overlap.length > 0)
    throw new Error(`${name}: ${overlap.length} file(s) are in both train and test: ${someOf(overlap)}`);
}

/** The split without the given files (ones that could not be decoded); every class must keep training and test images. */
export function withoutFiles(split: Split, paths: readonly string[]): Split {
  const dropped = new Set(paths);
  const train = split.train.filter((e) => !dropped.has(e.path));
  const test = split.test.filter((e) => !dropped.has(e.path));
  const has = (list: SplitEntry[], label: number): boolean => list.some((e) => e.label === label);
  const emptied = split.classes.filter(
    (_, label) => (has(split.train, label) && !has(train, label)) || (has(split.test, label) && !has(test, label)),
  );
  if (emptied.length > 0)
    throw new RangeError(
      `without the files left out, class(es) ${printable(emptied.join(', '))} have no training or no test images`,
    );
  return { ...split, train, test };
}
