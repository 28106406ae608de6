// `dsdnet embed RUN [DIR]` and `dsdnet embed RUN_A RUN_B [DIR]`: how well a model's pooled features separate the
// classes (k-NN accuracy, silhouette) and a 2-D picture of them, one run or two side by side.
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';

import { type Command, Option } from 'commander';

import { scanDataset } from '../data/index.js';
import { writeChart } from '../eval/index.js';
import {
  type EmbeddedPoint,
  embeddingSpec,
  type FeatureRows,
  knnAccuracy,
  type KnnResult,
  poolFeatures,
  project2d,
  type Projection,
  type ProjectionMethod,
  PROJECTIONS,
  silhouetteScore,
} from '../explain/index.js';
import { checkWriteTarget, writeFileAtomic, writeNpy } from '../io/index.js';
import type { Device } from '../torch/index.js';
import {
  decodeForModel,
  PRECISION_SETTINGS,
  type PrecisionSetting,
  resolvePrecision,
  runSplit,
  SPLIT_PARTS,
  type SplitPart,
} from '../train/index.js';
import { checkClassNames, loadModel } from '../trained/index.js';
import { DEVICE_HELP, integerIn, parseDevice, parsePositiveInteger, warn } from './options.js';

const DISTANCE = 'cosine';

interface EmbedFlags {
  split: SplitPart;
  method: ProjectionMethod;
  output?: string;
  out?: string;
  overwrite?: boolean;
  k: number;
  seed: number;
  tag: string;
  precision: PrecisionSetting;
  device: Device;
  skipBad?: boolean;
}

/** A run folder: what `train --out` writes (embed needs its split.json as well as its checkpoints). */
function isRunFolder(path: string): boolean {
  return (
    statSync(path).isDirectory() && (existsSync(join(path, 'config.json')) || existsSync(join(path, 'checkpoints')))
  );
}

/** The runs and the optional dataset among the arguments, each checked to exist. */
function sortArguments(args: readonly string[]): { runs: string[]; dataset?: string } {
  for (const arg of args) if (!existsSync(arg)) throw new Error(`${arg}: no such run or dataset folder`);
  const runs = args.filter(isRunFolder);
  const others = args.filter((a) => !isRunFolder(a));
  if (!isRunFolder(args[0]))
    throw new Error(
      `${args[0]}: not a run folder (no config.json or checkpoints/ inside): give the folder that train --out wrote`,
    );
  if (others.length > 1 || (others.length === 1 && args.at(-1) !== others[0]))
    throw new Error(`${others[0]}: not a run folder; only the last argument may be a dataset folder`);
  if (runs.length > 2) throw new Error(`embed compares at most two runs, got ${runs.length}: ${runs.join(', ')}`);
  return { runs, dataset: others[0] };
}

/** The output folder, refused when it holds anything (unless --overwrite). */
function checkOutputFolder(dir: string, overwrite: boolean): void {
  if (!existsSync(dir)) return;
  if (!statSync(dir).isDirectory()) throw new Error(`${dir}: exists and is not a folder; choose another -o`);
  if (!overwrite && readdirSync(dir).length > 0)
    throw new Error(
      `${dir}: the output folder exists and is not empty; choose another -o, or pass --overwrite to replace its embedding files`,
    );
}

/** `features.npy` -> `features.index.json`, refused when either exists (unless --overwrite). */
function featureFiles(out: string, overwrite: boolean): { npy: string; index: string } {
  if (!out.endsWith('.npy')) throw new Error(`--out ${out}: the features file must end in .npy`);
  const files = { npy: out, index: `${out.slice(0, -'.npy'.length)}.index.json` };
  for (const file of Object.values(files)) {
    if (!overwrite && existsSync(file)) throw new Error(`${file}: exists; choose another --out, or pass --overwrite`);
    checkWriteTarget(file);
  }
  return files;
}

interface RunEmbedding {
  run: string;
  checkpoint: string;
  dataset: string;
  classNames: string[];
  knn: KnnResult & { reference: string; queries: string };
  silhouette: { value: number; distance: typeof DISTANCE; of: string };
  /** Rows of the chosen split part, in order: their features and what each is. */
  features: FeatureRows;
  rows: { file: string; label: number; className: string; split: 'train' | 'test' }[];
}

