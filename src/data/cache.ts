// The decode cache: every image of a dataset decoded once, resized to the training size, and stored as uint8 RGB in
// shards of one class folder each (at most SHARD_IMAGES images; see shard.ts), keyed by their files' relative
// paths, sizes and modification times, the size and the resize mode. Batches read images straight from the shard
// files, so no dataset is held in memory, whatever its size. A changed file, a new class or a skipped file
// invalidates only the shards that held them; an interrupted or failed decode keeps every shard it finished.
import { createHash } from 'node:crypto';
import { mkdirSync, rmSync, statSync } from 'node:fs';
import { availableParallelism, homedir } from 'node:os';
import { join } from 'node:path';

import sharp from 'sharp';

import { fsyncDir, printable } from '../io/index.js';
import { mapLimit } from './concurrency.js';
import { decodeImage, type DecodeOptions, reasonOf, type ResizeMode } from './decode.js';
import { type DecodedImages, imageBytes } from './images.js';
import { Progress } from './progress.js';
import { type Dataset, DatasetError, type DatasetItem, type FileProblem, problemLine } from './scan.js';
import { ShardReader, ShardWriter } from './shard.js';
import { DEFAULT_SCALE } from './tiff.js';

/** Images per shard at most: about 150 MB at 224 px. */
export const SHARD_IMAGES = 1000;
/**
 * Changes when decoding gives other pixels (2: BMPs and wide TIFFs over 4x the size are box-shrunk while read; 3: the
 * shrink keeps the short side, not the long one, at 4x the size or more).
 */
const KEY_VERSION = 'dsdnet-shard-3';
/** Decode sizes accepted, in px. */
export const MIN_DECODE_SIZE = 8;
export const MAX_DECODE_SIZE = 4096;

export interface CacheOptions {
  size: number;
  mode?: ResizeMode;
  /** Folder for cache files; default $DSDNET_CACHE, else $XDG_CACHE_HOME/dsdnet, else ~/.cache/dsdnet. */
  cacheDir?: string;
  progress?: boolean;
  /** Images decoded at once (default: twice the cores). */
  concurrency?: number;
  /** Band choice and sample scaling (part of the cache key). */
  decode?: Pick<DecodeOptions, 'bands' | 'scale'>;
  /** Images per shard at most (default SHARD_IMAGES). */
  shardImages?: number;
  /** Leave out files that fail to decode (with a warning) instead of failing. */
  skipBad?: boolean;
  onWarning?: (message: string) => void;
}

export function defaultCacheDir(): string {
  return process.env.DSDNET_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'dsdnet');
}

interface ShardPlan {
  file: string;
  items: DatasetItem[];
}

/** Consecutive items of one class, at most SHARD_IMAGES, each group named by the hash of what it holds. */
function planShards(
  dataset: Dataset,
  dir: string,
  size: number,
  mode: ResizeMode,
  decode: Required<Pick<DecodeOptions, 'bands' | 'scale'>>,
  shardImages: number,
): ShardPlan[] {
  const groups: DatasetItem[][] = [];
  for (const item of dataset.items) {
    const last = groups.at(-1);
    if (last !== undefined && last[0].label === item.label && last.length < shardImages) last.push(item);
    else groups.push([item]);
  }
  return groups.map((items) => {
    const hash = createHash('sha256').update(`${KEY_VERSION}\n${size}\n${mode}\n${JSON.stringify(decode)}\n`);
    for (const item of items)
      hash.update(`${item.path}\t${item.bytes}\t${Math.round(statSync(join(dataset.root, item.path)).mtimeMs)}\n`);
    return { file: join(dir, `${hash.digest('hex').slice(0, 32)}-${size}-${mode}.shard`), items };
  });
}

/** The decoded images of a dataset, read from its cache shards; close() releases the files (GC does otherwise). */
export class CachedImages implements DecodedImages {
  readonly paths: string[] = [];
  readonly labels: Int32Array;
  /** Files that failed to decode and were left out (skipBad). */
  readonly skipped: FileProblem[] = [];
  private readonly shardOf: number[] = [];
  private readonly slotOf: number[] = [];
  private static readonly closer = new FinalizationRegistry<ShardReader[]>((shards) =>
    shards.forEach((s) => s.close()),
  );

  constructor(
    readonly size: number,
    readonly mode: ResizeMode,
    private readonly shards: ShardReader[],
    items: DatasetItem[][],
    readonly decoded: number,
  ) {
    const labels: number[] = [];
    shards.forEach((shard, s) => {
      items[s].forEach((item, slot) => {
        const reason = shard.trailer.bad[item.path];
        if (reason !== undefined) return void this.skipped.push({ path: item.path, reason });
        this.paths.push(item.path);
        labels.push(item.label);
        this.shardOf.push(s);
        this.slotOf.push(slot);
      });
    });
    this.labels = Int32Array.from(labels);
    CachedImages.closer.register(this, shards, this);
  }

  /** True when nothing had to be decoded. */
  get fromCache(): boolean {
    return this.decoded === 0;
  }

