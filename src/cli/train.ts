// `dsdnet train`, `dsdnet eval`, `dsdnet predict`, `dsdnet info`.
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

import type { Command } from 'commander';

import { loadDecoded, readSplit, scanDataset, withoutFiles } from '../data/index.js';
import { evaluate } from '../eval/index.js';
import { sharedDir } from '../io/index.js';
import { type Precision, PRECISIONS, setNumThreads } from '../torch/index.js';
import { type ConfigSettings, loadModel, type PrecisionSetting, predict, readPreset, resolveConfig, resolvePrecision, summarize, train, type TrainConfig } from '../train/index.js';
import { parseNumber } from './options.js';

/** UC Merced beside the project (../shared/datasets/ucmerced), the default dataset. */
function defaultDataset(): string {
  return join(sharedDir(), 'datasets', 'ucmerced');
}

interface TrainFlags {
  preset: string;
  method?: string;
  backbone?: string;
  size?: number;
  epochs?: number;
  batchSize?: number;
  optimizer?: string;
  lr?: number;
  ratio?: number;
  seed?: number;
  split?: string;
  distill?: string;
  condition?: string;
  ddimSteps?: number;
  entropyWeight?: number;
  augment?: string;
  pretrained?: string;
  precision?: string;
  channelsLast?: boolean;
  out?: string;
  resume?: boolean;
  quiet?: boolean;
  jsonl?: boolean;
  threads?: number;
  skipBad?: boolean;
}

function overridesFrom(flags: TrainFlags, preset: ConfigSettings): ConfigSettings {
  const o: ConfigSettings = {};
  if (flags.method !== undefined) o.method = flags.method as TrainConfig['method'];
  if (flags.backbone !== undefined) o.backbone = flags.backbone as TrainConfig['backbone'];
  if (flags.size !== undefined) o.size = flags.size;
  if (flags.epochs !== undefined) o.epochs = flags.epochs;
  if (flags.batchSize !== undefined) o.batchSize = flags.batchSize;
  if (flags.optimizer !== undefined) o.optimizer = flags.optimizer as TrainConfig['optimizer'];
  if (flags.lr !== undefined) o.lr = flags.lr;
  if (flags.augment !== undefined) o.augment = flags.augment as TrainConfig['augment'];
  if (flags.seed !== undefined) o.seed = flags.seed;
  if (flags.pretrained !== undefined) o.pretrained = flags.pretrained === 'none' ? null : flags.pretrained === 'imagenet' ? 'imagenet' : resolve(flags.pretrained);
  if (flags.precision !== undefined) o.precision = flags.precision as PrecisionSetting;
  if (flags.channelsLast !== undefined) o.channelsLast = flags.channelsLast;
  if (flags.skipBad !== undefined) o.skipBad = flags.skipBad;
  if (flags.split !== undefined) o.split = { file: resolve(flags.split) };
  else if (flags.ratio !== undefined || flags.seed !== undefined) o.split = { ratio: flags.ratio ?? 0.8, seed: flags.seed ?? 0 };
  const method = { ...preset.methodOptions };
  if (flags.distill !== undefined) method.distill = flags.distill as 'soft-ce' | 'released';
  if (flags.condition !== undefined) method.condition = flags.condition as 'refined' | 'student';
  if (flags.ddimSteps !== undefined) method.ddimSteps = flags.ddimSteps;
  if (flags.entropyWeight !== undefined) method.entropyWeight = flags.entropyWeight;
  o.methodOptions = method as TrainConfig['methodOptions'];
  if (o.epochs !== undefined && preset.warmupEpochs !== undefined && preset.warmupEpochs >= o.epochs) o.warmupEpochs = Math.max(0, Math.floor(o.epochs / 6));
  return o;
}

const warn = (message: string): void => void process.stderr.write(`warning: ${message}\n`);

