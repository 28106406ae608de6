// Batches from decoded images: a seeded shuffle per epoch, a last-batch policy, and augmentation drawn from a
// generator seeded per (epoch, batch), so that any batch of any epoch can be rebuilt exactly (resume mid-run).
import { type Tensor, tidy, tensor as makeTensor } from '../torch/index.js';
import { type AugmentConfig, augmentBatch, evalBatch } from './augment.js';
import type { DecodedImages } from './images.js';
import { deriveSeed, Rng } from './random.js';

export interface LoaderOptions {
  batchSize: number;
  /** Shuffle every epoch (training) or keep the given order (evaluation). */
  shuffle: boolean;
  seed: number;
  /** Drop a last, smaller batch (training) or keep it (evaluation). */
  dropLast: boolean;
  /** Training augmentation; null for the test-time transform (the centre window, normalised). */
  augment: AugmentConfig | null;
  /** Output size (default: the cached size). */
  outputSize?: number;
  /**
   * Data parallelism: this rank's share of every step. All ranks draw the same epoch order; step b's global batch
   * is the next worldSize x batchSize images of it, and rank r takes the r-th run of batchSize. Absent: one process.
   */
  shard?: { rank: number; worldSize: number };
}

export interface Batch {
  /** [B, 3, S, S] float32, normalised. */
  input: Tensor;
  /** [B] int64. */
  labels: Tensor;
  /** Indices into the decoded images. */
  indices: number[];
}

export class BatchLoader {
  readonly outputSize: number;

  constructor(
    readonly images: DecodedImages,
    readonly indices: readonly number[],
    readonly options: LoaderOptions,
  ) {
    if (!(Number.isInteger(options.batchSize) && options.batchSize > 0))
      throw new RangeError(`batch size must be a positive integer, got ${options.batchSize}`);
    for (const i of indices)
      if (!(i >= 0 && i < images.paths.length)) throw new RangeError(`image index ${i} out of range`);
    const { rank = 0, worldSize = 1 } = options.shard ?? {};
    if (!(Number.isInteger(worldSize) && worldSize >= 1 && Number.isInteger(rank) && rank >= 0 && rank < worldSize))
      throw new RangeError(`shard: rank ${rank} of world size ${worldSize} is not a valid position`);
    this.outputSize = options.outputSize ?? images.size;
    if (this.outputSize > images.size)
      throw new Error(`output size ${this.outputSize} exceeds the decoded size ${images.size}`);
  }

  /** Images a step takes across all ranks. */
  private get globalBatch(): number {
    return this.options.batchSize * (this.options.shard?.worldSize ?? 1);
  }

  get numBatches(): number {
    const full = Math.floor(this.indices.length / this.globalBatch);
    return this.options.dropLast || this.indices.length % this.globalBatch === 0 ? full : full + 1;
  }

  /** The order of the images in an epoch. */
  order(epoch: number): number[] {
    const order = [...this.indices];
    return this.options.shuffle ? new Rng(deriveSeed(this.options.seed, epoch)).shuffle(order) : order;
  }

  /** Builds batch `b` of `epoch` (given the epoch's order). */
  batch(order: readonly number[], epoch: number, b: number): Batch {
    const { batchSize, augment } = this.options;
    const start = b * this.globalBatch + (this.options.shard?.rank ?? 0) * batchSize;
    const chosen = order.slice(start, start + batchSize);
    const pixels = this.images.read(chosen);
    const size = this.images.size;
    const input = tidy(() => {
      if (augment === null) return evalBatch(pixels, chosen.length, size, this.outputSize);
      const seed = deriveSeed(deriveSeed(this.options.seed ^ 0x5eed, epoch), b);
      // Each rank augments its share with its own draws; one process keeps the stream it always had.
      const rng = new Rng(
        this.options.shard && this.options.shard.worldSize > 1 ? deriveSeed(seed, this.options.shard.rank) : seed,
      );
      return augmentBatch(pixels, chosen.length, size, this.outputSize, augment, rng);
    });
    const labels = makeTensor(
      chosen.map((i) => this.images.labels[i]),
      { dtype: 'int64' },
    );
    return { input, labels, indices: chosen };
  }

  /** The batches of an epoch, from batch `start` on (to resume mid-epoch). */
  *epoch(epoch: number, start = 0): Generator<Batch> {
    const order = this.order(epoch);
    for (let b = start; b < this.numBatches; b++) yield this.batch(order, epoch, b);
  }
}