  /** The shard files. */
  get files(): string[] {
    return this.shards.map((s) => s.file);
  }

  read(indices: readonly number[]): Uint8Array {
    const bytes = imageBytes(this.size);
    const out = new Uint8Array(indices.length * bytes);
    indices.forEach((index, k) => {
      if (!(index >= 0 && index < this.paths.length))
        throw new RangeError(`image index ${index} out of range (${this.paths.length} images)`);
      this.shards[this.shardOf[index]].readInto(this.slotOf[index], out, k * bytes);
    });
    return out;
  }

  close(): void {
    CachedImages.closer.unregister(this);
    for (const shard of this.shards) shard.close();
  }
}

/** Decodes the images of the given shards, committing each shard as soon as its last image is done. */
async function decodeShards(
  root: string,
  plans: ShardPlan[],
  size: number,
  mode: ResizeMode,
  decode: DecodeOptions,
  options: CacheOptions,
): Promise<void> {
  const jobs = plans.flatMap((plan, s) => plan.items.map((item, slot) => ({ s, slot, item })));
  const writers = new Map<number, ShardWriter>();
  const remaining = plans.map((p) => p.items.length);
  const bad = plans.map((): Record<string, string> => ({}));
  const bar = new Progress(`decoding ${jobs.length} images at ${size} px`, jobs.length, options.progress ?? true);
  const previous = sharp.concurrency();
  sharp.concurrency(1); // one libvips thread per image; images decode in parallel instead
  try {
    await mapLimit(jobs, options.concurrency ?? 2 * availableParallelism(), async ({ s, slot, item }) => {
      const path = join(root, item.path);
      let pixels: Uint8Array | null = null;
      try {
        pixels = await decodeImage(path, size, mode, decode);
      } catch (error) {
        bad[s][item.path] = reasonOf(error, printable(path));
      }
      let writer = writers.get(s);
      if (writer === undefined)
        writers.set(
          s,
          (writer = new ShardWriter(plans[s].file, { paths: plans[s].items.map((i) => i.path), size, mode })),
        );
      if (pixels !== null) writer.write(slot, pixels);
      if (--remaining[s] === 0) {
        writer.commit(bad[s]);
        writers.delete(s);
      }
      bar.tick();
    });
  } finally {
    sharp.concurrency(previous);
    for (const writer of writers.values()) writer.abort();
  }
}

function openShard(
  plan: ShardPlan,
  size: number,
  mode: ResizeMode,
  onWarning?: (message: string) => void,
): ShardReader | undefined {
  const content = { paths: plan.items.map((i) => i.path), size, mode };
  try {
    return ShardReader.open(plan.file, content);
  } catch (error) {
    onWarning?.(printable(`${(error as Error).message}; decoding its images again`));
    rmSync(plan.file, { force: true });
    return undefined;
  }
}

/**
 * The dataset's decoded images, from the cache; images not cached yet are decoded first (with a progress bar).
 * Files that fail to decode are all named in one error (the rest stay cached), or left out with skipBad.
 */
export async function loadDecoded(dataset: Dataset, options: CacheOptions): Promise<CachedImages> {
  const { size, mode = 'cover' } = options;
  if (!(Number.isInteger(size) && size >= MIN_DECODE_SIZE && size <= MAX_DECODE_SIZE))
    throw new RangeError(`image size must be an integer in [${MIN_DECODE_SIZE}, ${MAX_DECODE_SIZE}], got ${size}`);
  const dir = options.cacheDir ?? defaultCacheDir();
  mkdirSync(dir, { recursive: true });
  const decode = { bands: null, scale: DEFAULT_SCALE, ...options.decode };
  const plans = planShards(dataset, dir, size, mode, decode, options.shardImages ?? SHARD_IMAGES);
  const shards = plans.map((plan) => openShard(plan, size, mode, options.onWarning));
  const missing = plans.filter((_, s) => shards[s] === undefined);
  if (missing.length > 0) {
    await decodeShards(dataset.root, missing, size, mode, decode, options);
    fsyncDir(dir);
    plans.forEach((plan, s) => (shards[s] ??= openShard(plan, size, mode)));
  }
  const decoded = missing.reduce((n, plan) => n + plan.items.length, 0);
  const images = new CachedImages(
    size,
    mode,
    shards as ShardReader[],
    plans.map((p) => p.items),
    decoded,
  );
  if (images.skipped.length > 0) {
    const lines = images.skipped.map(problemLine);
    if (!options.skipBad) {
      images.close();
      const shown = lines
        .slice(0, 20)
        .map((l) => `  ${l}`)
        .join('\n');
      const more = lines.length > 20 ? `\n  ... and ${lines.length - 20} more` : '';
      throw new DatasetError(
        `${printable(dataset.root)}: ${lines.length} image file(s) could not be decoded (the others stay cached; leave these out with --skip-bad):\n${shown}${more}`,
        lines,
      );
    }
    for (const line of lines) options.onWarning?.(`skipping ${line}`);
  }
  return images;
}
