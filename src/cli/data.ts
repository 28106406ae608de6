// `dsdnet data inspect DIR` and `dsdnet data split DIR`.
import type { Command } from 'commander';

import {
  type Dataset,
  DEFAULT_SCALE,
  loadDecoded,
  makeSplit,
  MAX_DECODE_SIZE,
  MIN_DECODE_SIZE,
  problemLine,
  repeatedSplits,
  scanDataset,
  type SampleScale,
  splitHash,
  withoutItems,
  writeSplit,
} from '../data/index.js';
import { printable } from '../io/index.js';
import { DEFAULT_CONFIG } from '../train/index.js';
import { decodeSize } from '../trained/index.js';
import { integerIn, parseBands, parseFraction, parsePositiveInteger, parseScale, warn } from './options.js';

function summary(dataset: Dataset): string {
  const counts = dataset.classes.map((_, i) => dataset.items.filter((item) => item.label === i).length);
  const width = Math.max(...dataset.classes.map((c) => c.length));
  const lines = [`${printable(dataset.root)}: ${dataset.classes.length} classes, ${dataset.items.length} images`];
  dataset.classes.forEach((c, i) => lines.push(`  ${c.padEnd(width)}  ${counts[i]}`));
  const sizes = new Map<string, number>();
  const formats = new Map<string, number>();
  for (const item of dataset.items) {
    const size = `${item.width}x${item.height}`;
    sizes.set(size, (sizes.get(size) ?? 0) + 1);
    formats.set(item.format, (formats.get(item.format) ?? 0) + 1);
  }
  const top = [...sizes].sort((a, b) => b[1] - a[1]);
  lines.push(
    `sizes: ${top
      .slice(0, 5)
      .map(([s, n]) => `${s} (${n})`)
      .join(', ')}${top.length > 5 ? `, and ${top.length - 5} other sizes` : ''}`,
  );
  lines.push(`formats: ${[...formats].map(([f, n]) => `${f} (${n})`).join(', ')}`);
  const megabytes = dataset.items.reduce((s, item) => s + item.bytes, 0) / 2 ** 20;
  lines.push(`on disk: ${megabytes.toFixed(1)} MiB`);
  lines.push(
    `ignored: ${dataset.ignored.hidden} hidden, ${dataset.ignored.nonImages.length} non-image file(s)${dataset.ignored.nonImages.length > 0 ? ` (${printable(dataset.ignored.nonImages.slice(0, 5).join(', '))}${dataset.ignored.nonImages.length > 5 ? ', ...' : ''})` : ''}`,
  );
  if (dataset.skipped.length > 0)
    lines.push(`skipped ${dataset.skipped.length} bad file(s):`, ...dataset.skipped.map((s) => `  ${problemLine(s)}`));
  return lines.join('\n');
}

export function registerDataCommands(program: Command): void {
  const data = program.command('data').description('inspect datasets and make splits');
  data
    .command('inspect')
    .argument('<dir>', 'dataset folder: one sub-folder of images per class')
    .option('--skip-bad', 'leave out corrupt or mislabelled image files instead of failing')
    .option('--json', 'print the scan as JSON')
    .option('--decode', 'also decode every image (into the decode cache), to find truncated or unreadable files now')
    .option(
      '--size <px>',
      `decode size with --decode (default ${decodeSize(DEFAULT_CONFIG)}: what train decodes for its default ${DEFAULT_CONFIG.size} px input)`,
      integerIn(MIN_DECODE_SIZE, MAX_DECODE_SIZE),
    )
    .option('--bands <list>', 'with --decode: bands to use, as for train', parseBands)
    .option('--scale <s>', 'with --decode: sample scaling, as for train', parseScale)
    .description('classes, counts, sizes, formats and problems of a dataset folder')
    .action(
      async (
        dir: string,
        options: {
          skipBad?: boolean;
          json?: boolean;
          decode?: boolean;
          size?: number;
          bands?: number[];
          scale?: SampleScale;
        },
      ) => {
        let dataset = await scanDataset(dir, { skipBad: options.skipBad, onWarning: warn });
        if (options.decode) {
          const size = options.size ?? decodeSize(DEFAULT_CONFIG);
          const images = await loadDecoded(dataset, {
            size,
            decode: { bands: options.bands ?? null, scale: options.scale ?? DEFAULT_SCALE },
            skipBad: options.skipBad,
            onWarning: warn,
            progress: !options.json,
          });
          dataset = withoutItems(dataset, images.skipped);
          images.close();
          if (!options.json)
            console.error(
              `decoded: ${images.paths.length} images at ${size} px (${images.decoded} decoded now, the rest from the cache), ${images.skipped.length} could not be decoded`,
            );
        }
        console.log(options.json ? JSON.stringify(dataset, null, 1) : summary(dataset));
      },
    );
  data
    .command('split')
    .argument('<dir>', 'dataset folder')
    .option('--ratio <r>', 'fraction of each class for training (e.g. 0.8 for UC Merced)', parseFraction)
    .option('--per-class <n>', 'number of training images per class instead of a ratio', parsePositiveInteger)
    .option('--seed <s>', 'seed of the split', integerIn(0, Number.MAX_SAFE_INTEGER), 0)
    .option('--repeats <k>', 'write k splits from the seed (file names get -0, -1, ...)', parsePositiveInteger, 1)
    .option('--skip-bad', 'leave out bad image files instead of failing')
    .requiredOption('-o, --output <file>', 'split file to write (JSON)')
    .description('a stratified, seeded train/test split written as JSON')
    .action(
      async (
        dir: string,
        options: {
          ratio?: number;
          perClass?: number;
          seed: number;
          repeats: number;
          skipBad?: boolean;
          output: string;
        },
      ) => {
        if ((options.ratio === undefined) === (options.perClass === undefined))
          throw new Error('give exactly one of --ratio and --per-class');
        const dataset = await scanDataset(dir, { skipBad: options.skipBad, onWarning: warn });
        const spec =
          options.ratio !== undefined
            ? { seed: options.seed, ratio: options.ratio }
            : { seed: options.seed, perClass: options.perClass! };
        const splits =
          options.repeats === 1 ? [makeSplit(dataset, spec)] : repeatedSplits(dataset, spec, options.repeats);
        splits.forEach((split, i) => {
          const file = splits.length === 1 ? options.output : options.output.replace(/(\.json)?$/, `-${i}$1`);
          writeSplit(file, split);
          console.log(
            `${printable(file)}: ${split.train.length} train / ${split.test.length} test, ${split.classes.length} classes, seed ${split.seed}, sha256 ${splitHash(split).slice(0, 16)}`,
          );
        });
      },
    );
}
