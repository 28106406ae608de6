// Data parallelism over a process group, as DistributedDataParallel does it: every rank starts from rank 0's
// weights, computes gradients on its own shard of the batch, and the gradients are averaged across ranks before
// the optimizer step, all-reduced in buckets (flattened runs of about 25 MB) rather than tensor by tensor.
import { cat, keep, noGrad, type Tensor, tidy, zerosLike } from '../torch/index.js';
import type { ProcessGroup } from './process-group.js';

export interface DataParallelOptions {
  /** Largest bucket of gradients all-reduced at once, in bytes (default 25 MiB, DDP's). */
  bucketBytes?: number;
}

/** Runs of tensors of one dtype whose total size stays under the bucket size (a larger tensor gets its own run). */
function buckets(tensors: readonly Tensor[], bucketBytes: number): Tensor[][] {
  const runs: Tensor[][] = [];
  let bytes = 0;
  for (const t of tensors) {
    const size = t.numel * 4;
    const last = runs.at(-1);
    if (last !== undefined && last[0].dtype === t.dtype && bytes + size <= bucketBytes) {
      last.push(t);
      bytes += size;
    } else {
      runs.push([t]);
      bytes = size;
    }
  }
  return runs;
}

export class DataParallel {
  private readonly bucketBytes: number;

  constructor(readonly group: ProcessGroup, readonly parameters: readonly Tensor[], options: DataParallelOptions = {}) {
    this.bucketBytes = options.bucketBytes ?? 25 * 2 ** 20;
  }

  /** Copies rank 0's values of the tensors (parameters, buffers) to every rank, a bucket at a time. */
  broadcastFromRankZero(tensors: readonly Tensor[]): void {
    for (const run of buckets(tensors, this.bucketBytes)) {
      tidy(() => {
        const flat = cat(run.map((t) => t.reshape([-1])));
        this.group.broadcast([flat], 0);
        noGrad(() => copyBack(run, flat)); // parameters are leaves that require gradients
      });
    }
  }

  /** Replaces every parameter's gradient by its mean over the ranks (a missing gradient counts as zeros). */
  averageGradients(): void {
    const grads = this.parameters.map((p) => p.grad ?? keep(zerosLike(p)));
    this.parameters.forEach((p, i) => {
      if (p.grad === null) p.grad = grads[i];
    });
    for (const run of buckets(grads, this.bucketBytes)) {
      tidy(() => {
        const flat = cat(run.map((g) => g.reshape([-1])));
        this.group.allReduce([flat]);
        flat.div_(this.group.worldSize);
        copyBack(run, flat);
      });
    }
  }
}

/** Writes consecutive slices of `flat` back into the tensors, each in its own shape and layout. */
function copyBack(tensors: readonly Tensor[], flat: Tensor): void {
  let offset = 0;
  for (const t of tensors) {
    const n = t.numel;
    t.copy_(flat.narrow(0, offset, n).view(t.shape));
    offset += n;
  }
}
