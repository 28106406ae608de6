// Scanning a dataset folder: one sub-folder per class (sorted by name), images recognised by content, every
// problem reported with its path. Problems fail the scan unless the caller asks to skip bad files.
import { open, readdir, stat } from 'node:fs/promises';
import { extname, join, relative, sep } from 'node:path';

import sharp from 'sharp';

import { bmpSize } from './bmp.js';
import { mapLimit } from './concurrency.js';
import { formatOfExtension, type ImageFormat, IMAGE_EXTENSIONS, sniffFormat } from './formats.js';

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
  skipped: { path: string; reason: string }[];
}

export interface ScanOptions {
  /** Leave out bad image files with a warning instead of failing. */
  skipBad?: boolean;
  onWarning?: (message: string) => void;
}

export class DatasetError extends Error {
  constructor(message: string, readonly problems: string[] = []) {
    super(message);
    this.name = 'DatasetError';
  }
}

interface Candidate {
  absolute: string;
  relativePath: string;
  label: number;
}

async function listFiles(dir: string): Promise<{ files: string[]; hidden: number }> {
  const files: string[] = [];
  let hidden = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (entry.name.startsWith('.')) {
      hidden++;
      continue;
    }
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      const nested = await listFiles(path);
      files.push(...nested.files);
      hidden += nested.hidden;
    } else if (entry.isFile()) {
      files.push(path);
    }
  }
  return { files, hidden };
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
async function inspectFile(c: Candidate): Promise<DatasetItem | string> {
  const { size } = await stat(c.absolute);
  if (size === 0) return `${c.relativePath}: empty file (0 bytes)`;
  const head = await readHead(c.absolute, 64);
  const format = sniffFormat(head);
  const claimed = formatOfExtension(extname(c.absolute));
  if (format === undefined) return `${c.relativePath}: not an image (no JPEG, PNG, TIFF, BMP or WebP signature) despite its ${extname(c.absolute)} extension`;
  if (claimed !== format) return `${c.relativePath}: wrong extension: the content is ${format.toUpperCase()}, the name says ${claimed?.toUpperCase()}`;
  try {
    const { width, height } = format === 'bmp' ? bmpSize(head, c.relativePath) : await sharp(c.absolute).metadata();
    if (!width || !height) return `${c.relativePath}: corrupt ${format.toUpperCase()} image: no size in its header`;
    return { path: c.relativePath, label: c.label, format, width, height, bytes: size };
  } catch (error) {
    return `${c.relativePath}: corrupt ${format.toUpperCase()} image: ${(error as Error).message}`;
  }
}

const byCodePoint = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

export async function scanDataset(root: string, options: ScanOptions = {}): Promise<Dataset> {
  let entries;
  try {
    entries = await readdir(root, { withFileTypes: true });
  } catch (error) {
    throw new DatasetError(`${root}: cannot read the dataset folder (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  const classes = entries.filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name).sort(byCodePoint);
  if (classes.length === 0) throw new DatasetError(`${root}: no class folders (expected one sub-folder of images per class)`);
  const byLower = new Map<string, string[]>();
  for (const c of classes) byLower.set(c.toLowerCase(), [...(byLower.get(c.toLowerCase()) ?? []), c]);
  const clashes = [...byLower.values()].filter((names) => names.length > 1);
  if (clashes.length > 0) {
    throw new DatasetError(`${root}: class folders differ only by case: ${clashes.map((n) => n.join(' / ')).join('; ')}`);
  }
  let hidden = entries.filter((e) => e.name.startsWith('.')).length;
  const nonImages: string[] = entries.filter((e) => e.isFile() && !e.name.startsWith('.')).map((e) => e.name);
  const candidates: Candidate[] = [];
  const emptyClasses: string[] = [];
  for (const [label, name] of classes.entries()) {
    const listing = await listFiles(join(root, name));
    hidden += listing.hidden;
    const files = listing.files.map((f) => relative(root, f).split(sep).join('/')).sort(byCodePoint);
    const images = files.filter((f) => IMAGE_EXTENSIONS.has(extname(f).toLowerCase()));
    nonImages.push(...files.filter((f) => !IMAGE_EXTENSIONS.has(extname(f).toLowerCase())));
    if (images.length === 0) emptyClasses.push(name);
    for (const f of images) candidates.push({ absolute: join(root, f), relativePath: f, label });
  }
  if (emptyClasses.length > 0) throw new DatasetError(`${root}: class folder(s) with no images: ${emptyClasses.join(', ')}`);
  const results = await mapLimit(candidates, 8, inspectFile);
  const problems = results.filter((r): r is string => typeof r === 'string');
  const skipped: Dataset['skipped'] = [];
  if (problems.length > 0) {
    if (!options.skipBad) {
      const shown = problems.slice(0, 20).map((p) => `  ${p}`).join('\n');
      const more = problems.length > 20 ? `\n  ... and ${problems.length - 20} more` : '';
      throw new DatasetError(`${root}: ${problems.length} bad image file(s) (skip them with --skip-bad):\n${shown}${more}`, problems);
    }
    for (const p of problems) {
      options.onWarning?.(`skipping ${p}`);
      const cut = p.indexOf(': ');
      skipped.push({ path: p.slice(0, cut), reason: p.slice(cut + 2) });
    }
  }
  const items = results.filter((r): r is DatasetItem => typeof r !== 'string');
  checkNoneEmptied({ root, classes, items });
  return { root, classes, items, ignored: { hidden, nonImages }, skipped };
}

function checkNoneEmptied({ root, classes, items }: Pick<Dataset, 'root' | 'classes' | 'items'>): void {
  const counts = new Array<number>(classes.length).fill(0);
  for (const item of items) counts[item.label]++;
  const emptied = classes.filter((_, i) => counts[i] === 0);
  if (emptied.length > 0) throw new DatasetError(`${root}: no usable images left in class folder(s): ${emptied.join(', ')}`);
}

/** The dataset without files found bad later (when decoding); they join its skipped list. */
export function withoutItems(dataset: Dataset, bad: readonly { path: string; reason: string }[]): Dataset {
  const dropped = new Set(bad.map((b) => b.path));
  const items = dataset.items.filter((item) => !dropped.has(item.path));
  checkNoneEmptied({ root: dataset.root, classes: dataset.classes, items });
  return { ...dataset, items, skipped: [...dataset.skipped, ...bad] };
}
