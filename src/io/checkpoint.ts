// Checkpoints: a folder per save holding model.safetensors (the model's state dict under PyTorch's names),
// state.safetensors (other tensors: optimizer buffers, RNG state), checkpoint.json (everything else) and, written
// last, manifest.json (each file's size and SHA-256, checked on loading: flipped bytes are named, not resumed from).
// Each save is written in full, fsynced, then published by atomically swapping a symbolic link ('latest', 'best',
// ...) to it, so a process killed at any moment leaves every link pointing at a complete checkpoint; a save that
// fails (a full disk) removes what it wrote and leaves the links where they were.
import { createHash } from 'node:crypto';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readlinkSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';

import type { Tensor } from '../torch/index.js';
import { errnoText, fsyncDir, writeFileDurable } from './atomic.js';
import { printable } from './printable.js';
import { readBytes } from './read.js';
import { decodeSafetensors, encodeSafetensors, type Metadata } from './safetensors.js';

export const MODEL_FILE = 'model.safetensors';
export const STATE_FILE = 'state.safetensors';
export const INFO_FILE = 'checkpoint.json';
export const MANIFEST_FILE = 'manifest.json';
const MANIFEST_FORMAT = 'dsdnet-manifest/1';

export interface Checkpoint<Info> {
  /** The model's state dict. */
  model: Map<string, Tensor>;
  /** Other tensors to restore (optimizer state, generator state). */
  tensors: Map<string, Tensor>;
  info: Info;
  /** Metadata stored in model.safetensors (for tools that read only the weights). */
  modelMetadata: Metadata;
}

interface ManifestEntry {
  bytes: number;
  sha256: string;
}

interface Manifest {
  format: string;
  files: Record<string, ManifestEntry>;
}

const GENERATION = /^ckpt-(\d{6,})$/;

function generations(root: string): number[] {
  return readdirSync(root)
    .map((name) => GENERATION.exec(name))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]));
}

/** Each link under `root` ('latest', 'best', ...) and the checkpoint folder it names. */
function links(root: string): Map<string, string> {
  const found = new Map<string, string>();
  for (const name of readdirSync(root)) {
    const path = join(root, name);
    if (lstatSync(path).isSymbolicLink()) found.set(name, basename(readlinkSync(path)));
  }
  return found;
}

function sha256(chunks: readonly Uint8Array[]): string {
  const hash = createHash('sha256');
  for (const chunk of chunks) hash.update(chunk);
  return hash.digest('hex');
}

/** Saves a checkpoint under `root` and points each of `tags` (e.g. ['latest'], ['latest', 'best']) at it. */
export function saveCheckpoint<Info>(
  root: string,
  tags: readonly string[],
  checkpoint: Omit<Checkpoint<Info>, 'modelMetadata'> & { modelMetadata?: Metadata },
): string {
  if (tags.length === 0) throw new Error('saveCheckpoint: give at least one tag');
  for (const tag of tags) if (!/^[A-Za-z0-9_-]+$/.test(tag)) throw new Error(`saveCheckpoint: invalid tag '${tag}'`);
  mkdirSync(root, { recursive: true });
  const generation = Math.max(0, ...generations(root)) + 1;
  const name = `ckpt-${String(generation).padStart(6, '0')}`;
  const staging = join(root, `${name}.tmp-${process.pid}`);
  const files: [string, () => Uint8Array[]][] = [
    [MODEL_FILE, () => encodeSafetensors(checkpoint.model, checkpoint.modelMetadata ?? {})],
    [STATE_FILE, () => encodeSafetensors(checkpoint.tensors)],
    [INFO_FILE, () => [Buffer.from(JSON.stringify(checkpoint.info, null, 2) + '\n')]],
  ];
  try {
    rmSync(staging, { recursive: true, force: true });
    mkdirSync(staging);
    const manifest: Manifest = { format: MANIFEST_FORMAT, files: {} };
    for (const [file, encode] of files) {
      const chunks = encode();
      writeFileDurable(join(staging, file), chunks);
      manifest.files[file] = { bytes: chunks.reduce((sum, c) => sum + c.byteLength, 0), sha256: sha256(chunks) };
    }
    // Last: a folder with a manifest has every file it lists.
    writeFileDurable(join(staging, MANIFEST_FILE), [Buffer.from(JSON.stringify(manifest, null, 2) + '\n')]);
    fsyncDir(staging);
    renameSync(staging, join(root, name));
    fsyncDir(root);
    for (const tag of tags) {
      const tmpLink = join(root, `${tag}.tmp-${process.pid}`);
      rmSync(tmpLink, { force: true });
      symlinkSync(name, tmpLink);
      renameSync(tmpLink, join(root, tag));
    }
    fsyncDir(root);
  } catch (error) {
    throw failedSave(root, name, staging, tags, error);
  }
  pruneCheckpoints(root);
  return join(root, name);
}

/**
 * Removes what a failed save wrote (its staging folder, temporary links, the new folder if no link took it) and says
 * where the links point. A cleanup that fails too never hides why the save failed: the next save removes the rest.
 */
