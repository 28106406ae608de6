// Batches sent to the device the model computes on. On a GPU the host tensors are copied to page-locked memory
// first, so that the copy is queued without waiting (as DataLoader's pin_memory with non_blocking=True), and the
// next batch is prepared on the CPU while the GPU runs the current step. On the CPU they are used as they are.
import { type Device, type Tensor } from '../torch/index.js';
import type { Batch } from './loader.js';

/** The tensor on the device: itself on the CPU, a queued copy from pinned memory on a GPU. */
export function toDevice(t: Tensor, device: Device): Tensor {
  return device === 'cpu' ? t : t.pinMemory().to(device, { nonBlocking: true });
}

/** The batch on the device (its host tensors stay the caller's to dispose, or the scope's). */
export function placeBatch(batch: Batch, device: Device): Batch {
  return device === 'cpu' ? batch : { ...batch, input: toDevice(batch.input, device), labels: toDevice(batch.labels, device) };
}
