// The training loop and its run folder:
//   config.json       the resolved configuration
//   split.json        the split used (feed it to other tools)
//   metrics.jsonl     one line per epoch
//   checkpoints/      latest and best (atomic; see src/io/checkpoint.ts)
//   report.json, report.md, metrics.csv, confusion.csv, confusion.{svg,png}, curves.{svg,png}   at the end
// Resume continues exactly where the run stopped (schedule position, generator state, batch within the epoch).
// Ctrl-C (SIGINT) saves and exits cleanly; a non-finite loss stops the run and keeps the last good checkpoint.
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { type AugmentConfig, BatchLoader, loadDecoded, makeSplit, RECIPE_AUGMENT, readSplit, scanDataset, type Split, writeSplit } from '../data/index.js';
import { SelfDistillationNet } from '../dsd/index.js';
import { confusionCsv, confusionSpec, curvesSpec, type EpochPoint, evaluate, type Metrics, metricsCsv, writeChart } from '../eval/index.js';
import { createBackbone } from '../models/index.js';
import { AdamW, applySchedule, type GroupOptions, type Optimizer, RMSprop, SGD, WarmupCosineRestarts } from '../optim/index.js';
import { manualSeed, noGrad, tidy } from '../torch/index.js';
import { decodeSize, type TrainConfig } from './config.js';
import { Reporter, type ReportMode } from './reporter.js';
import { restoreSnapshot, saveSnapshot } from './snapshot.js';

export const LIGHT_AUGMENT: AugmentConfig = { crop: { kind: 'window' }, hflip: 0.5, vflip: 0.5, rot90: 0.5, randAugment: null, noise: null, erase: null };
const NO_AUGMENT: AugmentConfig = { crop: { kind: 'window' }, hflip: 0, vflip: 0, rot90: 0, randAugment: null, noise: null, erase: null };
const AUGMENT_PRESETS: Record<TrainConfig['augment'], AugmentConfig> = { recipe: RECIPE_AUGMENT, light: LIGHT_AUGMENT, none: NO_AUGMENT };

export interface EpochRecord {
  epoch: number;
  trainLoss: number;
  trainAccuracy: number;
  testOA: number;
  testAA: number;
  testKappa: number;
  lr: number;
  seconds: number;
  imagesPerSecond: number;
  parts: Record<string, number>;
}

export interface TrainOptions {
  out: string;
  resume?: boolean;
  report?: ReportMode;
  /** Stop after this many epochs of this invocation (tests, time-boxed runs); the run stays resumable. */
  stopAfterEpochs?: number;
}

export interface TrainResult {
  out: string;
  completed: boolean;
  interrupted: boolean;
  epochs: EpochRecord[];
  final?: Metrics;
}

export class NonFiniteLossError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NonFiniteLossError';
  }
}

/** The run's optimizer: the heads (main and auxiliary) at headLrMultiplier times the learning rate. */
export function makeOptimizer(config: TrainConfig, net: SelfDistillationNet): Optimizer<GroupOptions> {
  const heads = new Set(net.headParameters());
  const rest = net.parameters().filter((p) => !heads.has(p));
  const groups = [{ params: rest }, { params: [...heads], lr: config.lr * config.headLrMultiplier }];
  const common = { lr: config.lr, weightDecay: config.weightDecay };
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
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as EpochRecord)
    .filter((r) => r.epoch <= upToEpoch);
}

async function prepareSplit(config: TrainConfig, out: string, resume: boolean): Promise<{ split: Split; dataset: Awaited<ReturnType<typeof scanDataset>> }> {
  const dataset = await scanDataset(config.data);
  const splitFile = join(out, 'split.json');
  let split: Split;
  if (resume) split = readSplit(splitFile, dataset);
  else if ('file' in config.split) split = readSplit(config.split.file, dataset);
  else split = makeSplit(dataset, { ratio: config.split.ratio, seed: config.split.seed });
  if (!resume) writeSplit(splitFile, split);
  return { split, dataset };
}

