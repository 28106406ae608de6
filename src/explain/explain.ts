// `dsdnet explain`'s work: for each image, class activation maps of the chosen stages of the main classifier, and
// of an sd/dsd run's stage heads on their own stages, side by side; a PNG per image (the image, then each map over
// it, with a colour bar), the raw maps as .npy (panels x S x S, float32, not normalised), explain.json, and a
// montage of all the images.
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { basename, extname, join } from 'node:path';

import { decodeImage, evalBatch } from '../data/index.js';
import { checkImageFiles } from '../eval/index.js';
import { writeFileAtomic, writeNpy } from '../io/index.js';
import type { LoadedModel } from '../trained/index.js';
import type { Layer } from '../nn/index.js';
import { noGrad, tidy } from '../torch/index.js';
import { type CamMethod, classActivationMaps, type ClassActivationMaps, upsampleMaps } from './gradcam.js';
import { montage, overlay, type Panel } from './render.js';

export interface ExplainOptions {
  /** Stages of the main classifier to explain (1-4). */
  stages: readonly number[];
  method: CamMethod;
  /** The class explained (default: each image's predicted class). */
  className?: string;
  /** Panels are shown at this size at least (the network's input is often smaller). */
  displaySize?: number;
}

export interface ExplainedImage {
  file: string;
  png: string;
  npy: string;
  explained: string;
  predicted: string;
  probability: number;
  panels: string[];
}

/** Refuses an output folder that already holds files: nothing of the user's is replaced. */
export function checkOutputDir(dir: string): void {
  if (existsSync(dir) && readdirSync(dir).length > 0)
    throw new Error(`${dir}: the output folder already holds files; give a new or empty folder`);
}

/** Output names from the images' base names, unique within the set. */
function outputNames(files: readonly string[]): string[] {
  const seen = new Map<string, number>();
  return files.map((file) => {
    const stem = basename(file, extname(file)).replace(/[^\w.-]+/g, '_') || 'image';
    const count = (seen.get(stem) ?? 0) + 1;
    seen.set(stem, count);
    return count === 1 ? stem : `${stem}-${count}`;
  });
}

/** Explains `files` with the loaded model (its heads too, when loaded); writes into `dir` and returns what it wrote. */
export async function explainImages(
  loaded: LoadedModel,
  files: readonly string[],
  dir: string,
  options: ExplainOptions,
): Promise<ExplainedImage[]> {
  checkImageFiles(files);
  checkOutputDir(dir);
  const { classNames, size, decodeSize } = loaded;
  const classIndex = options.className === undefined ? undefined : classNames.indexOf(options.className);
  if (classIndex === -1)
    throw new Error(`--class ${options.className}: not a class of this model (${classNames.join(', ')})`);
  const displaySize = Math.max(size, options.displaySize ?? 192);
  mkdirSync(dir, { recursive: true });
  const names = outputNames(files);
  const results: ExplainedImage[] = [];
  const rows: Panel[][] = [];
  for (const [i, file] of files.entries()) {
    const pixels = await decodeImage(file, decodeSize, 'cover', loaded.decode);
    const crop = centreCrop(pixels, decodeSize, size);
    const input = evalBatch(pixels, 1, decodeSize, size);
    try {
      const classes = classIndex === undefined ? undefined : [classIndex];
      const explain = (stage: number, head?: Layer): { cams: ClassActivationMaps; map: Float32Array } => {
        const cams = classActivationMaps(loaded.model, input, { stage, method: options.method, classes, head });
        return { cams, map: upsampleMaps(cams, 1, size) };
      };
      const main = options.stages.map((stage) => ({ title: `stage ${stage}`, ...explain(stage) }));
      // Head s sits on stage s: its map is of that stage's features, scored by the head's own logits.
      const heads = (loaded.heads ?? []).map((head, s) => ({ title: `head ${s + 1}`, ...explain(s + 1, head) }));
      const predicted = tidy(() => Number(noGrad(() => loaded.model.forward(input).argmax(1)).item()));
      const explained = main[0].cams.classes[0];
      const panels = [...main, ...heads];
      const title = (p: (typeof panels)[number]): string =>
        `${p.title}: ${classNames[explained]} ${(100 * p.cams.probabilities[0]).toFixed(0)}%`;
      const row: Panel[] = [
        { rgb: crop, size, title: basename(file) },
        ...panels.map((p) => ({ rgb: overlay(crop, p.map, size), size, title: title(p) })),
      ];
      rows.push(row);
      const maps = new Float32Array(panels.length * size * size);
      panels.forEach((p, k) => maps.set(p.map, k * size * size));
      const result: ExplainedImage = {
        file,
        png: `${names[i]}.png`,
        npy: `${names[i]}.npy`,
        explained: classNames[explained],
        predicted: classNames[predicted],
        probability: main[0].cams.probabilities[0],
        panels: panels.map((p) => p.title),
      };
      writeNpy(join(dir, result.npy), maps, [panels.length, size, size]);
      writeFileAtomic(join(dir, result.png), [await montage([row], displaySize)]);
      results.push(result);
    } finally {
      input.dispose();
    }
  }
  writeFileAtomic(join(dir, 'montage.png'), [await montage(rows, displaySize)]);
  const summary = { method: options.method, stages: options.stages, classNames, images: results };
  writeFileAtomic(join(dir, 'explain.json'), [new TextEncoder().encode(`${JSON.stringify(summary, null, 1)}\n`)]);
  return results;
}

/** The centre size x size window of a decodeSize x decodeSize RGB image (what the network sees). */
function centreCrop(pixels: Uint8Array, decodeSize: number, size: number): Uint8Array {
  const offset = Math.floor((decodeSize - size) / 2);
  const out = new Uint8Array(size * size * 3);
  for (let y = 0; y < size; y++)
    out.set(
      pixels.subarray(((y + offset) * decodeSize + offset) * 3, ((y + offset) * decodeSize + offset + size) * 3),
      y * size * 3,
    );
  return out;
}
