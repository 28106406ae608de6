// The epoch loop: training steps (scheduled lr, loss, backward, update) with progress, an evaluation and a snapshot
// after every epoch, Ctrl-C (SIGINT) or a scheduler's SIGTERM saving between steps (a second one stops at once), and
// a stop on a non-finite loss that keeps the last good checkpoint. Its position (epoch, step, iteration, running
// sums) is the Progress saved in every snapshot.
import { existsSync } from 'node:fs';
import { constants } from 'node:os';
import { join } from 'node:path';

import { type BatchLoader, BatchQueue } from '../data/index.js';
import { readTerms, type SelfDistillationNet } from '../dsd/index.js';
import type { Metrics } from '../eval/index.js';
import {
  applySchedule,
  type GradScaler,
  type GradScalerState,
  type GroupOptions,
  type Optimizer,
  type WarmupCosineRestarts,
} from '../optim/index.js';
import { type Device, dispose, noGrad, type Tensor, tidy } from '../torch/index.js';
import type { TrainConfig } from '../trained/index.js';
import type { Reporter } from './reporter.js';

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

export interface Progress {
  epoch: number;
  batchInEpoch: number;
  iteration: number;
  /** Best test OA so far (reference only: the report's headline is the final epoch). */
  best: number;
  sums: { loss: number; correct: number; seen: number; seconds: number; parts: Record<string, number> };
  /** How the run was initialised (a pretrained source), kept for the report. */
  pretrained?: Record<string, unknown>;
  /** fp16 runs: the loss scale, kept so that a resumed run goes on with it. */
  gradScaler?: GradScalerState;
}

export const emptySums = (): Progress['sums'] => ({ loss: 0, correct: 0, seen: 0, seconds: 0, parts: {} });

export class NonFiniteLossError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NonFiniteLossError';
  }
}

/** What data-parallel training adds to the loop: every rank stays in step with the others. */
export interface Synchronizer {
  /** The backward pass, after which gradients (and BatchNorm statistics) are the same on every rank. */
  backward(loss: Tensor): void;
  /** Whether any rank was interrupted, so that all stop at the same step. */
  anyInterrupted(local: boolean): boolean;
  /** The epoch's running sums over all ranks. */
  total(sums: Progress['sums']): Progress['sums'];
}

export interface Loop {
  config: TrainConfig;
  /** Where the network is and its batches go. */
  device: Device;
  net: SelfDistillationNet;
  /** Loss scaling, for float16 mixed precision. */
  scaler: GradScaler | null;
  optimizer: Optimizer<GroupOptions>;
  schedule: WarmupCosineRestarts;
  loader: BatchLoader;
  reporter: Reporter;
  /** Advanced in place. */
  progress: Progress;
  checkpoints: string;
  evaluateTest: () => Metrics;
  save: (tags: string[]) => void;
  onEpoch: (record: EpochRecord) => void;
  /** Data parallelism across processes; absent for one process. */
  sync?: Synchronizer;
}

/**
 * One optimisation step on batch `progress.batchInEpoch` of the epoch; adds to the running sums. The work is queued
 * before any value is read back (reading waits for a GPU), and the next batch is made in between.
 */
function step(loop: Loop, order: readonly number[], queue: BatchQueue): void {
  const { config, net, optimizer, progress, scaler } = loop;
  const started = performance.now();
  const { loss, correct, parts } = tidy(() => {
    const batch = queue.take(order, progress.epoch, progress.batchInEpoch);
    try {
      applySchedule(optimizer, loop.schedule, progress.iteration);
      const result = net.lossOf(batch.input, batch.labels, config.precision);
      const toDifferentiate = scaler ? scaler.scaleLoss(result.loss) : result.loss;
      if (loop.sync) loop.sync.backward(toDifferentiate);
      else toDifferentiate.backward();
      queue.prepare(order, progress.epoch, progress.batchInEpoch + 1);
      const value = result.loss.item();
      if (!Number.isFinite(value)) {
        throw new NonFiniteLossError(
          `the loss became ${value} at epoch ${progress.epoch + 1}, step ${progress.batchInEpoch + 1} (iteration ${progress.iteration}); the run stopped and ` +
            `${existsSync(join(loop.checkpoints, 'latest')) ? 'checkpoints/latest keeps the last good state' : 'no checkpoint was written yet'}. ` +
            'Lower the learning rate (--lr) or check the data.',
        );
      }
      if (scaler) scaler.step(optimizer);
      else optimizer.step();
      optimizer.zeroGrad();
      const hits = noGrad(() => result.logits.argmax(1).eq(batch.labels).sum().item());
      return { loss: value, correct: hits, parts: readTerms(result.terms) };
    } finally {
      dispose([batch.input, batch.labels]);
    }
  });
  const sums = progress.sums;
  const images = loop.loader.options.batchSize; // this process's share of the step
  sums.loss += loss * images;
  sums.correct += correct;
  sums.seen += images;
  sums.seconds += (performance.now() - started) / 1000;
  for (const [k, v] of Object.entries(parts)) sums.parts[k] = (sums.parts[k] ?? 0) + v * images;
  progress.iteration++;
  progress.batchInEpoch++;
  const rate = sums.seen / Math.max(sums.seconds, 1e-9);
  const remaining = (config.epochs - progress.epoch) * loop.loader.numBatches - progress.batchInEpoch;
  loop.reporter.step({
    epoch: progress.epoch + 1,
    epochs: config.epochs,
    step: progress.batchInEpoch,
    steps: loop.loader.numBatches,
    loss: sums.loss / sums.seen,
    accuracy: sums.correct / sums.seen,
    imagesPerSecond: rate,
    etaSeconds: (remaining * images) / rate,
    lr: optimizer.paramGroups[0].lr,
  });
}