/** Features of the run's train and test images, the numbers, and the rows of the chosen part. */
async function embedRun(run: string, datasetDir: string | undefined, flags: EmbedFlags): Promise<RunEmbedding> {
  const loaded = loadModel(run, { tag: flags.tag, device: flags.device });
  try {
    const dir = datasetDir ?? loaded.info.config?.data;
    if (dir === undefined)
      throw new Error(`${run}: its checkpoint records no dataset; give the dataset folder after the run`);
    const dataset = await scanDataset(dir, { skipBad: flags.skipBad, onWarning: warn });
    checkClassNames(loaded.source, loaded.classNames, dataset.classes);
    const chosen = runSplit(run, dataset);
    if (chosen === undefined) throw new Error(`${run}: no split.json; embed needs the run's train and test lists`);
    const { images, positions } = await decodeForModel(dataset, loaded, chosen.split, {
      progress: true,
      skipBad: flags.skipBad,
      onWarning: warn,
    });
    try {
      const train = positions('train');
      const test = positions('test');
      const options = { outputSize: loaded.size, precision: resolvePrecision(flags.precision, flags.device) };
      const trainFeatures = poolFeatures(loaded.model, images, train, options);
      const testFeatures = poolFeatures(loaded.model, images, test, options);
      const label = (i: number): number => images.labels[i];
      const knn = knnAccuracy(trainFeatures, train.map(label), testFeatures, test.map(label), {
        k: flags.k,
        distance: DISTANCE,
      });
      const silhouette = silhouetteScore(testFeatures, test.map(label), DISTANCE);
      const parts = flags.split === 'all' ? (['train', 'test'] as const) : [flags.split];
      const chosenFeatures =
        flags.split === 'all'
          ? {
              data: concat(trainFeatures.data, testFeatures.data),
              rows: train.length + test.length,
              dim: trainFeatures.dim,
            }
          : flags.split === 'train'
            ? trainFeatures
            : testFeatures;
      const rows = parts.flatMap((part) =>
        (part === 'train' ? train : test).map((i) => ({
          file: images.paths[i],
          label: label(i),
          className: dataset.classes[label(i)],
          split: part,
        })),
      );
      return {
        run,
        checkpoint: loaded.source,
        dataset: dir,
        classNames: dataset.classes,
        knn: {
          ...knn,
          reference: `train split (${train.length} images)`,
          queries: `test split (${test.length} images)`,
        },
        silhouette: { value: silhouette, distance: DISTANCE, of: `test split (${test.length} images)` },
        features: chosenFeatures,
        rows,
      };
    } finally {
      images.close();
    }
  } finally {
    loaded.model.dispose();
  }
}

