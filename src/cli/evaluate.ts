// `dsdnet eval` and `dsdnet predict`, with libtorch (a run folder or checkpoint) or ONNX Runtime (an exported
// model.onnx, `--engine onnx`: libtorch is never loaded).
import { type Command, Option } from 'commander';

import {
  type CachedImages,
  type Dataset,
  type DecodeOptions,
  makeSplit,
  readSplit,
  scanDataset,
  type Split,
} from '../data/index.js';
import { computeMetrics, evaluate, type Metrics, predict, type Prediction } from '../eval/index.js';
import { classifyImages, OnnxClassifier } from '../serve/index.js';
import {
  decodeForModel,
  PRECISION_SETTINGS,
  type PrecisionSetting,
  resolvePrecision,
  runSplit,
} from '../train/index.js';
import { checkClassNames, loadModel } from '../trained/index.js';
import type { Device } from '../torch/index.js';
import { DEVICE_HELP, parseDevice, parsePositiveInteger, warn } from './options.js';

const ENGINES = ['libtorch', 'onnx'] as const;
type Engine = (typeof ENGINES)[number];

/** What eval needs of a model, whichever engine runs it. */
interface Evaluable {
  source: string;
  classNames: readonly string[];
  decodeSize: number;
  decode: DecodeOptions;
  /** The training run's split when it can be known: its split.json, or the ratio and seed recorded in an exported model. */
  runSplit(dataset: Dataset): { split: Split; from: string } | undefined;
  predictions(images: CachedImages, indices: readonly number[]): Promise<number[]>;
  release(): Promise<void>;
}

async function openForEval(
  checkpoint: string,
  engine: Engine,
  tag: string,
  precision: PrecisionSetting,
  dataset: Dataset,
  device: Device,
): Promise<Evaluable> {
  if (engine === 'onnx') {
    const classifier = await OnnxClassifier.load(checkpoint);
    checkClassNames(checkpoint, classifier.info.classNames, dataset.classes);
    const recorded = classifier.info.run.split as { ratio?: number; seed?: number } | undefined;
    return {
      source: checkpoint,
      classNames: classifier.info.classNames,
      decodeSize: classifier.info.decodeSize,
      decode: classifier.decode,
      runSplit: (data) =>
        recorded?.ratio !== undefined && recorded.seed !== undefined
          ? {
              split: makeSplit(data, { ratio: recorded.ratio, seed: recorded.seed }),
              from: `the run's ratio ${recorded.ratio} and seed ${recorded.seed}`,
            }
          : undefined,
      predictions: (images, indices) => classifyImages(classifier, images, indices),
      release: () => classifier.close(),
    };
  }
  const loaded = loadModel(checkpoint, { tag, expectClasses: dataset.classes, device });
  return {
    source: loaded.source,
    classNames: loaded.classNames,
    decodeSize: loaded.decodeSize,
    decode: loaded.decode,
    runSplit: (data) => runSplit(checkpoint, data),
    predictions: async (images, indices) =>
      evaluate(loaded.model, images, indices, loaded.classNames, {
        outputSize: loaded.size,
        precision: resolvePrecision(precision, device),
      }).predictions,
    release: async () => loaded.model.dispose(),
  };
}

/** ONNX Runtime's Node package computes on the CPU: a GPU is for the libtorch engine. */
function checkEngineDevice(engine: Engine, device: Device): void {
  if (engine === 'onnx' && device !== 'cpu')
    throw new Error(
      `--device ${device} applies to --engine libtorch; the onnx engine (onnxruntime-node) computes on the CPU`,
    );
}