function parsePrecision(value: string): Precision {
  if (value !== 'auto' && !(PRECISIONS as readonly string[]).includes(value)) throw new Error(`--precision: expected fp32, bf16 or auto, got '${value}'`);
  return resolvePrecision(value as PrecisionSetting);
}

export function registerTrainCommands(program: Command): void {
  program
    .command('train')
    .argument('[dir]', 'dataset folder (default: ../shared/datasets/ucmerced)')
    .description('train a classifier (plain, sd or dsd) and write a run folder with metrics, checkpoints and a report')
    .option('--preset <name>', 'finetune | cpu | paper | a JSON file', 'cpu')
    .option('--method <m>', 'plain | sd | dsd')
    .option('--backbone <b>', 'resnet18 | resnet34 | resnet50 | mobilenet_v2')
    .option('--size <px>', 'input size', parseNumber)
    .option('--epochs <n>', 'epochs', parseNumber)
    .option('--batch-size <n>', 'batch size', parseNumber)
    .option('--optimizer <o>', 'rmsprop | sgd | adamw')
    .option('--lr <lr>', 'backbone learning rate (heads get 10x)', parseNumber)
    .option('--ratio <r>', 'training fraction of each class (default 0.8)', parseNumber)
    .option('--seed <s>', 'seed of the split, the initialisation and the augmentation', parseNumber)
    .option('--split <file>', 'use this split file instead of --ratio/--seed')
    .option('--distill <d>', 'soft-ce (default) | released')
    .option('--condition <c>', 'refined (default) | student')
    .option('--ddim-steps <n>', 'DDIM steps of the generation (default 5)', parseNumber)
    .option('--entropy-weight <w>', 'weight of the entropy bonus (default 0.5; 0 removes it)', parseNumber)
    .option('--augment <a>', 'recipe | light | none')
    .option('--pretrained <source>', "initial backbone weights: 'imagenet', a PyTorch .pth, a safetensors file, a folder of .npy tensors, or 'none'")
    .option('--precision <p>', 'fp32 | bf16 (bfloat16 mixed precision: float32 weights, bf16 convolutions) | auto (bf16 where the CPU has it natively)')
    .option('--channels-last', 'store convolution weights and activations channels-last (NHWC; the default)')
    .option('--no-channels-last', 'keep them row-major (NCHW)')
    .option('--skip-bad', 'leave out image files that fail the scan or the decoding, with a warning, instead of stopping')
    .option('--out <dir>', 'run folder (default runs/<method>-<backbone>-<time>)')
    .option('--resume', 'continue the run in --out where it stopped')
    .option('--threads <n>', 'libtorch threads', parseNumber)
    .option('--quiet', 'no progress output')
    .option('--jsonl', 'progress as JSON lines on stdout')
    .action(async (dir: string | undefined, flags: TrainFlags) => {
      if (flags.threads !== undefined) setNumThreads(flags.threads);
      if (flags.resume && !flags.out) throw new Error('--resume needs --out RUN_DIR');
      const data = resolve(dir ?? defaultDataset());
      const preset = readPreset(flags.preset);
      const config = resolveConfig(data, preset, overridesFrom(flags, preset));
      const out = resolve(flags.out ?? join('runs', `${config.method}-${config.backbone}-${new Date().toISOString().replace(/[:.]/g, '-')}`));
      const report = flags.jsonl ? 'jsonl' : flags.quiet ? 'quiet' : 'bar';
      if (report === 'bar') process.stderr.write(`run folder: ${out}\n`);
      const result = await train(config, { out, resume: flags.resume, report });
      if (report !== 'jsonl') console.log(summarize(result));
      if (result.final && report === 'bar') console.log(readFileSync(join(out, 'report.md'), 'utf8').split('\n').slice(0, 4).join('\n'));
    });

  program
    .command('eval')
    .argument('<checkpoint>', 'run folder, checkpoint folder or model.safetensors')
    .argument('<dir>', 'dataset folder')
    .option('--split <file>', "evaluate the test list of this split (default: the run's split.json, else every image)")
    .option('--tag <tag>', 'latest | best', 'latest')
    .option('--json', 'print the metrics as JSON')
    .option('--precision <p>', 'fp32 (default) | bf16 | auto', 'fp32')
    .option('--skip-bad', 'leave out image files that fail the scan or the decoding, with a warning')
    .description('OA, AA, kappa and per-class metrics of a trained model on a dataset')
    .action(async (checkpoint: string, dir: string, flags: { split?: string; tag: string; json?: boolean; precision: string; skipBad?: boolean }) => {
      const precision = parsePrecision(flags.precision);
      const dataset = await scanDataset(dir, { skipBad: flags.skipBad, onWarning: warn });
      const loaded = loadModel(checkpoint, { tag: flags.tag, expectClasses: dataset.classes });
      const runSplit = join(checkpoint, 'split.json');
      const splitFile = flags.split ?? (existsSync(runSplit) ? runSplit : undefined);
      const split = splitFile ? readSplit(splitFile, dataset) : undefined;
      const images = await loadDecoded(dataset, { size: loaded.decodeSize, progress: !flags.json, skipBad: flags.skipBad, onWarning: warn });
      const position = new Map(images.paths.map((p, i) => [p, i]));
      const indices = split ? withoutFiles(split, images.skipped.map((s) => s.path)).test.map((e) => position.get(e.path)!) : images.paths.map((_, i) => i);
      const { metrics } = evaluate(loaded.model, images, indices, loaded.classNames, { outputSize: loaded.size, precision });
      images.close();
      if (flags.json) return console.log(JSON.stringify(metrics, null, 1));
      console.log(`${loaded.source} on ${indices.length} images of ${dir}${splitFile ? ` (test split of ${splitFile})` : ''}`);
      console.log(`OA ${(100 * metrics.overallAccuracy).toFixed(2)}%  AA ${(100 * metrics.averageAccuracy).toFixed(2)}%  kappa ${metrics.kappa.toFixed(4)}`);
    });

  program
    .command('predict')
    .argument('<checkpoint>', 'run folder, checkpoint folder or model.safetensors')
    .argument('<images...>', 'image files')
    .option('--top-k <k>', 'classes to show per image', parseNumber, 5)
    .option('--json', 'print JSON')
    .option('--precision <p>', 'fp32 (default) | bf16 | auto', 'fp32')
    .option('--skip-bad', 'leave out image files that cannot be decoded, with a warning')
    .description('the most likely classes of each image')
    .action(async (checkpoint: string, files: string[], flags: { topK: number; json?: boolean; precision: string; skipBad?: boolean }) => {
      const precision = parsePrecision(flags.precision);
      const loaded = loadModel(checkpoint, { tag: 'latest' });
      const predictions = await predict(loaded, files, { topK: flags.topK, precision, skipBad: flags.skipBad, onWarning: warn });
      if (flags.json) return console.log(JSON.stringify(predictions, null, 1));
      for (const p of predictions) console.log(`${p.file}: ${p.top.map((t) => `${t.label} ${(100 * t.probability).toFixed(1)}%`).join(', ')}`);
    });

  program
    .command('info')
    .argument('<checkpoint>', 'run folder, checkpoint folder or model.safetensors')
    .description('what a checkpoint holds: backbone, input size, classes, training state')
    .action((checkpoint: string) => {
      const loaded = loadModel(checkpoint);
      const info = loaded.info;
      console.log(`checkpoint: ${loaded.source}`);
      console.log(`backbone: ${loaded.backbone} (${loaded.model.numParameters().toLocaleString('en-US')} parameters), input ${loaded.size} px`);
      console.log(`classes (${loaded.classNames.length}): ${loaded.classNames.join(', ')}`);
      if (info.config) console.log(`method: ${info.config.method}, epoch ${info.epoch}/${info.config.epochs}, iteration ${info.iteration}`);
      loaded.model.dispose();
    });
}
