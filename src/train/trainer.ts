// A training run of a resolved configuration (config.ts), in phases: the data (scan and split), the network (and
// pretrained weights, checked before anything is written), the run folder, decoding, initialisation or restore, the
// loop (loop.ts), the report (report.ts); the optimizer and schedule come from optimizer.ts. The run folder:
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

import {
  AUGMENT_PRESETS,
  BatchLoader,
  type CachedImages,
  type Dataset,
  loadDecoded,
  makeSplit,
  placeBatch,
  readSplit,
  scanDataset,
  type Split,
  withoutFiles,
  writeSplit,
} from '../data/index.js';
import type { ProcessGroup } from '../distributed/index.js';
import { SelfDistillationNet } from '../dsd/index.js';
import { evaluate, type Metrics } from '../eval/index.js';
import { readBytes } from '../io/index.js';
import { createBackbone } from '../models/index.js';
import { calibrateBatchNorm } from '../nn/index.js';
import { GradScaler } from '../optim/index.js';
import { type Device, deviceType, dispose, manualSeed, setCudnnBenchmark } from '../torch/index.js';
import { decodeSize, type TrainConfig } from '../trained/index.js';
import { applyPretrained, type PretrainedWeights, readPretrained } from '../weights/index.js';
import { emptySums, type EpochRecord, type Progress, runLoop } from './loop.js';
import { makeOptimizer, makeSchedule } from './optimizer.js';
import { evaluateOnRanks, replicate } from './replicas.js';
import { writeReport } from './report.js';
import { Reporter, type ReportMode } from './reporter.js';
import { checkRunFolder } from './run-folder.js';
import { restoreSnapshot, saveSnapshot } from './snapshot.js';

