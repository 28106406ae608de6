// Predicting on image files with any engine (libtorch, ONNX Runtime): every file checked before any decoding, then
// decoded a batch at a time as in evaluation (failures named together, or skipped), scored by the engine, and the
// classes ranked. Nothing here computes with tensors, so the ONNX engine runs without libtorch.
import { statSync } from 'node:fs';
import { availableParallelism } from 'node:os';

import { decodeImage, type DecodeOptions, imageBytes, mapLimit } from '../data/index.js';
import { printable } from '../io/index.js';

export interface Prediction {
  file: string;
  top: { label: string; index: number; probability: number }[];
}

export interface PredictFilesOptions {
  /** Classes per image (default 5). */
  topK?: number;
  /** Images decoded and scored at once (default 32). */
  batchSize?: number;
  /** Leave out files that cannot be decoded (with a warning) instead of failing. */
  skipBad?: boolean;
  onWarning?: (message: string) => void;
}

/** How the model's images are prepared: resized (short side) to decodeSize, band choice and sample scaling. */
export interface Preparation {
  decodeSize: number;
  decode: DecodeOptions;
  classNames: readonly string[];
}

/** Class probabilities, count x classes, for `count` images of decodeSize x decodeSize x 3 bytes. */
export type Scorer = (pixels: Uint8Array, count: number) => Promise<ArrayLike<number>>;

/** Every file must exist and be a regular file: checked for all of them before any decoding. */
export function checkImageFiles(files: readonly string[]): void {
  const problems = files.flatMap((file) => {
    try {
      return statSync(file).isFile() ? [] : [`${printable(file)}: not a file`];
    } catch (error) {
      return [`${printable(file)}: cannot read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`];
    }
  });
  if (problems.length > 0)
    throw new Error(
      `${problems.length} of the ${files.length} image argument(s) cannot be used:\n${problems.map((p) => `  ${p}`).join('\n')}`,
    );
}

/** Decodes files as for evaluation; failures are named together, or left out with skipBad. */
export async function decodeFiles(
  files: readonly string[],
  size: number,
  decode: DecodeOptions,
  options: PredictFilesOptions = {},
): Promise<{ files: string[]; pixels: Uint8Array }> {
  const decoded = await mapLimit(files, 2 * availableParallelism(), (file) =>
    decodeImage(file, size, 'cover', decode).catch((error: Error) => error),
  );
  const failures = decoded.filter((d): d is Error => d instanceof Error).map((e) => e.message);
  if (failures.length > 0 && !options.skipBad)
    throw new Error(
      `${failures.length} image file(s) could not be decoded (leave them out with --skip-bad):\n${failures.map((f) => `  ${f}`).join('\n')}`,
    );
  for (const f of failures) options.onWarning?.(`skipping ${f}`);
  const good = decoded.flatMap((d, i) => (d instanceof Error ? [] : [{ file: files[i], pixels: d }]));
  const pixels = new Uint8Array(good.length * imageBytes(size));
  good.forEach((g, i) => pixels.set(g.pixels, i * imageBytes(size)));
  return { files: good.map((g) => g.file), pixels };
}

/** The k most probable classes of one image's probabilities, most probable first. */
export function topClasses(
  probabilities: ArrayLike<number>,
  classNames: readonly string[],
  k: number,
): Prediction['top'] {
  return Array.from(probabilities, (probability, index) => ({ index, probability }))
    .sort((a, b) => b.probability - a.probability)
    .slice(0, k)
    .map((r) => ({ label: classNames[r.index], index: r.index, probability: r.probability }));
}

/** Top-k classes for each image file, a batch at a time. */
export async function predictFiles(
  files: readonly string[],
  preparation: Preparation,
  score: Scorer,
  options: PredictFilesOptions = {},
): Promise<Prediction[]> {
  const { topK = 5, batchSize = 32 } = options;
  if (!(Number.isInteger(topK) && topK >= 1)) throw new RangeError(`top-k must be a positive integer, got ${topK}`);
  if (!(Number.isInteger(batchSize) && batchSize >= 1))
    throw new RangeError(`batch size must be a positive integer, got ${batchSize}`);
  checkImageFiles(files);
  const classes = preparation.classNames.length;
  const k = Math.min(topK, classes);
  const out: Prediction[] = [];
  for (let start = 0; start < files.length; start += batchSize) {
    const chunk = await decodeFiles(
      files.slice(start, start + batchSize),
      preparation.decodeSize,
      preparation.decode,
      options,
    );
    if (chunk.files.length === 0) continue;
    const probabilities = await score(chunk.pixels, chunk.files.length);
    chunk.files.forEach((file, i) => {
      const row = Array.prototype.slice.call(probabilities, i * classes, (i + 1) * classes) as number[];
      out.push({ file, top: topClasses(row, preparation.classNames, k) });
    });
  }
  return out;
}
