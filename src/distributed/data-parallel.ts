// Data parallelism over a process group, as DistributedDataParallel does it: every rank starts from rank 0's
// weights, computes gradients on its own shard of the batch, and the gradients are averaged across ranks before
// the optimizer step, all-reduced in buckets (flattened runs of about 25 MB) rather than tensor by tensor: by
// default while backward runs (c10d's Reducer), or after it.
import { cat, keep, noGrad, type Tensor, tidy, zerosLike } from '../torch/index.js';
import type { ProcessGroup } from './process-group.js';
import { GradientReducer } from './reducer.js';

export interface DataParallelOptions {
  /** Largest bucket of gradients all-reduced at once, in bytes (default 25 MiB, DDP's). */
  bucketBytes?: number;
  /**
   * Start each bucket's all-reduce from autograd hooks as soon as its gradients are ready, so that communication
   * overlaps the rest of the backward pass (default true); false all-reduces every bucket after backward.
   */
  overlap?: boolean;
  /** With overlap: parameters a step's loss may not reach get zero gradients (DDP's find_unused_parameters). */
  findUnusedParameters?: boolean;
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
  private readonly reducer: GradientReducer | null;

  constructor(
    readonly group: ProcessGroup,
    readonly parameters: readonly Tensor[],
    options: DataParallelOptions = {},
  ) {
    this.bucketBytes = options.bucketBytes ?? 25 * 2 ** 20;
    const overlap = options.overlap ?? true;
    if (options.findUnusedParameters && !overlap)
      throw new Error(
        'findUnusedParameters applies to the overlapped all-reduce (overlap: true); without overlap a missing gradient already counts as zeros',
      );
    this.reducer = overlap
      ? new GradientReducer(group, parameters, {
          bucketBytes: this.bucketBytes,
          findUnusedParameters: options.findUnusedParameters ?? false,
        })
      : null;
  }

  /** `loss.backward()`, returning when every parameter's gradient is its mean over the ranks. */
  backward(loss: Tensor): void {
    if (this.reducer) {
      this.reducer.backward(loss);
    } else {
      loss.backward();
      this.averageGradients();
    }
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

  /**
   * Replaces every parameter's gradient by its mean over the ranks (a missing gradient counts as zeros): for
   * gradients computed otherwise than by `backward` (e.g. accumulated over several passes).
   */
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
