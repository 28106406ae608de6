// Scanning a dataset folder: one sub-folder per class (sorted by name), images recognised by content, every
// problem reported with its path. Problems fail the scan unless the caller asks to skip bad files. Names are printed
// with control characters escaped (printable), and class folder names holding any are refused.
import type { Dirent } from 'node:fs';
import { open, readdir, realpath, stat } from 'node:fs/promises';
import { extname, join, relative, sep } from 'node:path';

import sharp from 'sharp';

import { holdsControlCharacter, printable } from '../io/index.js';
import { bmpSize } from './bmp.js';
import { mapLimit } from './concurrency.js';
import { oneLine, reasonOf } from './decode.js';
import { formatOfExtension, type ImageFormat, IMAGE_EXTENSIONS, sniffFormat } from './formats.js';
import { MAX_IMAGE_PIXELS, tooLargeReason } from './raster.js';

export interface DatasetItem {
  /** Relative to the dataset root, with '/' separators. */
  path: string;
  label: number;
  format: ImageFormat;
  width: number;
  height: number;
  bytes: number;
}

export interface Dataset {
  root: string;
  classes: string[];
  items: DatasetItem[];
  /** Files passed over on purpose: hidden ones, and ones whose extension is not an image's. */
  ignored: { hidden: number; nonImages: string[] };
  /** Bad files left out because the caller asked to skip them. */
  skipped: FileProblem[];
}

/** A bad file: its path relative to the dataset root (as it is on disk) and what is wrong with it. */
export interface FileProblem {
  path: string;
  reason: string;
}

/** `PATH: REASON` as printed, control characters escaped. */
export function problemLine(problem: FileProblem): string {
  return printable(`${problem.path}: ${problem.reason}`);
}

export interface ScanOptions {
  /** Leave out bad image files with a warning instead of failing. */
  skipBad?: boolean;
  onWarning?: (message: string) => void;
}

export class DatasetError extends Error {
  constructor(
    message: string,
    readonly problems: string[] = [],
  ) {
    super(message);
    this.name = 'DatasetError';
  }
}

interface Candidate {
  absolute: string;
  relativePath: string;
  label: number;
}

interface Listing {
  files: string[];
  hidden: number;
  /** Symbolic links that lead nowhere (absolute paths). */
  unfollowable: FileProblem[];
}

/** A directory entry's kind, following symbolic links; for a link that leads nowhere, why. */
async function kindOf(path: string, entry: Dirent): Promise<'dir' | 'file' | 'other' | { unfollowable: string }> {
  if (!entry.isSymbolicLink()) return entry.isDirectory() ? 'dir' : entry.isFile() ? 'file' : 'other';
  try {
    const target = await stat(path);
    return target.isDirectory() ? 'dir' : target.isFile() ? 'file' : 'other';
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ELOOP')
      return { unfollowable: 'symbolic link cycle (it leads back to itself, directly or through other links)' };
    if (code === 'ENOENT' || code === 'ENOTDIR')
      return { unfollowable: 'broken symbolic link (its target does not exist)' };
    return { unfollowable: `cannot follow the symbolic link (${code ?? (error as Error).message})` };
  }
}

