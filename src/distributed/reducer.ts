// Gradients all-reduced while the backward pass runs: c10d's Reducer, the engine of PyTorch's
// DistributedDataParallel. It hooks every parameter's gradient accumulator; when the gradients of a bucket are all
// there it starts that bucket's all-reduce (on Gloo's threads) and backward goes on with the layers below; at the end
// of backward it waits for the buckets and writes the averages into the parameters' gradients.
import { binding, type NativeReducer } from '../torch/native.js';
import type { Tensor } from '../torch/index.js';
import type { ProcessGroup } from './process-group.js';

export interface ReducerOptions {
  /** Largest bucket, in bytes (the first bucket is 1 MiB so that communication starts early, as in DDP). */
  bucketBytes: number;
  /**
   * Parameters that a step's loss may not reach count as zero gradients (DDP's find_unused_parameters): the graph is
   * walked from the loss at every step. Without it such a parameter is an error at the next step.
   */
  findUnusedParameters: boolean;
}

export class GradientReducer {
  private readonly native: NativeReducer;

  constructor(group: ProcessGroup, parameters: readonly Tensor[], options: ReducerOptions) {
    this.native = binding.newReducer(
      group.nativeGroup,
      parameters.map((p) => p.handle),
      options.bucketBytes,
      options.findUnusedParameters,
    );
  }

  /** `loss.backward()`, returning when every parameter's gradient is its mean over the ranks. */
  backward(loss: Tensor): void {
    binding.reducerPrepare(this.native, [loss.handle]);
    loss.backward();
  }
}
