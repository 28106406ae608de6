// A seeded random generator of our own (sfc32, seeded through splitmix32) so that splits and shuffles are the
// same on every machine and Node version; Math.random is never used for anything reproducible.

function splitmix32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x9e3779b9) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    if (!Number.isSafeInteger(seed) || seed < 0)
      throw new RangeError(`seed must be a non-negative integer, got ${seed}`);
    // Both 32-bit halves of the seed count, so seeds above 2^32 differ too.
    const mix = splitmix32((seed >>> 0) ^ Math.imul(Math.floor(seed / 2 ** 32), 0x27d4eb2d));
    this.a = mix();
    this.b = mix();
    this.c = mix();
    this.d = mix();
    for (let i = 0; i < 12; i++) this.nextUint32();
  }

  /** Uniform 32-bit unsigned integer (sfc32). */
  nextUint32(): number {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0;
    this.d = (this.d + 1) >>> 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) >>> 0;
    this.c = ((this.c << 21) | (this.c >>> 11)) >>> 0;
    this.c = (this.c + t) >>> 0;
    return t;
  }

  /** Uniform on [0, 1) with 32 bits of resolution. */
  next(): number {
    return this.nextUint32() / 2 ** 32;
  }

  uniform(low: number, high: number): number {
    return low + (high - low) * this.next();
  }

  /** Uniform integer in [0, n), without modulo bias. */
  int(n: number): number {
    if (!(Number.isInteger(n) && n > 0 && n <= 2 ** 32))
      throw new RangeError(`int(n): n must be an integer in [1, 2^32], got ${n}`);
    const limit = 2 ** 32 - (2 ** 32 % n);
    let x = this.nextUint32();
    while (x >= limit) x = this.nextUint32();
    return x % n;
  }

  /** Shuffles in place (Fisher-Yates) and returns the array. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [items[i], items[j]] = [items[j], items[i]];
    }
    return items;
  }

  /** The generator's state, to store in a checkpoint. */
  state(): [number, number, number, number] {
    return [this.a, this.b, this.c, this.d];
  }

  static fromState(state: readonly number[]): Rng {
    if (state.length !== 4 || !state.every((v) => Number.isInteger(v) && v >= 0 && v < 2 ** 32)) {
      throw new Error(`invalid generator state ${JSON.stringify(state)}`);
    }
    const rng = new Rng(0);
    [rng.a, rng.b, rng.c, rng.d] = state;
    return rng;
  }
}

/** The seed of the i-th repetition derived from a base seed (repeated splits, per-epoch streams). */
export function deriveSeed(base: number, index: number): number {
  const mix = splitmix32(((base >>> 0) ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0);
  mix();
  return mix();
}
