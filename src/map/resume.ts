// The window probabilities of phase 1, saved beside the output (OUTPUT.progress) every few batches and on an
// interrupt, so that running the same command again continues where it stopped. The file names what it was made
// from (the scene file, the model, the windows, the bands and their stretch): another command is refused by name.
import { existsSync, readFileSync, rmSync } from 'node:fs';

import { writeFileAtomic } from '../io/index.js';

const MAGIC = 'dsdnet-map-progress-1\n';

/** What the saved probabilities depend on; each key names what differs when they do not match. */
export type MapIdentity = Record<string, unknown>;

export interface MapProgress {
  /** Windows done, in raster order (every window before this one is scored or was all nodata). */
  done: number;
  /** Per window: its class probabilities, then 1 if scored (see Blender). */
  table: Float32Array;
}

export function progressPath(output: string): string {
  return `${output}.progress`;
}

/** The saved progress for `identity`, or a fresh one; a file from another command is refused, naming what differs. */
export function loadProgress(path: string, identity: MapIdentity, tableLength: number): MapProgress {
  if (!existsSync(path)) return { done: 0, table: new Float32Array(tableLength) };
  const bytes = readFileSync(path);
  const headerEnd = bytes.indexOf(10, MAGIC.length);
  const fail = (why: string): never => {
    throw new Error(`${path}: ${why}; remove it to start the map afresh`);
  };
  if (bytes.subarray(0, MAGIC.length).toString('latin1') !== MAGIC || headerEnd < 0)
    fail('not a dsdnet map progress file');
  const header = JSON.parse(bytes.subarray(MAGIC.length, headerEnd).toString('utf8')) as {
    identity: MapIdentity;
    done: number;
  };
  const differing = Object.keys(identity).filter(
    (key) => JSON.stringify(header.identity[key]) !== JSON.stringify(identity[key]),
  );
  if (differing.length > 0) {
    fail(
      `it holds the progress of another map (its ${differing.join(', ')} ${differing.length > 1 ? 'differ' : 'differs'}: ${differing.map((k) => `${JSON.stringify(header.identity[k])} there, ${JSON.stringify(identity[k])} now`).join('; ')}); rerun that command to finish it, or choose another -o`,
    );
  }
  const data = bytes.subarray(headerEnd + 1);
  if (data.byteLength !== tableLength * 4)
    fail(`truncated (${data.byteLength} bytes of window probabilities, expected ${tableLength * 4})`);
  const table = new Float32Array(tableLength);
  new Uint8Array(table.buffer).set(data);
  return { done: header.done, table };
}

export function saveProgress(path: string, identity: MapIdentity, progress: MapProgress): void {
  const header = Buffer.from(`${MAGIC}${JSON.stringify({ identity, done: progress.done })}\n`, 'utf8');
  writeFileAtomic(path, [
    header,
    new Uint8Array(progress.table.buffer, progress.table.byteOffset, progress.table.byteLength),
  ]);
}

export function removeProgress(path: string): void {
  rmSync(path, { force: true });
}
