// Batches sent to the device the model computes on. On a GPU the host tensors are copied to page-locked memory
// first, so that the copy is queued without waiting (as DataLoader's pin_memory with non_blocking=True), and the
// next batch is prepared on the CPU while the GPU runs the current step. On the CPU they are used as they are.
import { type Device, dispose, keep, type Tensor } from '../torch/index.js';
import type { Batch, BatchLoader } from './loader.js';

/** The tensor on the device: itself on the CPU, a queued copy from pinned memory on a GPU. */
export function toDevice(t: Tensor, device: Device): Tensor {
  return device === 'cpu' ? t : t.pinMemory().to(device, { nonBlocking: true });
}

/** The batch on the device (its host tensors stay the caller's to dispose, or the scope's). */
export function placeBatch(batch: Batch, device: Device): Batch {
  return device === 'cpu'
    ? batch
    : { ...batch, input: toDevice(batch.input, device), labels: toDevice(batch.labels, device) };
}

/**
 * The batches of the training steps, on the model's device. With `prefetch` (the default on a GPU) the next batch is
 * made (augmented on the CPU, its copy queued) while the device runs the current step, as a DataLoader's workers
 * with pinned memory keep a GPU fed; on the CPU there is nothing to overlap, so it is made when taken.
 */
export class BatchQueue {
  private ahead: { epoch: number; b: number; batch: Batch } | null = null;
  private readonly prefetch: boolean;

  constructor(
    private readonly loader: BatchLoader,
    private readonly device: Device,
    options: { prefetch?: boolean } = {},
  ) {
    this.prefetch = options.prefetch ?? device !== 'cpu';
  }

  /** Batch b of the epoch: the one made ahead, or made now. The caller disposes it. */
  take(order: readonly number[], epoch: number, b: number): Batch {
    const ahead = this.ahead;
    this.ahead = null;
    if (ahead !== null && ahead.epoch === epoch && ahead.b === b) return ahead.batch;
    if (ahead !== null) dispose([ahead.batch.input, ahead.batch.labels]);
    return placeBatch(this.loader.batch(order, epoch, b), this.device);
  }

  /** With prefetch, makes batch b of the epoch now (nothing past the epoch's last); it outlives the caller's scope. */
  prepare(order: readonly number[], epoch: number, b: number): void {
    if (!this.prefetch || b >= this.loader.numBatches) return;
    const batch = placeBatch(this.loader.batch(order, epoch, b), this.device);
    this.ahead = { epoch, b, batch: { ...batch, input: keep(batch.input), labels: keep(batch.labels) } };
  }

  dispose(): void {
    if (this.ahead !== null) dispose([this.ahead.batch.input, this.ahead.batch.labels]);
    this.ahead = null;
  }
}
