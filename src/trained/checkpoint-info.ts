// What a training checkpoint records besides the weights (checkpoint.json's info), and the check that a model was
// trained on the classes given. Written by the trainer's snapshots (src/train/snapshot.ts), read by loadModel.

export const SNAPSHOT_FORMAT = 'dsdnet-checkpoint/1';
/** The training state's tensors of the stage heads and diffusion modules are saved under this prefix. */
export const AUXILIARY_PREFIX = 'auxiliary.';

export interface SnapshotInfo<Config> {
  format: typeof SNAPSHOT_FORMAT;
  config: Config;
  classNames: string[];
  epoch: number;
  /** Iterations done so far: the schedule's position. */
  iteration: number;
  optimizer: { groups: Record<string, number | boolean>[]; counters: Record<string, Record<string, number>> };
  /** Anything else the caller wants back (metrics so far, best score...). */
  extra: Record<string, unknown>;
}

/** Throws unless the checkpoint was trained on exactly these classes, in this order. */
export function checkClassNames(source: string, saved: readonly string[], expected: readonly string[]): void {
  const same = saved.length === expected.length && saved.every((c, i) => c === expected[i]);
  if (same) return;
  const missing = expected.filter((c) => !saved.includes(c));
  const extra = saved.filter((c) => !expected.includes(c));
  const detail =
    missing.length + extra.length > 0
      ? `missing ${JSON.stringify(missing)}, extra ${JSON.stringify(extra)}`
      : 'same classes in another order';
  throw new Error(
    `${source}: trained on ${saved.length} classes that differ from the ${expected.length} given (${detail})`,
  );
}