export function registerEvaluateCommands(program: Command): void {
  program
    .command('eval')
    .argument(
      '<model>',
      'run folder, checkpoint folder or model.safetensors; with --engine onnx, an exported model.onnx',
    )
    .argument('<dir>', 'dataset folder')
    .addOption(
      new Option('--engine <e>', 'libtorch, or onnx (ONNX Runtime, for an exported model)')
        .choices(ENGINES)
        .default('libtorch'),
    )
    .option('--split <file>', "evaluate the test list of this split (default: the run's split, else every image)")
    .option('--tag <tag>', 'latest | best', 'latest')
    .option('--json', 'print the metrics as JSON')
    .addOption(
      new Option('--precision <p>', 'compute precision with libtorch (auto: bf16 where the CPU has it natively)')
        .choices(PRECISION_SETTINGS)
        .default('fp32'),
    )
    .option('--device <device>', `${DEVICE_HELP} (libtorch engine)`, parseDevice, 'cpu')
    .option('--skip-bad', 'leave out image files that fail the scan or the decoding, with a warning')
    .description('OA, AA, kappa and per-class metrics of a trained model on a dataset')
    .action(
      async (
        checkpoint: string,
        dir: string,
        flags: {
          engine: Engine;
          split?: string;
          tag: string;
          json?: boolean;
          precision: PrecisionSetting;
          skipBad?: boolean;
          device: Device;
        },
      ) => {
        checkEngineDevice(flags.engine, flags.device);
        const dataset = await scanDataset(dir, { skipBad: flags.skipBad, onWarning: warn });
        const model = await openForEval(checkpoint, flags.engine, flags.tag, flags.precision, dataset, flags.device);
        const chosen = flags.split
          ? { split: readSplit(flags.split, dataset), from: flags.split }
          : model.runSplit(dataset);
        const { images, positions } = await decodeForModel(dataset, model, chosen?.split, {
          progress: !flags.json,
          skipBad: flags.skipBad,
          onWarning: warn,
        });
        let metrics: Metrics;
        let count: number;
        try {
          const indices = positions(chosen ? 'test' : 'all');
          metrics = computeMetrics(
            indices.map((i) => images.labels[i]),
            await model.predictions(images, indices),
            model.classNames,
          );
          count = indices.length;
        } finally {
          images.close();
          await model.release();
        }
        if (flags.json) return console.log(JSON.stringify(metrics, null, 1));
        console.log(
          `${model.source} (${flags.engine}) on ${count} images of ${dir}${chosen ? ` (test split of ${chosen.from})` : ''}`,
        );
        console.log(
          `OA ${(100 * metrics.overallAccuracy).toFixed(2)}%  AA ${(100 * metrics.averageAccuracy).toFixed(2)}%  kappa ${metrics.kappa.toFixed(4)}`,
        );
      },
    );

  program
    .command('predict')
    .argument(
      '<model>',
      'run folder, checkpoint folder or model.safetensors; with --engine onnx, an exported model.onnx',
    )
    .argument('<images...>', 'image files')
    .addOption(
      new Option('--engine <e>', 'libtorch, or onnx (ONNX Runtime, for an exported model; libtorch is not loaded)')
        .choices(ENGINES)
        .default('libtorch'),
    )
    .option('--top-k <k>', 'classes to show per image', parsePositiveInteger, 5)
    .option('--json', 'print JSON')
    .addOption(
      new Option('--precision <p>', 'compute precision with libtorch (auto: bf16 where the CPU has it natively)')
        .choices(PRECISION_SETTINGS)
        .default('fp32'),
    )
    .option('--device <device>', `${DEVICE_HELP} (libtorch engine)`, parseDevice, 'cpu')
    .option('--skip-bad', 'leave out image files that cannot be decoded, with a warning')
    .description('the most likely classes of each image')
    .action(
      async (
        checkpoint: string,
        files: string[],
        flags: {
          engine: Engine;
          topK: number;
          json?: boolean;
          precision: PrecisionSetting;
          skipBad?: boolean;
          device: Device;
        },
      ) => {
        checkEngineDevice(flags.engine, flags.device);
        const options = { topK: flags.topK, skipBad: flags.skipBad, onWarning: warn };
        let predictions: Prediction[];
        if (flags.engine === 'onnx') {
          const classifier = await OnnxClassifier.load(checkpoint);
          predictions = await classifier.predict(files, options);
          await classifier.close();
        } else {
          const loaded = loadModel(checkpoint, { tag: 'latest', device: flags.device });
          predictions = await predict(loaded, files, {
            ...options,
            precision: resolvePrecision(flags.precision, flags.device),
          });
          loaded.model.dispose();
        }
        if (flags.json) return console.log(JSON.stringify(predictions, null, 1));
        for (const p of predictions)
          console.log(`${p.file}: ${p.top.map((t) => `${t.label} ${(100 * t.probability).toFixed(1)}%`).join(', ')}`);
      },
    );
}