function concat(a: Float32Array, b: Float32Array): Float32Array {
  const out = new Float32Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

const percent = (v: number): string => `${(100 * v).toFixed(2)}%`;

/** A run's numbers and how they were measured: printed on one line, and the lines of its chart's title. */
const numbersText = (r: RunEmbedding): [string, string] => [
  `k-NN accuracy ${percent(r.knn.accuracy)} (k = ${r.knn.k}, ${r.knn.distance})`,
  `silhouette ${r.silhouette.value.toFixed(3)} (${r.silhouette.distance})`,
];

export function registerEmbedCommand(program: Command): void {
  program
    .command('embed')
    .argument('<run>', 'run folder')
    .argument('[more...]', "a second run folder to compare with, and/or the dataset folder (default: the run's own)")
    .addOption(
      new Option('--split <part>', "which images to project and write: the run's train or test list, or both")
        .choices(SPLIT_PARTS)
        .default('test'),
    )
    .addOption(
      new Option('--method <m>', '2-D projection: UMAP (umap-js) or exact t-SNE (at most 3,000 images)')
        .choices(PROJECTIONS)
        .default('umap'),
    )
    .option('-o, --output <dir>', 'output folder (default: RUN/embedding, or RUN_A/embedding-vs-NAME_B with two runs)')
    .option(
      '--out <features.npy>',
      'also write the pooled features (float32, N x C) and features.index.json (file, label, class per row); one run only',
    )
    .option('--overwrite', 'write into a non-empty output folder and replace an existing --out file')
    .option('--k <k>', 'neighbours of the k-NN accuracy', parsePositiveInteger, 5)
    .option('--seed <n>', 'seed of the projection', integerIn(0, Number.MAX_SAFE_INTEGER), 0)
    .option('--tag <tag>', 'latest | best', 'latest')
    .addOption(
      new Option('--precision <p>', 'compute precision (auto: bf16 where the CPU has it natively)')
        .choices(PRECISION_SETTINGS)
        .default('fp32'),
    )
    .option('--device <device>', DEVICE_HELP, parseDevice, 'cpu')
    .option('--skip-bad', 'leave out image files that fail the scan or the decoding, with a warning')
    .description(
      "how well a model's pooled features separate the classes: k-NN accuracy and silhouette on the run's split, and a 2-D scatter plot (UMAP or t-SNE)",
    )
    .action(async (first: string, more: string[], flags: EmbedFlags) => {
      const { runs, dataset } = sortArguments([first, ...more]);
      if (runs.length === 2 && flags.out !== undefined)
        throw new Error('--out writes the features of one run; give one run, or leave --out out');
      const outDir =
        flags.output ??
        (runs.length === 1 ? join(runs[0], 'embedding') : join(runs[0], `embedding-vs-${basename(runs[1])}`));
      checkOutputFolder(outDir, flags.overwrite ?? false);
      const featureTargets = flags.out === undefined ? undefined : featureFiles(flags.out, flags.overwrite ?? false);

      const embedded: { result: RunEmbedding; projection: Projection }[] = [];
      for (const run of runs) {
        const result = await embedRun(run, dataset, flags);
        console.log(`${run}: ${numbersText(result).join(', ')}; ${result.knn.queries} against ${result.knn.reference}`);
        embedded.push({ result, projection: project2d(result.features, flags.method, flags.seed) });
      }
      if (runs.length === 2) checkClassNames(runs[1], embedded[1].result.classNames, embedded[0].result.classNames);

      mkdirSync(outDir, { recursive: true });
      const points = ({
        result,
        projection,
      }: (typeof embedded)[number]): (EmbeddedPoint & { label: number; split: string })[] =>
        result.rows.map((row, i) => ({ ...row, x: projection.points[i][0], y: projection.points[i][1] }));
      const summary = {
        method: flags.method,
        settings: embedded[0].projection.settings,
        split: flags.split,
        runs: embedded.map((e) => ({
          run: e.result.run,
          checkpoint: e.result.checkpoint,
          dataset: e.result.dataset,
          classNames: e.result.classNames,
          featureSize: e.result.features.dim,
          knn: e.result.knn,
          silhouette: e.result.silhouette,
          points: points(e),
        })),
      };
      writeFileAtomic(join(outDir, 'embedding.json'), [Buffer.from(JSON.stringify(summary, null, 1) + '\n')]);
      const panels = embedded.map((e) => ({
        title: [basename(e.result.run), ...numbersText(e.result)],
        points: points(e),
      }));
      const spec = embeddingSpec(
        panels,
        embedded[0].result.classNames,
        `${flags.method.toUpperCase()} of pooled features, ${flags.split} split`,
      );
      writeFileAtomic(join(outDir, 'embedding.vl.json'), [Buffer.from(JSON.stringify(spec, null, 1) + '\n')]);
      await writeChart(spec, join(outDir, 'embedding'));
      console.log(
        `wrote ${join(outDir, 'embedding.json')} and the chart embedding.vl.json, .svg, .png (${flags.method}, ${flags.split} split, ${summary.runs[0].points.length} images)`,
      );

      if (featureTargets !== undefined) {
        const { features, rows } = embedded[0].result;
        writeNpy(featureTargets.npy, features.data, [features.rows, features.dim]);
        writeFileAtomic(featureTargets.index, [Buffer.from(JSON.stringify(rows, null, 1) + '\n')]);
        console.log(
          `wrote ${featureTargets.npy} (${features.rows} x ${features.dim} float32) and ${featureTargets.index}`,
        );
      }
    });
}