export async function train(configIn: TrainConfig, options: TrainOptions): Promise<TrainResult> {
  const { out, resume = false } = options;
  const reporter = new Reporter(options.report ?? 'bar');
  const configFile = join(out, 'config.json');
  let config = configIn;
  if (resume) {
    if (!existsSync(configFile)) throw new Error(`${out}: nothing to resume (no config.json)`);
    config = JSON.parse(readFileSync(configFile, 'utf8')) as TrainConfig;
  } else {
    if (existsSync(join(out, 'checkpoints'))) throw new Error(`${out} already holds a run; resume it with --resume or choose another --out`);
    mkdirSync(out, { recursive: true });
    writeFileSync(configFile, JSON.stringify(config, null, 2) + '\n');
  }
  const { split, dataset } = await prepareSplit(config, out, resume);
  // Decoded at size / cropFraction: training takes random size-pixel windows, evaluation the centre one.
  const images = await loadDecoded(dataset, { size: decodeSize(config), progress: reporter.mode === 'bar' });
  const position = new Map(images.paths.map((p, i) => [p, i]));
  const trainIdx = split.train.map((e) => position.get(e.path)!);
  const testIdx = split.test.map((e) => position.get(e.path)!);

  manualSeed(config.seed);
  const net = new SelfDistillationNet(createBackbone(config.backbone, split.classes.length), config.method, config.methodOptions);
  const optimizer = makeOptimizer(config, net);
  const loader = new BatchLoader(images, trainIdx, { batchSize: config.batchSize, shuffle: true, seed: config.seed, dropLast: true, augment: AUGMENT_PRESETS[config.augment], outputSize: config.size });
  if (loader.numBatches === 0) throw new Error(`batch size ${config.batchSize} is larger than the ${trainIdx.length} training images`);
  const itersPerEpoch = loader.numBatches;
  const cosineIters = (config.epochs - config.warmupEpochs) * itersPerEpoch;
  const cycles = Math.min(config.cycles, cosineIters);
  if (cycles < config.cycles) reporter.message(`note: ${cosineIters} iterations after warm-up allow only ${cycles} cosine cycles (not ${config.cycles})`);
  const schedule = new WarmupCosineRestarts({ warmupIters: config.warmupEpochs * itersPerEpoch, warmupStartLr: config.warmupStartLr, cosineIters, cycles, minLr: config.minLr });

  const checkpoints = join(out, 'checkpoints');
  const metricsFile = join(out, 'metrics.jsonl');
  let epoch = 0;
  let batchInEpoch = 0;
  let iteration = 0;
  let best = -1;
  let sums = { loss: 0, correct: 0, seen: 0, seconds: 0, parts: {} as Record<string, number> };
  if (resume && existsSync(join(checkpoints, 'latest'))) {
    const info = restoreSnapshot<TrainConfig>(checkpoints, { model: net.backbone, auxiliary: net.auxiliary, optimizer, classNames: split.classes });
    epoch = info.epoch;
    iteration = info.iteration;
    const extra = info.extra as { batchInEpoch: number; best: number; sums: typeof sums };
    batchInEpoch = extra.batchInEpoch;
    best = extra.best;
    sums = extra.sums;
    reporter.message(`resumed ${out} at epoch ${epoch + 1}, step ${batchInEpoch + 1} (iteration ${iteration})`);
  }
  const records = readRecords(metricsFile, epoch);
  writeFileSync(metricsFile, records.map((r) => JSON.stringify(r) + '\n').join(''));

  const snapshot = (tags: string[]): void => {
    saveSnapshot(checkpoints, tags, { model: net.backbone, auxiliary: net.auxiliary, optimizer, config, classNames: split.classes, epoch, iteration, extra: { batchInEpoch, best, sums, backbone: config.backbone, size: config.size } });
  };
  let interrupted = false;
  const onSigint = (): void => {
    interrupted = true;
  };
  process.on('SIGINT', onSigint);
  const startEpochs = epoch;
  try {
    while (epoch < config.epochs && !interrupted) {
      if (options.stopAfterEpochs !== undefined && epoch - startEpochs >= options.stopAfterEpochs) break;
      net.train();
      const order = loader.order(epoch);
      while (batchInEpoch < itersPerEpoch) {
        const started = performance.now();
        const { loss, correct, parts } = tidy(() => {
          const batch = loader.batch(order, epoch, batchInEpoch);
          applySchedule(optimizer, schedule, iteration);
          const result = net.lossOf(batch.input, batch.labels);
          const value = result.loss.item();
          if (!Number.isFinite(value)) {
            throw new NonFiniteLossError(
              `the loss became ${value} at epoch ${epoch + 1}, step ${batchInEpoch + 1} (iteration ${iteration}); the run stopped and ` +
                `${existsSync(join(checkpoints, 'latest')) ? 'checkpoints/latest keeps the last good state' : 'no checkpoint was written yet'}. ` +
                'Lower the learning rate (--lr) or check the data.',
            );
          }
          result.loss.backward();
          optimizer.step();
          optimizer.zeroGrad();
          const hits = noGrad(() => result.logits.argmax(1).eq(batch.labels).sum().item());
          return { loss: value, correct: hits, parts: result.parts };
        });
        sums.loss += loss * config.batchSize;
        sums.correct += correct;
        sums.seen += config.batchSize;
        sums.seconds += (performance.now() - started) / 1000;
        for (const [k, v] of Object.entries(parts)) sums.parts[k] = (sums.parts[k] ?? 0) + v * config.batchSize;
        iteration++;
        batchInEpoch++;
        const rate = sums.seen / Math.max(sums.seconds, 1e-9);
        const remaining = (config.epochs - epoch) * itersPerEpoch - batchInEpoch;
        reporter.step({
          epoch: epoch + 1, epochs: config.epochs, step: batchInEpoch, steps: itersPerEpoch,
          loss: sums.loss / sums.seen, accuracy: sums.correct / sums.seen, imagesPerSecond: rate,
          etaSeconds: (remaining * config.batchSize) / rate, lr: optimizer.paramGroups[0].lr,
        });
        // Let signals (Ctrl-C) in between steps.
        await new Promise<void>((resolve) => setImmediate(resolve));
        if (interrupted) break;
      }
      if (interrupted) {
        snapshot(['latest']);
        reporter.message(`interrupted: saved ${checkpoints}/latest at epoch ${epoch + 1}, step ${batchInEpoch}; resume with --resume`);
        break;
      }
      const evaluation = evaluate(net.backbone, images, testIdx, split.classes, config.size);
      const record: EpochRecord = {
        epoch: epoch + 1,
        trainLoss: sums.loss / sums.seen,
        trainAccuracy: sums.correct / sums.seen,
        testOA: evaluation.metrics.overallAccuracy,
        testAA: evaluation.metrics.averageAccuracy,
        testKappa: evaluation.metrics.kappa,
        lr: optimizer.paramGroups[0].lr,
        seconds: sums.seconds,
        imagesPerSecond: sums.seen / sums.seconds,
        parts: Object.fromEntries(Object.entries(sums.parts).map(([k, v]) => [k, v / sums.seen])),
      };
      appendFileSync(metricsFile, JSON.stringify(record) + '\n');
      records.push(record);
      epoch++;
      batchInEpoch = 0;
      sums = { loss: 0, correct: 0, seen: 0, seconds: 0, parts: {} };
      const isBest = record.testOA > best;
      if (isBest) best = record.testOA;
      snapshot(isBest ? ['latest', 'best'] : ['latest']);
      reporter.epoch(
        { ...record },
        `epoch ${record.epoch}/${config.epochs}: loss ${record.trainLoss.toFixed(4)}, train acc ${(100 * record.trainAccuracy).toFixed(2)}%, ` +
          `test OA ${(100 * record.testOA).toFixed(2)}% AA ${(100 * record.testAA).toFixed(2)}% kappa ${record.testKappa.toFixed(4)}, ` +
          `${record.seconds.toFixed(1)} s (${record.imagesPerSecond.toFixed(0)} img/s)`,
      );
    }
  } finally {
    process.off('SIGINT', onSigint);
  }
  const completed = epoch >= config.epochs && !interrupted;
  let final: Metrics | undefined;
  if (completed) {
    final = evaluate(net.backbone, images, testIdx, split.classes, config.size).metrics;
    await writeReport(out, config, final, records, best);
    reporter.done({ out, finalOA: final.overallAccuracy, finalAA: final.averageAccuracy, finalKappa: final.kappa, bestOA: best });
  }
  net.dispose();
  return { out, completed, interrupted, epochs: records, final };
}

