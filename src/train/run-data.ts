// A dataset as a trained model sees it: decoded at the model's size, bands and scaling, with the positions of a
// split's train and test lists among the decoded images (files left out by --skip-bad dropped). `eval` and `embed`
// both start here.
import { existsSync } from 'node:fs';
import { join } from 'node:path';

import {
  type CachedImages,
  type Dataset,
  type DecodeOptions,
  loadDecoded,
  readSplit,
  type Split,
  withoutFiles,
} from '../data/index.js';

export const SPLIT_PARTS = ['train', 'test', 'all'] as const;
export type SplitPart = (typeof SPLIT_PARTS)[number];

/** A run folder's split (its split.json, checked against the dataset), or undefined when it has none. */
export function runSplit(run: string, dataset: Dataset): { split: Split; from: string } | undefined {
  const file = join(run, 'split.json');
  return existsSync(file) ? { split: readSplit(file, dataset), from: file } : undefined;
}

export interface DecodedSplit {
  images: CachedImages;
  /** Positions in `images` of the split's train or test list, or of every decoded image ('all'). */
  positions(part: SplitPart): number[];
}

export interface DecodeSplitOptions {
  progress?: boolean;
  skipBad?: boolean;
  onWarning?: (message: string) => void;
}

/** Decodes the dataset as the model was trained to see it; without a split, only 'all' has positions. */
export async function decodeForModel(
  dataset: Dataset,
  model: { decodeSize: number; decode: DecodeOptions },
  split: Split | undefined,
  options: DecodeSplitOptions = {},
): Promise<DecodedSplit> {
  const images = await loadDecoded(dataset, { size: model.decodeSize, decode: model.decode, ...options });
  let kept: Split | undefined;
  try {
    kept =
      split &&
      withoutFiles(
        split,
        images.skipped.map((s) => s.path),
      );
  } catch (error) {
    images.close();
    throw error;
  }
  const position = new Map(images.paths.map((p, i) => [p, i]));
  return {
    images,
    positions(part) {
      if (part === 'all') return images.paths.map((_, i) => i);
      if (kept === undefined) throw new Error(`no split is known, so there is no ${part} list`);
      return kept[part].map((e) => position.get(e.path)!);
    },
  };
}