function failedSave(root: string, name: string, staging: string, tags: readonly string[], error: unknown): Error {
  const failure = `${root}: cannot save checkpoint ${name}: ${(error as Error).message}.`;
  try {
    rmSync(staging, { recursive: true, force: true });
    for (const tag of tags) rmSync(join(root, `${tag}.tmp-${process.pid}`), { force: true });
    const pointing = links(root);
    if (![...pointing.values()].includes(name)) rmSync(join(root, name), { recursive: true, force: true });
    const where = tags
      .map((tag) => (pointing.has(tag) ? `'${tag}' points at ${pointing.get(tag)}` : `there is no '${tag}'`))
      .join(', ');
    return new Error(`${failure} Removed the partial ${staging}; ${where}`, { cause: error });
  } catch (cleanupError) {
    return new Error(
      `${failure} Removing what it wrote failed too (${errnoText(cleanupError)}); the next save in ${root} removes what is left`,
      { cause: error },
    );
  }
}

/** Removes checkpoints no link points to, and leftovers of interrupted saves. */
function pruneCheckpoints(root: string): void {
  const keep = new Set(links(root).values());
  for (const entry of readdirSync(root)) {
    const stale = entry.includes('.tmp-') || (GENERATION.test(entry) && !keep.has(entry));
    if (stale) rmSync(join(root, entry), { recursive: true, force: true });
  }
}

/**
 * Resolves what a user points at: a run's checkpoint folder (its 'latest' link, or `tag`), a link, a checkpoint
 * folder, or a bare model.safetensors file.
 */
export function resolveCheckpoint(path: string, tag = 'latest'): string {
  if (!existsSync(path)) throw new Error(`${path}: no such checkpoint`);
  if (statSync(path).isFile()) return path;
  if (existsSync(join(path, MODEL_FILE))) return path;
  if (existsSync(join(path, tag))) return resolveCheckpoint(join(path, tag), tag);
  if (existsSync(join(path, 'checkpoints', tag))) return resolveCheckpoint(join(path, 'checkpoints', tag), tag);
  throw new Error(`${path}: not a checkpoint (no ${MODEL_FILE}, and no '${tag}' checkpoint inside)`);
}

// ---- verifying ----

/** The files a manifest may list: a checkpoint's own, never a path elsewhere (which loading would read and hash). */
const LISTED_FILES: readonly string[] = [MODEL_FILE, STATE_FILE, INFO_FILE];

/** The manifest of checkpoint folder `dir`; an unreadable one is an error saying why. */
function readManifest(dir: string): Manifest {
  const text = readBytes(join(dir, MANIFEST_FILE)).toString('utf8');
  let manifest: Manifest;
  try {
    manifest = JSON.parse(text) as Manifest;
  } catch (error) {
    throw new Error(`${MANIFEST_FILE} is not JSON (${(error as Error).message})`);
  }
  const files =
    manifest?.format === MANIFEST_FORMAT && manifest.files !== null && typeof manifest.files === 'object'
      ? manifest.files
      : {};
  const entries = Object.values(files);
  if (
    entries.length === 0 ||
    !entries.every((e) => Number.isSafeInteger(e?.bytes) && /^[0-9a-f]{64}$/.test(e?.sha256))
  ) {
    throw new Error(`${MANIFEST_FILE} is not a ${MANIFEST_FORMAT} manifest`);
  }
  const foreign = Object.keys(files).filter((file) => !LISTED_FILES.includes(file));
  if (foreign.length > 0) {
    throw new Error(
      `${MANIFEST_FILE} is not a ${MANIFEST_FORMAT} manifest: it lists ${foreign.map((f) => `"${printable(f)}"`).join(', ')}, not a checkpoint file (${LISTED_FILES.join(', ')})`,
    );
  }
  return manifest;
}

/** Why `bytes` are not the file the manifest recorded, or null when they are. */
function mismatch(file: string, bytes: Uint8Array, entry: ManifestEntry): string | null {
  if (bytes.byteLength !== entry.bytes)
    return `${file} has ${bytes.byteLength} bytes, ${entry.bytes} when it was saved`;
  const digest = sha256([bytes]);
  if (digest === entry.sha256) return null;
  return `${file} does not hold the bytes it was saved with (SHA-256 ${digest.slice(0, 12)}…, ${entry.sha256.slice(0, 12)}… when saved)`;
}

/** Reads the files of one checkpoint folder, each checked against the folder's manifest (if it has one: older ones do not). */
class CheckpointFolder {
  private readonly manifest: Manifest | null;

  constructor(readonly dir: string) {
    try {
      this.manifest = existsSync(join(dir, MANIFEST_FILE)) ? readManifest(dir) : null;
    } catch (error) {
      throw damaged(dir, (error as Error).message);
    }
  }

  lists(file: string): boolean {
    return this.manifest?.files[file] !== undefined;
  }

  read(file: string): Buffer {
    const entry = this.manifest?.files[file];
    if (entry !== undefined && !existsSync(join(this.dir, file))) throw damaged(this.dir, `${file} is missing`);
    const bytes = readBytes(join(this.dir, file));
    const problem = entry === undefined ? null : mismatch(file, bytes, entry);
    if (problem !== null) throw damaged(this.dir, problem);
    return bytes;
  }
}

