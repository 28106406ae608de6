// A bounded queue in front of the model: concurrent requests wait in line and are scored together, a batch of up to
// `maxBatch` at a time; when `maxQueue` requests already wait, the next is refused at once (HTTP 503) instead of
// growing memory without bound.

export class QueueFullError extends Error {
  constructor(readonly waiting: number) {
    super(`the server is busy (${waiting} images already waiting); retry shortly`);
    this.name = 'QueueFullError';
  }
}

interface Waiting<I, R> {
  item: I;
  resolve: (result: R) => void;
  reject: (error: unknown) => void;
}

export class Batcher<I, R> {
  private readonly queue: Waiting<I, R>[] = [];
  private running = false;

  constructor(
    private readonly score: (items: I[]) => Promise<R[]>,
    readonly options: { maxBatch: number; maxQueue: number },
  ) {
    if (!(options.maxBatch >= 1 && options.maxQueue >= 1)) throw new RangeError(`maxBatch and maxQueue must be at least 1, got ${options.maxBatch} and ${options.maxQueue}`);
  }

  /** Items waiting, not counting the batch being scored. */
  get waiting(): number {
    return this.queue.length;
  }

  submit(item: I): Promise<R> {
    if (this.queue.length >= this.options.maxQueue) return Promise.reject(new QueueFullError(this.queue.length));
    const result = new Promise<R>((resolve, reject) => this.queue.push({ item, resolve, reject }));
    void this.drain();
    return result;
  }

  private async drain(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, this.options.maxBatch);
        try {
          const results = await this.score(batch.map((w) => w.item));
          batch.forEach((w, i) => w.resolve(results[i]));
        } catch (error) {
          for (const w of batch) w.reject(error);
        }
      }
    } finally {
      this.running = false;
    }
  }
}