export interface TrainOptions {
  out: string;
  /** Continue the run in `out` where it stopped; the config is then the run's own (readRunConfig(out) reads it). */
  resume?: boolean;
  report?: ReportMode;
  /** Stop after this many epochs of this invocation (tests, time-boxed runs); the run stays resumable. */
  stopAfterEpochs?: number;
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

function readRecords(path: string, upToEpoch: number): EpochRecord[] {
  if (!existsSync(path)) return [];
  return readBytes(path)
    .toString('utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as EpochRecord)
    .filter((r) => r.epoch <= upToEpoch);
}

interface PreparedData {
  dataset: Dataset;
  split: Split;
}

/** Scans the dataset and makes or reads the split: cheap, and done before anything is written. */
async function prepareData(
  config: TrainConfig,
  out: string,
  resume: boolean,
  reporter: Reporter,
): Promise<PreparedData> {
  const dataset = await scanDataset(config.data, {
    skipBad: config.skipBad,
    onWarning: (m) => reporter.message(`warning: ${m}`),
  });
  let split: Split;
  if (resume) split = readSplit(join(out, 'split.json'), dataset);
  else if ('file' in config.split) split = readSplit(config.split.file, dataset);
  else split = makeSplit(dataset, { ratio: config.split.ratio, seed: config.split.seed });
  if (split.train.length < config.batchSize)
    throw new Error(`batch size ${config.batchSize} is larger than the ${split.train.length} training images`);
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
async function decodeData(
  config: TrainConfig,
  { dataset, split }: PreparedData,
  reporter: Reporter,
): Promise<DecodedData> {
  const images = await loadDecoded(dataset, {
    size: decodeSize(config),
    decode: { bands: config.bands, scale: config.scale },
    progress: reporter.mode === 'bar',
    skipBad: config.skipBad,
    onWarning: (m) => reporter.message(`warning: ${m}`),
  });
  const usable =
    images.skipped.length === 0
      ? split
      : withoutFiles(
          split,
          images.skipped.map((s) => s.path),
        );
  const position = new Map(images.paths.map((p, i) => [p, i]));
  return {
    images,
    split: usable,
    trainIdx: usable.train.map((e) => position.get(e.path)!),
    testIdx: usable.test.map((e) => position.get(e.path)!),
  };
}

/**
 * The network, seeded; unless a checkpoint will be restored, the pretrained source's weights are read and checked
 * here (before any file is written).
 */
function buildNetwork(
  config: TrainConfig,
  numClasses: number,
  restoring: boolean,
): { net: SelfDistillationNet; pretrained: PretrainedWeights | null } {
  manualSeed(config.seed);
  const backbone = createBackbone(config.backbone, numClasses, { bottleneckStride: config.bottleneckStride });
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

/** Batches the BatchNorm statistics of folded pretrained weights are calibrated on. */
const CALIBRATION_BATCHES = 10;

/** Copies pretrained weights in; folded BatchNorm gets statistics measured on training batches (epoch 0's, as augmented). */
function initialise(
  net: SelfDistillationNet,
  pretrained: PretrainedWeights,
  loader: BatchLoader,
  reporter: Reporter,
  device: Device,
): Record<string, unknown> {
  applyPretrained(net.backbone, pretrained);
  const summary: Record<string, unknown> = {
    source: pretrained.source,
    kind: pretrained.kind,
    layout: pretrained.layout,
    entry: pretrained.entry,
    replaced: pretrained.dropped,
    normalisation: pretrained.normalisation,
  };
  let note = '';
  if (pretrained.foldedBatchNorm) {
    const order = loader.order(0);
    const count = Math.min(CALIBRATION_BATCHES, loader.numBatches);
    const batches = Array.from({ length: count }, (_, b) => placeBatch(loader.batch(order, 0, b), device));
    calibrateBatchNorm(
      net.backbone,
      batches.map((b) => b.input),
    );
    for (const b of batches) dispose([b.input, b.labels]);
    summary.batchNormCalibratedOn = count * loader.options.batchSize;
    note = `, BatchNorm unfolded and calibrated on ${count * loader.options.batchSize} training images`;
  }
  reporter.message(`initialised from ${pretrained.source} (${pretrained.kind}, ${pretrained.layout} names${note})`);
  return summary;
}

export async function train(config: TrainConfig, options: TrainOptions): Promise<TrainResult> {
  const { out, resume = false, group, device = 'cpu' } = options;
  const writer = (group?.rank ?? 0) === 0;
  const reporter = new Reporter(writer ? (options.report ?? 'bar') : 'quiet', writer);
  if (writer) checkRunFolder(out, config.data, resume);
  if (config.precision === 'fp16' && deviceType(device) !== 'cuda')
    throw new Error(`precision fp16 runs on CUDA devices (--device cuda); on ${device} use bf16 or fp32`);
  const world = group?.worldSize ?? 1;
  if (config.batchSize % world !== 0)
    throw new Error(`batch size ${config.batchSize} does not divide among ${world} processes`);
  const prepared = await prepareData(config, out, resume, reporter);
  const checkpoints = join(out, 'checkpoints');
  // A run stopped before its first checkpoint resumes from the start, pretrained initialisation included.
  const restoring = resume && existsSync(join(checkpoints, 'latest'));
  const { net, pretrained } = buildNetwork(config, prepared.split.classes.length, restoring);
  net.to(device);
  if (deviceType(device) === 'cuda') setCudnnBenchmark(true);
  // The network and the decoded images are released however the run ends: finished, interrupted, or stopped by an
  // error (a non-finite loss included).
  let images: CachedImages | undefined;
  try {
    const { images: cached, split, trainIdx, testIdx } = await decodeData(config, prepared, reporter);
    images = cached;
    if (!resume && writer) {
      mkdirSync(out, { recursive: true });
      writeFileSync(join(out, 'config.json'), JSON.stringify(config, null, 2) + '\n');
      writeSplit(join(out, 'split.json'), split);
    }
    const shard = group ? { rank: group.rank, worldSize: world } : undefined;
    const loader = new BatchLoader(cached, trainIdx, {
      batchSize: config.batchSize / world,
      shard,
      shuffle: true,
      seed: config.seed,
      dropLast: true,
      augment: AUGMENT_PRESETS[config.augment],
      outputSize: config.size,
    });
    const optimizer = makeOptimizer(config, net);
    const schedule = makeSchedule(config, loader.numBatches, reporter);

    let progress: Progress = { epoch: 0, batchInEpoch: 0, iteration: 0, best: -1, sums: emptySums() };
    const scaler = config.precision === 'fp16' ? new GradScaler() : null;
    if (pretrained) progress.pretrained = initialise(net, pretrained, loader, reporter, device);
    if (restoring) {
      const info = restoreSnapshot<TrainConfig>(checkpoints, {
        model: net.backbone,
        auxiliary: net.auxiliary,
        optimizer,
        classNames: split.classes,
      });
      progress = {
        ...(info.extra as Omit<Progress, 'epoch' | 'iteration'>),
        epoch: info.epoch,
        iteration: info.iteration,
      };
      if (scaler && progress.gradScaler) scaler.loadStateDict(progress.gradScaler);
      reporter.message(
        `resumed ${out} at epoch ${progress.epoch + 1}, step ${progress.batchInEpoch + 1} (iteration ${progress.iteration})`,
      );
    }
    const sync = group ? replicate(group, net, { syncBatchNorm: options.syncBatchNorm }) : undefined;
    const metricsFile = join(out, 'metrics.jsonl');
    const records = readRecords(metricsFile, progress.epoch);
    if (writer) writeFileSync(metricsFile, records.map((r) => JSON.stringify(r) + '\n').join(''));

    const testOptions = { outputSize: config.size, precision: config.precision };
    const evaluateTest = (): Metrics =>
      group
        ? evaluateOnRanks(group, net.backbone, cached, testIdx, split.classes, testOptions)
        : evaluate(net.backbone, cached, testIdx, split.classes, testOptions).metrics;
    const snapshotExtra = (): Record<string, unknown> => ({
      batchInEpoch: progress.batchInEpoch,
      best: progress.best,
      sums: progress.sums,
      pretrained: progress.pretrained,
      gradScaler: scaler?.stateDict(),
      backbone: config.backbone,
      size: config.size,
    });
    const { interrupted, signal } = await runLoop(
      {
        config,
        device,
        net,
        scaler,
        optimizer,
        schedule,
        loader,
        reporter,
        progress,
        checkpoints,
        evaluateTest,
        save: (tags) => {
          if (writer)
            saveSnapshot(checkpoints, tags, {
              model: net.backbone,
              auxiliary: net.auxiliary,
              optimizer,
              config,
              classNames: split.classes,
              epoch: progress.epoch,
              iteration: progress.iteration,
              extra: snapshotExtra(),
            });
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
      reporter.done({
        out,
        finalOA: final.overallAccuracy,
        finalAA: final.averageAccuracy,
        finalKappa: final.kappa,
        bestOA: progress.best,
      });
    }
    return { out, completed, interrupted, signal, epochs: records, final };
  } finally {
    net.dispose();
    images?.close();
  }
}