/** Checkpoint folder `dir` with every file its manifest lists read and hashed; 'unverified' when it has no manifest. */
function checkpointState(dir: string): 'intact' | 'damaged' | 'unverified' {
  try {
    if (!existsSync(join(dir, MANIFEST_FILE))) return 'unverified';
    const files = Object.entries(readManifest(dir).files);
    return files.every(([file, entry]) => mismatch(file, readBytes(join(dir, file)), entry) === null)
      ? 'intact'
      : 'damaged';
  } catch {
    return 'damaged';
  }
}

/**
 * The error for damaged checkpoint folder `dir`. A folder a save made (ckpt-NNNNNN, or a link to one) gets the intact
 * checkpoints beside it and how to use them; any other (a copy in ~/Downloads) lies among unrelated files.
 */
function damaged(dir: string, problem: string): Error {
  const root = dirname(dir);
  let self = basename(dir);
  try {
    if (lstatSync(dir).isSymbolicLink()) self = basename(readlinkSync(dir));
  } catch {
    // Named as given.
  }
  const where = `${join(root, self)}: damaged checkpoint: ${problem}.`;
  if (!GENERATION.test(self)) return new Error(where);
  try {
    return new Error(`${where} ${intactBeside(root, self)}`);
  } catch {
    return new Error(where); // the folder around it cannot be listed: the damage is still what the user needs to know
  }
}

/** The intact checkpoints in `root` other than `self`, and how to use the best of them. */
function intactBeside(root: string, self: string): string {
  const tagsOf = new Map<string, string[]>();
  for (const [tag, target] of links(root)) tagsOf.set(target, [...(tagsOf.get(target) ?? []), tag]);
  const others = readdirSync(root)
    .filter((e) => GENERATION.test(e) && e !== self)
    .sort((a, b) => Number(GENERATION.exec(b)![1]) - Number(GENERATION.exec(a)![1]));
  const intact = others.flatMap((name) => {
    const state = checkpointState(join(root, name));
    return state === 'damaged' ? [] : [{ name, tags: tagsOf.get(name) ?? [], verified: state === 'intact' }];
  });
  if (intact.length === 0) return `No intact checkpoint is left beside it in ${root}`;
  const listed = intact.map(
    (c) =>
      `${c.tags.length > 0 ? `${c.tags.map((t) => `'${t}'`).join(', ')} (${c.name})` : c.name}${c.verified ? '' : ' (saved without a manifest: unverified)'}`,
  );
  const best = intact.find((c) => c.tags.length > 0) ?? intact[0];
  const byTag = best.tags.length > 0 ? `--tag ${best.tags[0]} (evaluate, export) or ` : '';
  return (
    `Intact checkpoints beside it: ${listed.join(', ')}. Use ${best.name} with ${byTag}its folder ${join(root, best.name)}; ` +
    `to resume from it, point 'latest' at it: ln -sfn ${best.name} ${join(root, 'latest')}`
  );
}

/**
 * The bytes of `path`, checked against its checkpoint's manifest when it lies in a checkpoint folder (a bare
 * model.safetensors given as weights), else as they are.
 */
export function readCheckpointFile(path: string): Buffer {
  const dir = dirname(path);
  return existsSync(join(dir, INFO_FILE)) ? new CheckpointFolder(dir).read(basename(path)) : readBytes(path);
}

// ---- loading ----

/**
 * Loads a checkpoint folder, or a bare model.safetensors (then `tensors` is empty and `info` comes from its metadata).
 * Files are checked against the folder's manifest: a damaged one is named, with the intact checkpoints beside it.
 */
export function loadCheckpoint<Info>(path: string, tag = 'latest'): Checkpoint<Info> & { path: string } {
  const resolved = resolveCheckpoint(path, tag);
  if (statSync(resolved).isFile()) {
    const { tensors, metadata } = decodeSafetensors(readCheckpointFile(resolved), resolved);
    return {
      model: tensors,
      tensors: new Map(),
      info: parseInfo<Info>(metadata.dsdnet ?? '{}', resolved),
      modelMetadata: metadata,
      path: resolved,
    };
  }
  const folder = new CheckpointFolder(resolved);
  const info = parseInfo<Info>(folder.read(INFO_FILE).toString('utf8'), join(resolved, INFO_FILE));
  const model = decodeSafetensors(folder.read(MODEL_FILE), join(resolved, MODEL_FILE));
  try {
    const hasState = folder.lists(STATE_FILE) || existsSync(join(resolved, STATE_FILE));
    const state = hasState
      ? decodeSafetensors(folder.read(STATE_FILE), join(resolved, STATE_FILE)).tensors
      : new Map<string, Tensor>();
    return { model: model.tensors, tensors: state, info, modelMetadata: model.metadata, path: resolved };
  } catch (error) {
    for (const t of model.tensors.values()) t.dispose();
    throw error;
  }
}

function parseInfo<Info>(text: string, source: string): Info {
  try {
    return JSON.parse(text) as Info;
  } catch (error) {
    throw new Error(`${source}: invalid checkpoint JSON (${(error as Error).message})`);
  }
}