/** Evaluates, records and snapshots a finished epoch, and moves the position to the next one. */
function endEpoch(loop: Loop): void {
  const { config, progress } = loop;
  const sums = loop.sync ? loop.sync.total(progress.sums) : progress.sums;
  const metrics = loop.evaluateTest();
  const record: EpochRecord = {
    epoch: progress.epoch + 1,
    trainLoss: sums.loss / sums.seen,
    trainAccuracy: sums.correct / sums.seen,
    testOA: metrics.overallAccuracy,
    testAA: metrics.averageAccuracy,
    testKappa: metrics.kappa,
    lr: loop.optimizer.paramGroups[0].lr,
    seconds: sums.seconds,
    imagesPerSecond: sums.seen / sums.seconds,
    parts: Object.fromEntries(Object.entries(sums.parts).map(([k, v]) => [k, v / sums.seen])),
  };
  loop.onEpoch(record);
  progress.epoch++;
  progress.batchInEpoch = 0;
  progress.sums = emptySums();
  const isBest = record.testOA > progress.best;
  if (isBest) progress.best = record.testOA;
  loop.save(isBest ? ['latest', 'best'] : ['latest']);
  loop.reporter.epoch(
    { ...record },
    `epoch ${record.epoch}/${config.epochs}: loss ${record.trainLoss.toFixed(4)}, train acc ${(100 * record.trainAccuracy).toFixed(2)}%, ` +
      `test OA ${(100 * record.testOA).toFixed(2)}% AA ${(100 * record.testAA).toFixed(2)}% kappa ${record.testKappa.toFixed(4)}, ` +
      `${record.seconds.toFixed(1)} s (${record.imagesPerSecond.toFixed(0)} img/s)`,
  );
}

/** Signals that stop a run between steps, after saving: Ctrl-C, and the SIGTERM of a scheduler's preemption. */
const STOP_SIGNALS = ['SIGINT', 'SIGTERM'] as const;

/** What checkpoints/latest holds when the loop is at `progress`, having just saved or restored there. */
function position(loop: Loop): string {
  const { epoch, batchInEpoch } = loop.progress;
  return `${join(loop.checkpoints, 'latest')} keeps ${batchInEpoch === 0 ? `the end of epoch ${epoch}` : `epoch ${epoch + 1}, step ${batchInEpoch}`}`;
}

/** How the loop ended: it ran its epochs (signal undefined, interrupted false) or was stopped and saved. */
export interface LoopEnd {
  interrupted: boolean;
  /** The signal that stopped this process (another rank's stop leaves it undefined). */
  signal?: NodeJS.Signals;
}

/**
 * Trains until the last epoch, `stopAfterEpochs` epochs of this call, or a stop signal, after which it saves. A
 * second signal before that save exits the process at once (128 + the signal's number), saying what was kept.
 */
export async function runLoop(loop: Loop, stopAfterEpochs?: number): Promise<LoopEnd> {
  const { config, progress } = loop;
  let interrupted = false;
  let signal: NodeJS.Signals | undefined;
  let kept = existsSync(join(loop.checkpoints, 'latest')) ? position(loop) : 'no checkpoint was written yet';
  const onSignal = (received: NodeJS.Signals): void => {
    if (signal !== undefined) {
      loop.reporter.notice(`a second stop signal (${received}): stopped at once without saving; ${kept}`);
      process.exit(128 + constants.signals[received]);
    }
    signal = received;
    interrupted = true;
  };
  for (const name of STOP_SIGNALS) process.on(name, onSignal);
  const startEpoch = progress.epoch;
  const queue = new BatchQueue(loop.loader, loop.device);
  try {
    while (progress.epoch < config.epochs) {
      if (stopAfterEpochs !== undefined && progress.epoch - startEpoch >= stopAfterEpochs) break;
      loop.net.train();
      const order = loop.loader.order(progress.epoch);
      const stopping = (): boolean => (loop.sync ? loop.sync.anyInterrupted(interrupted) : interrupted);
      while (progress.batchInEpoch < loop.loader.numBatches && !(interrupted = stopping())) {
        step(loop, order, queue);
        // Let signals (Ctrl-C) in between steps.
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
      if (interrupted) {
        loop.save(['latest']);
        const cause = signal ?? 'another rank being stopped';
        loop.reporter.message(
          `interrupted by ${cause}: saved ${loop.checkpoints}/latest at epoch ${progress.epoch + 1}, step ${progress.batchInEpoch}; resume with --resume`,
        );
        return { interrupted, signal };
      }
      endEpoch(loop);
      kept = position(loop);
    }
    return { interrupted: false };
  } finally {
    queue.dispose();
    for (const name of STOP_SIGNALS) process.off(name, onSignal);
  }
}
