// Bounded queues in the server. The Batcher sits in front of the model: concurrent requests wait in line and are
// scored together, a batch of up to `maxBatch` at a time. The DecodeLimit lets at most `maxActive` uploads decode at
// once (each decode holds a full-size image). When `maxQueue` (`maxWaiting`) already wait, the next is refused at once
// (HTTP 503) instead of growing memory without bound.

export class QueueFullError extends Error {
  /** `what` says who waits, e.g. 'images already waiting'. */
  constructor(
    readonly waiting: number,
    what = 'images already waiting',
  ) {
    super(`the server is busy (${waiting} ${what}); retry shortly`);
    this.name = 'QueueFullError';
  }
}

/** A task whose caller went away (its client disconnected) while it waited for its turn: it was not run. */
export class ClientGoneError extends Error {
  constructor() {
    super('the client disconnected before its turn came');
    this.name = 'ClientGoneError';
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
    if (!(options.maxBatch >= 1 && options.maxQueue >= 1))
      throw new RangeError(`maxBatch and maxQueue must be at least 1, got ${options.maxBatch} and ${options.maxQueue}`);
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

/** Runs at most `maxActive` tasks at once; up to `maxWaiting` more wait in line, and beyond that the next is refused. */
export class DecodeLimit {
  private active = 0;
  private readonly queue: (() => void)[] = [];

  constructor(readonly options: { maxActive: number; maxWaiting: number }) {
    if (!(options.maxActive >= 1 && options.maxWaiting >= 1))
      throw new RangeError(
        `maxActive and maxWaiting must be at least 1, got ${options.maxActive} and ${options.maxWaiting}`,
      );
  }

  /** Tasks waiting for a slot. */
  get waiting(): number {
    return this.queue.length;
  }

  /** Runs `task` when a slot is free, unless `abandoned()` says by then that nobody waits for its result. */
  async run<T>(task: () => Promise<T>, abandoned: () => boolean = () => false): Promise<T> {
    if (this.active < this.options.maxActive) this.active++;
    else if (this.queue.length >= this.options.maxWaiting)
      throw new QueueFullError(this.queue.length, 'uploads already waiting to be decoded');
    else await new Promise<void>((resolve) => this.queue.push(resolve));
    try {
      if (abandoned()) throw new ClientGoneError();
      return await task();
    } finally {
      const next = this.queue.shift();
      if (next === undefined) this.active--;
      else next(); // the slot passes to the next in line
    }
  }
}