async function writeReport(out: string, config: TrainConfig, final: Metrics, records: EpochRecord[], best: number): Promise<void> {
  const bestRecord = records.reduce((a, b) => (b.testOA > a.testOA ? b : a), records[0]);
  const meanEpochSeconds = records.reduce((s, r) => s + r.seconds, 0) / records.length;
  const report = {
    dataset: config.data,
    backbone: config.backbone,
    method: config.method,
    methodOptions: config.method === 'plain' ? undefined : config.methodOptions,
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
      `# ${config.method} / ${config.backbone} on ${config.data}`,
      '',
      `Final epoch (${config.epochs}): OA ${pct(final.overallAccuracy)}%, AA ${pct(final.averageAccuracy)}%, kappa ${final.kappa.toFixed(4)} on ${final.count} test images.`,
      `Best epoch on the test split (reference only): ${bestRecord.epoch}, OA ${pct(best)}%. Mean epoch time ${meanEpochSeconds.toFixed(1)} s.`,
      '',
      '| class | support | precision | recall | F1 |',
      '|---|---|---|---|---|',
      ...final.perClass.map((c) => `| ${c.name} | ${c.support} | ${c.precision.toFixed(3)} | ${c.recall.toFixed(3)} | ${c.f1.toFixed(3)} |`),
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