/** Files under `dir`, following symbolic links; a link back into a folder being listed is a cycle and refused. */
async function listFiles(dir: string, ancestors: readonly string[] = []): Promise<Listing> {
  const real = await realpath(dir);
  if (ancestors.includes(real))
    throw new DatasetError(
      `${printable(dir)}: symbolic link cycle (it leads back to ${printable(real)}, which contains it)`,
    );
  const listing: Listing = { files: [], hidden: 0, unfollowable: [] };
  let entries: Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (error) {
    throw new DatasetError(
      `${printable(dir)}: cannot read the folder (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
    );
  }
  for (const entry of entries) {
    if (entry.name.startsWith('.')) {
      listing.hidden++;
      continue;
    }
    const path = join(dir, entry.name);
    const kind = await kindOf(path, entry);
    if (kind === 'dir') {
      const nested = await listFiles(path, [...ancestors, real]);
      listing.files.push(...nested.files);
      listing.hidden += nested.hidden;
      listing.unfollowable.push(...nested.unfollowable);
    } else if (kind === 'file') {
      listing.files.push(path);
    } else if (typeof kind === 'object') {
      listing.unfollowable.push({ path, reason: kind.unfollowable });
    }
  }
  return listing;
}

/** The message for a folder with a single class: usually the parent of the folder that holds the classes. */
async function singleClassMessage(root: string, name: string): Promise<string> {
  const inside = await readdir(join(root, name), { withFileTypes: true });
  const folders = inside.filter((e) => !e.name.startsWith('.') && (e.isDirectory() || e.isSymbolicLink())).length;
  const hint =
    folders >= 2
      ? ` '${name}' holds ${folders} sub-folders: if those are the classes, use ${printable(join(root, name))}`
      : ' Add a sub-folder of images for every other class.';
  return `${printable(root)}: only one class folder ('${name}'); a classifier needs at least two.${hint}`;
}

async function readHead(path: string, length: number): Promise<Uint8Array> {
  const handle = await open(path, 'r');
  try {
    const buffer = Buffer.alloc(length);
    const { bytesRead } = await handle.read(buffer, 0, length, 0);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

/** Checks one file's content and header; returns the item or the problem. */
async function inspectFile(c: Candidate): Promise<DatasetItem | FileProblem> {
  const problem = (reason: string): FileProblem => ({ path: c.relativePath, reason });
  let size: number;
  let head: Uint8Array;
  try {
    ({ size } = await stat(c.absolute));
    head = await readHead(c.absolute, 64);
  } catch (error) {
    return problem(`cannot read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  if (size === 0) return problem('empty file (0 bytes)');
  const format = sniffFormat(head);
  const claimed = formatOfExtension(extname(c.absolute));
  if (format === undefined)
    return problem(
      `not an image (no JPEG, PNG, TIFF, BMP or WebP signature) despite its ${extname(c.absolute)} extension`,
    );
  if (claimed !== format)
    return problem(`wrong extension: the content is ${format.toUpperCase()}, the name says ${claimed?.toUpperCase()}`);
  try {
    const { width, height } =
      format === 'bmp'
        ? bmpSize(head, c.relativePath)
        : await sharp(c.absolute, { limitInputPixels: false }).metadata();
    if (!width || !height) return problem(`corrupt ${format.toUpperCase()} image: no size in its header`);
    if (width * height > MAX_IMAGE_PIXELS) return problem(tooLargeReason(width, height));
    return { path: c.relativePath, label: c.label, format, width, height, bytes: size };
  } catch (error) {
    return problem(
      format === 'bmp'
        ? reasonOf(error, c.relativePath)
        : `corrupt ${format.toUpperCase()} image: ${oneLine((error as Error).message)}`,
    );
  }
}

const byCodePoint = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

export async function scanDataset(root: string, options: ScanOptions = {}): Promise<Dataset> {
  const where = printable(root);
  let entries;
  try {
    entries = await readdir(root, { withFileTypes: true });
  } catch (error) {
    throw new DatasetError(
      `${where}: cannot read the dataset folder (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
    );
  }
  const kinds = await Promise.all(entries.map((e) => kindOf(join(root, e.name), e)));
  // Always fatal, --skip-bad or not: a class left out changes every label after it, not just the images it holds.
  const brokenClasses = entries
    .flatMap((e, i) => {
      const kind = kinds[i];
      return typeof kind === 'object' && !e.name.startsWith('.')
        ? [printable(`${join(root, e.name)}: class folder link: ${kind.unfollowable}`)]
        : [];
    })
    .sort(byCodePoint);
  const notSkipped = '--skip-bad does not leave out a class: the labels would change';
  if (brokenClasses.length === 1)
    throw new DatasetError(`${brokenClasses[0]}; fix or remove it (${notSkipped})`, brokenClasses);
  if (brokenClasses.length > 1) {
    throw new DatasetError(
      `${where}: ${brokenClasses.length} class folder links cannot be followed; fix or remove them (${notSkipped}):\n${brokenClasses.map((l) => `  ${l}`).join('\n')}`,
      brokenClasses,
    );
  }
  const classes = entries
    .filter((e, i) => kinds[i] === 'dir' && !e.name.startsWith('.'))
    .map((e) => e.name)
    .sort(byCodePoint);
  if (classes.length === 0)
    throw new DatasetError(`${where}: no class folders (expected one sub-folder of images per class)`);
  // Class names end up in logs, CSV files, reports and charts, where a newline or an escape code breaks them.
  const unprintable = classes.filter(holdsControlCharacter).map((c) => `'${printable(c)}'`);
  if (unprintable.length === 1)
    throw new DatasetError(`${where}: class folder name ${unprintable[0]} holds a control character; rename it`);
  if (unprintable.length > 1)
    throw new DatasetError(
      `${where}: class folder names ${unprintable.join(', ')} hold control characters; rename them`,
    );
  if (classes.length === 1) throw new DatasetError(await singleClassMessage(root, classes[0]));
  const byLower = new Map<string, string[]>();
  for (const c of classes) byLower.set(c.toLowerCase(), [...(byLower.get(c.toLowerCase()) ?? []), c]);
  const clashes = [...byLower.values()].filter((names) => names.length > 1);
  if (clashes.length > 0) {
    throw new DatasetError(
      `${where}: class folders differ only by case: ${clashes.map((n) => n.join(' / ')).join('; ')}`,
    );
  }
  let hidden = entries.filter((e) => e.name.startsWith('.')).length;
  const nonImages: string[] = entries
    .filter((e, i) => kinds[i] === 'file' && !e.name.startsWith('.'))
    .map((e) => e.name);
  const candidates: Candidate[] = [];
  const emptyClasses: string[] = [];
  const linkProblems: FileProblem[] = [];
  const relativeTo = (f: string): string => relative(root, f).split(sep).join('/');
  for (const [label, name] of classes.entries()) {
    const listing = await listFiles(join(root, name));
    hidden += listing.hidden;
    linkProblems.push(...listing.unfollowable.map(({ path, reason }) => ({ path: relativeTo(path), reason })));
    const files = listing.files.map(relativeTo).sort(byCodePoint);
    const images = files.filter((f) => IMAGE_EXTENSIONS.has(extname(f).toLowerCase()));
    nonImages.push(...files.filter((f) => !IMAGE_EXTENSIONS.has(extname(f).toLowerCase())));
    if (images.length === 0) emptyClasses.push(name);
    for (const f of images) candidates.push({ absolute: join(root, f), relativePath: f, label });
  }
  if (emptyClasses.length > 0)
    throw new DatasetError(`${where}: class folder(s) with no images: ${emptyClasses.join(', ')}`);
  const results = await mapLimit(candidates, 8, inspectFile);
  const isItem = (r: DatasetItem | FileProblem): r is DatasetItem => 'label' in r;
  const problems = [...linkProblems, ...results.filter((r): r is FileProblem => !isItem(r))];
  if (problems.length > 0) {
    const lines = problems.map(problemLine);
    if (!options.skipBad) {
      const shown = lines
        .slice(0, 20)
        .map((l) => `  ${l}`)
        .join('\n');
      const more = lines.length > 20 ? `\n  ... and ${lines.length - 20} more` : '';
      throw new DatasetError(
        `${where}: ${lines.length} bad image file(s) (skip them with --skip-bad):\n${shown}${more}`,
        lines,
      );
    }
    for (const line of lines) options.onWarning?.(`skipping ${line}`);
  }
  const items = results.filter(isItem);
  checkNoneEmptied({ root, classes, items });
  return { root, classes, items, ignored: { hidden, nonImages }, skipped: problems };
}

function checkNoneEmptied({ root, classes, items }: Pick<Dataset, 'root' | 'classes' | 'items'>): void {
  const counts = new Array<number>(classes.length).fill(0);
  for (const item of items) counts[item.label]++;
  const emptied = classes.filter((_, i) => counts[i] === 0);
  if (emptied.length > 0)
    throw new DatasetError(`${printable(root)}: no usable images left in class folder(s): ${emptied.join(', ')}`);
}

/** The dataset without files found bad later (when decoding); they join its skipped list. */
export function withoutItems(dataset: Dataset, bad: readonly FileProblem[]): Dataset {
  const dropped = new Set(bad.map((b) => b.path));
  const items = dataset.items.filter((item) => !dropped.has(item.path));
  checkNoneEmptied({ root: dataset.root, classes: dataset.classes, items });
  return { ...dataset, items, skipped: [...dataset.skipped, ...bad] };
}
