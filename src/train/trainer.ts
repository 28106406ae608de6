// A training run, in phases: its configuration, the data (scan and split), the network (and pretrained weights,
// checked before anything is written), the run folder, decoding, initialisation or restore, the loop (loop.ts), the
// report. The run folder:
//   config.json       the resolved configuration
//   split.json        the split used (feed it to other tools)
//   metrics.jsonl     one line per epoch
//   checkpoints/      latest and best (atomic; see src/io/checkpoint.ts)
//   report.json, report.md, metrics.csv, confusion.csv, confusion.{svg,png}, curves.{svg,png}   at the end
// Resume continues exactly where the run stopped (schedule position, generator state, batch within the epoch).
// Ctrl-C (SIGINT) or SIGTERM saves and stops; a non-finite loss stops the run and keeps the last good checkpoint.
// The run folder is checked first (run-folder.ts): nothing of a user's is overwritten.
import { appendFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { type AugmentConfig, BatchLoader, type CachedImages, type Dataset, loadDecoded, makeSplit, placeBatch, readSplit, RECIPE_AUGMENT, scanDataset, type Split, withoutFiles, writeSplit } from '../data/index.js';
import type { ProcessGroup } from '../distributed/index.js';
import { SelfDistillationNet } from '../dsd/index.js';
import { confusionCsv, confusionSpec, curvesSpec, type EpochPoint, evaluate, type Metrics, metricsCsv, writeChart } from '../eval/index.js';
import { markdownCell, printable, readBytes } from '../io/index.js';
import { createBackbone } from '../models/index.js';
import { calibrateBatchNorm } from '../nn/index.js';
import { AdamW, GradScaler, type GroupOptions, type Optimizer, RMSprop, SGD, WarmupCosineRestarts } from '../optim/index.js';
import { type Device, deviceType, dispose, manualSeed, retainFreedMemory, setCudnnBenchmark } from '../torch/index.js';
import { decodeSize, type TrainConfig } from '../trained/index.js';
import { applyPretrained, type PretrainedWeights, readPretrained } from '../weights/index.js';
import { LEGACY_SETTINGS, validateConfig } from './config.js';
import { emptySums, type EpochRecord, type Progress, runLoop } from './loop.js';
import { evaluateOnRanks, replicate } from './replicas.js';
import { Reporter, type ReportMode } from './reporter.js';
import { checkRunFolder } from './run-folder.js';
import { restoreSnapshot, saveSnapshot } from './snapshot.js';

export const LIGHT_AUGMENT: AugmentConfig = { crop: { kind: 'window' }, hflip: 0.5, vflip: 0.5, rot90: 0.5, randAugment: null, noise: null, erase: null };
const NO_AUGMENT: AugmentConfig = { crop: { kind: 'window' }, hflip: 0, vflip: 0, rot90: 0, randAugment: null, noise: null, erase: null };
const AUGMENT_PRESETS: Record<TrainConfig['augment'], AugmentConfig> = { recipe: RECIPE_AUGMENT, light: LIGHT_AUGMENT, none: NO_AUGMENT };

export interface TrainOptions {
  out: string;
  resume?: boolean;
  report?: ReportMode;
  /** Stop after this many epochs of this invocation (tests, time-boxed runs); the run stays resumable. */
  stopAfterEpochs?: number;
  /** Keep freed memory in the heap for the rest of the process (see retainFreedMemory); default true unless DSDNET_MALLOC=system. */
  retainFreedMemory?: boolean;
  /**
   * Data parallelism: this process's group. Every rank trains on its share of each batch (batchSize is the global
   * batch, divided among the ranks); rank 0 alone writes the run folder.
   */
  group?: ProcessGroup;
  /** With a group: BatchNorm layers normalise with the statistics of the whole global batch (SyncBatchNorm). */
  syncBatchNorm?: boolean;
  /** Where the network trains (default: the CPU). Not part of the run: a run resumes on any device. */
  device?: Device;
}

export interface TrainResult {
  out: string;
  completed: boolean;
  interrupted: boolean;
  /** The signal (SIGINT, SIGTERM) that stopped this process, after saving. */
  signal?: NodeJS.Signals;
  epochs: EpochRecord[];
  final?: Metrics;
}

/** The run's optimizer: the heads (main and auxiliary) at headLrMultiplier times the learning rate, both scaled to the batch size. */
export function makeOptimizer(config: TrainConfig, net: SelfDistillationNet): Optimizer<GroupOptions> {
  const heads = new Set(net.headParameters());
  const rest = net.parameters().filter((p) => !heads.has(p));
  const lr = config.lr * lrScale(config);
  const groups = [{ params: rest }, { params: [...heads], lr: lr * config.headLrMultiplier }];
  const common = { lr, weightDecay: config.weightDecay };
  switch (config.optimizer) {
    case 'rmsprop':
      return new RMSprop(groups, { ...common, alpha: 0.99, eps: 1e-8 }) as unknown as Optimizer<GroupOptions>;
    case 'sgd':
      return new SGD(groups, { ...common, momentum: config.momentum }) as unknown as Optimizer<GroupOptions>;
    case 'adamw':
      return new AdamW(groups, common) as unknown as Optimizer<GroupOptions>;
  }
}

function readRecords(path: string, upToEpoch: number): EpochRecord[] {
  if (!existsSync(path)) return [];
  return readBytes(path).toString('utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as EpochRecord)
    .filter((r) => r.epoch <= upToEpoch);
}

/** The configuration of the run in `out`: its config.json, with settings it predates filled in, validated. */
export function readRunConfig(out: string): TrainConfig {
  const configFile = join(out, 'config.json');
  if (!existsSync(configFile)) throw new Error(`${out}: nothing to resume (no config.json)`);
  let config: TrainConfig;
  try {
    config = { ...LEGACY_SETTINGS, ...(JSON.parse(readBytes(configFile).toString('utf8')) as TrainConfig) };
    validateConfig(config);
  } catch (error) {
    throw new Error(`${configFile}: ${(error as Error).message}`);
  }
  return config;
}

/** The run's configuration: the given one for a new run, config.json on resume; the writer checks the folder first. */
function runConfig(config: TrainConfig, out: string, resume: boolean, writer: boolean): TrainConfig {
  const run = resume ? readRunConfig(out) : config;
  if (writer) checkRunFolder(out, run.data, resume);
  return run;
}

interface PreparedData {
  dataset: Dataset;
  split: Split;
}

/** Scans the dataset and makes or reads the split: cheap, and done before anything is written. */
async function prepareData(config: TrainConfig, out: string, resume: boolean, reporter: Reporter): Promise<PreparedData> {
  const dataset = await scanDataset(config.data, { skipBad: config.skipBad, onWarning: (m) => reporter.message(`warning: ${m}`) });
  let split: Split;
  if (resume) split = readSplit(join(out, 'split.json'), dataset);
  else if ('file' in config.split) split = readSplit(config.split.file, dataset);
  else split = makeSplit(dataset, { ratio: config.split.ratio, seed: config.split.seed });
  if (split.train.length < config.batchSize) throw new Error(`batch size ${config.batchSize} is larger than the ${split.train.length} training images`);
  return { dataset, split };
}

interface DecodedData {
  images: CachedImages;
  /** The split without the files that failed to decode (skipBad). */
  split: Split;
  trainIdx: number[];
  testIdx: number[];
}

/** Decodes (or reads from the cache) the images at size / cropFraction: training takes random windows, evaluation the centre one. */
async function decodeData(config: TrainConfig, { dataset, split }: PreparedData, reporter: Reporter): Promise<DecodedData> {
  const images = await loadDecoded(dataset, { size: decodeSize(config), decode: { bands: config.bands, scale: config.scale }, progress: reporter.mode === 'bar', skipBad: config.skipBad, onWarning: (m) => reporter.message(`warning: ${m}`) });
  const usable = images.skipped.length === 0 ? split : withoutFiles(split, images.skipped.map((s) => s.path));
  const position = new Map(images.paths.map((p, i) => [p, i]));
  return { images, split: usable, trainIdx: usable.train.map((e) => position.get(e.path)!), testIdx: usable.test.map((e) => position.get(e.path)!) };
}

/**
 * The network, seeded; unless a checkpoint will be restored, the pretrained source's weights are read and checked
 * here (before any file is written).
 */
function buildNetwork(config: TrainConfig, numClasses: number, restoring: boolean): { net: SelfDistillationNet; pretrained: PretrainedWeights | null } {
  manualSeed(config.seed);
  const backbone = createBackbone(config.backbone, numClasses);
  const net = new SelfDistillationNet(backbone, config.method, config.methodOptions);
  if (config.channelsLast) net.toMemoryFormat('channelsLast');
  if (restoring || config.pretrained === null) return { net, pretrained: null };
  try {
    return { net, pretrained: readPretrained(config.pretrained, backbone, config.backbone) };
  } catch (error) {
    net.dispose();
    throw error;
  }
}

/** Learning rates are given for batches of 32 and scale linearly with the batch size, as in the recipe. */
export function lrScale(config: Pick<TrainConfig, 'batchSize'>): number {
  return config.batchSize / 32;
}

function makeSchedule(config: TrainConfig, itersPerEpoch: number, reporter: Reporter): WarmupCosineRestarts {
  const cosineIters = (config.epochs - config.warmupEpochs) * itersPerEpoch;
  const cycles = Math.min(config.cycles, cosineIters);
  if (cycles < config.cycles) reporter.message(`note: ${cosineIters} iterations after warm-up allow only ${cycles} cosine cycles (not ${config.cycles})`);
  const scale = lrScale(config);
  return new WarmupCosineRestarts({ warmupIters: config.warmupEpochs * itersPerEpoch, warmupStartLr: config.warmupStartLr * scale, cosineIters, cycles, minLr: config.minLr * scale });
}

/** Batches the BatchNorm statistics of folded pretrained weights are calibrated on. */
const CALIBRATION_BATCHES = 10;

/** Copies pretrained weights in; folded BatchNorm gets statistics measured on training batches (epoch 0's, as augmented). */
function initialise(net: SelfDistillationNet, pretrained: PretrainedWeights, loader: BatchLoader, reporter: Reporter, device: Device): Record<string, unknown> {
  applyPretrained(net.backbone, pretrained);
  const summary: Record<string, unknown> = { source: pretrained.source, kind: pretrained.kind, layout: pretrained.layout, entry: pretrained.entry, replaced: pretrained.dropped };
  let note = '';
  if (pretrained.foldedBatchNorm) {
    const order = loader.order(0);
    const count = Math.min(CALIBRATION_BATCHES, loader.numBatches);
    const batches = Array.from({ length: count }, (_, b) => placeBatch(loader.batch(order, 0, b), device));
    calibrateBatchNorm(net.backbone, batches.map((b) => b.input));
    for (const b of batches) dispose([b.input, b.labels]);
    summary.batchNormCalibratedOn = count * loader.options.batchSize;
    note = `, BatchNorm unfolded and calibrated on ${count * loader.options.batchSize} training images`;
  }
  reporter.message(`initialised from ${pretrained.source} (${pretrained.kind}, ${pretrained.layout} names${note})`);
  return summary;
}

export async function train(configIn: TrainConfig, options: TrainOptions): Promise<TrainResult> {
  const { out, resume = false } = options;
  if (options.retainFreedMemory ?? process.env.DSDNET_MALLOC !== 'system') retainFreedMemory();
  const { group, device = 'cpu' } = options;
  const writer = (group?.rank ?? 0) === 0;
  const reporter = new Reporter(writer ? (options.report ?? 'bar') : 'quiet', writer);
  const config = runConfig(configIn, out, resume, writer);
  if (config.precision === 'fp16' && deviceType(device) !== 'cuda') throw new Error(`precision fp16 runs on CUDA devices (--device cuda); on ${device} use bf16 or fp32`);
  const world = group?.worldSize ?? 1;
  if (config.batchSize % world !== 0) throw new Error(`batch size ${config.batchSize} does not divide among ${world} processes`);
  const prepared = await prepareData(config, out, resume, reporter);
  const checkpoints = join(out, 'checkpoints');
  // A run stopped before its first checkpoint resumes from the start, pretrained initialisation included.
  const restoring = resume && existsSync(join(checkpoints, 'latest'));
  const { net, pretrained } = buildNetwork(config, prepared.split.classes.length, restoring);
  net.to(device);
  if (deviceType(device) === 'cuda') setCudnnBenchmark(true);
  let decoded: DecodedData;
  try {
    decoded = await decodeData(config, prepared, reporter);
  } catch (error) {
    net.dispose();
    throw error;
  }
  const { images, split, trainIdx, testIdx } = decoded;
  if (!resume && writer) {
    mkdirSync(out, { recursive: true });
    writeFileSync(join(out, 'config.json'), JSON.stringify(config, null, 2) + '\n');
    writeSplit(join(out, 'split.json'), split);
  }
  const shard = group ? { rank: group.rank, worldSize: world } : undefined;
  const loader = new BatchLoader(images, trainIdx, { batchSize: config.batchSize / world, shard, shuffle: true, seed: config.seed, dropLast: true, augment: AUGMENT_PRESETS[config.augment], outputSize: config.size });
  const optimizer = makeOptimizer(config, net);
  const schedule = makeSchedule(config, loader.numBatches, reporter);

  let progress: Progress = { epoch: 0, batchInEpoch: 0, iteration: 0, best: -1, sums: emptySums() };
  const scaler = config.precision === 'fp16' ? new GradScaler() : null;
  if (pretrained) progress.pretrained = initialise(net, pretrained, loader, reporter, device);
  if (restoring) {
    const info = restoreSnapshot<TrainConfig>(checkpoints, { model: net.backbone, auxiliary: net.auxiliary, optimizer, classNames: split.classes });
    progress = { ...(info.extra as Omit<Progress, 'epoch' | 'iteration'>), epoch: info.epoch, iteration: info.iteration };
    if (scaler && progress.gradScaler) scaler.loadStateDict(progress.gradScaler);
    reporter.message(`resumed ${out} at epoch ${progress.epoch + 1}, step ${progress.batchInEpoch + 1} (iteration ${progress.iteration})`);
  }
  const sync = group ? replicate(group, net, { syncBatchNorm: options.syncBatchNorm }) : undefined;
  const metricsFile = join(out, 'metrics.jsonl');
  const records = readRecords(metricsFile, progress.epoch);
  if (writer) writeFileSync(metricsFile, records.map((r) => JSON.stringify(r) + '\n').join(''));

  const testOptions = { outputSize: config.size, precision: config.precision };
  const evaluateTest = (): Metrics => (group ? evaluateOnRanks(group, net.backbone, images, testIdx, split.classes, testOptions) : evaluate(net.backbone, images, testIdx, split.classes, testOptions).metrics);
  const snapshotExtra = (): Record<string, unknown> => ({ batchInEpoch: progress.batchInEpoch, best: progress.best, sums: progress.sums, pretrained: progress.pretrained, gradScaler: scaler?.stateDict(), backbone: config.backbone, size: config.size });
  const { interrupted, signal } = await runLoop(
    {
      config, device, net, scaler, optimizer, schedule, loader, reporter, progress, checkpoints,
      evaluateTest,
      save: (tags) => {
        if (writer) saveSnapshot(checkpoints, tags, { model: net.backbone, auxiliary: net.auxiliary, optimizer, config, classNames: split.classes, epoch: progress.epoch, iteration: progress.iteration, extra: snapshotExtra() });
      },
      onEpoch: (record) => {
        if (writer) appendFileSync(metricsFile, JSON.stringify(record) + '\n');
        records.push(record);
      },
      sync,
    },
    options.stopAfterEpochs,
  );

  const completed = progress.epoch >= config.epochs && !interrupted;
  let final: Metrics | undefined;
  if (completed) {
    final = evaluateTest();
    if (writer) await writeReport(out, config, final, records, progress.best, progress.pretrained);
    reporter.done({ out, finalOA: final.overallAccuracy, finalAA: final.averageAccuracy, finalKappa: final.kappa, bestOA: progress.best });
  }
  net.dispose();
  images.close();
  return { out, completed, interrupted, signal, epochs: records, final };
}

async function writeReport(out: string, config: TrainConfig, final: Metrics, records: EpochRecord[], best: number, pretrained: Record<string, unknown> | undefined): Promise<void> {
  const bestRecord = records.reduce((a, b) => (b.testOA > a.testOA ? b : a), records[0]);
  const meanEpochSeconds = records.reduce((s, r) => s + r.seconds, 0) / records.length;
  const report = {
    dataset: config.data,
    backbone: config.backbone,
    method: config.method,
    methodOptions: config.method === 'plain' ? undefined : config.methodOptions,
    pretrained: pretrained ?? null,
    precision: config.precision,
    channelsLast: config.channelsLast,
    epochs: config.epochs,
    final: { overallAccuracy: final.overallAccuracy, averageAccuracy: final.averageAccuracy, kappa: final.kappa, perClass: final.perClass, confusion: final.confusion },
    bestEpoch: { epoch: bestRecord.epoch, overallAccuracy: best, note: 'selected on the test split, shown for reference only' },
    meanEpochSeconds,
  };
  writeFileSync(join(out, 'report.json'), JSON.stringify(report, null, 2) + '\n');
  writeFileSync(join(out, 'metrics.csv'), metricsCsv(final));
  writeFileSync(join(out, 'confusion.csv'), confusionCsv(final));
  const title = `${config.method} ${config.backbone}, final epoch`;
  await writeChart(confusionSpec(final, title), join(out, 'confusion'));
  const points: EpochPoint[] = records.map((r) => ({ epoch: r.epoch, trainLoss: r.trainLoss, trainAccuracy: r.trainAccuracy, testAccuracy: r.testOA }));
  await writeChart(curvesSpec(points, `${config.method} ${config.backbone}`), join(out, 'curves'));
  const pct = (v: number): string => (100 * v).toFixed(2);
  writeFileSync(
    join(out, 'report.md'),
    [
      `# ${config.method} / ${config.backbone} on ${printable(config.data)}`,
      '',
      `Final epoch (${config.epochs}): OA ${pct(final.overallAccuracy)}%, AA ${pct(final.averageAccuracy)}%, kappa ${final.kappa.toFixed(4)} on ${final.count} test images.`,
      `Best epoch on the test split (reference only): ${bestRecord.epoch}, OA ${pct(best)}%. Mean epoch time ${meanEpochSeconds.toFixed(1)} s.`,
      `Precision: ${config.precision === 'fp32' ? 'fp32' : `${config.precision} mixed precision (float32 weights and losses)`}, ${config.channelsLast ? 'channels-last' : 'row-major'} activations.`,
      `Initialisation: ${pretrained ? `${String(pretrained.source)} (${String(pretrained.kind)}, ${String(pretrained.layout)} names${pretrained.batchNormCalibratedOn ? `, BatchNorm calibrated on ${String(pretrained.batchNormCalibratedOn)} training images` : ''})` : 'random'}.`,
      '',
      '| class | support | precision | recall | F1 |',
      '|---|---|---|---|---|',
      ...final.perClass.map((c) => `| ${markdownCell(c.name)} | ${c.support} | ${c.precision.toFixed(3)} | ${c.recall.toFixed(3)} | ${c.f1.toFixed(3)} |`),
      '',
      '![confusion matrix](confusion.svg)',
      '![training curves](curves.svg)',
      '',
    ].join('\n'),
  );
}

/** A tensor-free summary line of a finished run, for the CLI. */
export function summarize(result: TrainResult): string {
  if (!result.final) return result.interrupted ? `interrupted; resume with: dsdnet train --resume --out ${result.out}` : `stopped; resume with: dsdnet train --resume --out ${result.out}`;
  const m = result.final;
  return `final: OA ${(100 * m.overallAccuracy).toFixed(2)}%  AA ${(100 * m.averageAccuracy).toFixed(2)}%  kappa ${m.kappa.toFixed(4)}  (report: ${join(result.out, 'report.md')})`;
}
