// Checkpoints: a folder per save holding model.safetensors (the model's state dict under PyTorch's names),
// state.safetensors (other tensors: optimizer buffers, RNG state) and checkpoint.json (everything else). Each save
// is written in full, fsynced, then published by atomically swapping a symbolic link ('latest', 'best', ...) to it,
// so a process killed at any moment leaves every link pointing at a complete checkpoint.
import { existsSync, lstatSync, mkdirSync, readdirSync, readlinkSync, renameSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { basename, join } from 'node:path';

import type { Tensor } from '../torch/index.js';
import { fsyncDir, writeFileDurable } from './atomic.js';
import { readBytes } from './read.js';
import { encodeSafetensors, type Metadata, readSafetensors } from './safetensors.js';

export const MODEL_FILE = 'model.safetensors';
export const STATE_FILE = 'state.safetensors';
export const INFO_FILE = 'checkpoint.json';

export interface Checkpoint<Info> {
  /** The model's state dict. */
  model: Map<string, Tensor>;
  /** Other tensors to restore (optimizer state, generator state). */
  tensors: Map<string, Tensor>;
  info: Info;
  /** Metadata stored in model.safetensors (for tools that read only the weights). */
  modelMetadata: Metadata;
}

const GENERATION = /^ckpt-(\d{6,})$/;

function generations(root: string): number[] {
  return readdirSync(root)
    .map((name) => GENERATION.exec(name))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]));
}

function linkTargets(root: string): Set<string> {
  const targets = new Set<string>();
  for (const name of readdirSync(root)) {
    const path = join(root, name);
    if (lstatSync(path).isSymbolicLink()) targets.add(basename(readlinkSync(path)));
  }
  return targets;
}

/** Saves a checkpoint under `root` and points each of `tags` (e.g. ['latest'], ['latest', 'best']) at it. */
export function saveCheckpoint<Info>(root: string, tags: readonly string[], checkpoint: Omit<Checkpoint<Info>, 'modelMetadata'> & { modelMetadata?: Metadata }): string {
  if (tags.length === 0) throw new Error('saveCheckpoint: give at least one tag');
  for (const tag of tags) if (!/^[A-Za-z0-9_-]+$/.test(tag)) throw new Error(`saveCheckpoint: invalid tag '${tag}'`);
  mkdirSync(root, { recursive: true });
  const generation = Math.max(0, ...generations(root)) + 1;
  const name = `ckpt-${String(generation).padStart(6, '0')}`;
  const staging = join(root, `${name}.tmp-${process.pid}`);
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging);
  writeFileDurable(join(staging, MODEL_FILE), encodeSafetensors(checkpoint.model, checkpoint.modelMetadata ?? {}));
  writeFileDurable(join(staging, STATE_FILE), encodeSafetensors(checkpoint.tensors));
  writeFileDurable(join(staging, INFO_FILE), [Buffer.from(JSON.stringify(checkpoint.info, null, 2) + '\n')]);
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
  pruneCheckpoints(root);
  return join(root, name);
}

/** Removes checkpoints no link points to, and leftovers of interrupted saves. */
function pruneCheckpoints(root: string): void {
  const keep = linkTargets(root);
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

/** Loads a checkpoint folder, or a bare model.safetensors (then `tensors` is empty and `info` comes from its metadata). */
export function loadCheckpoint<Info>(path: string, tag = 'latest'): Checkpoint<Info> & { path: string } {
  const resolved = resolveCheckpoint(path, tag);
  if (statSync(resolved).isFile()) {
    const { tensors, metadata } = readSafetensors(resolved);
    return { model: tensors, tensors: new Map(), info: parseInfo<Info>(metadata.dsdnet ?? '{}', resolved), modelMetadata: metadata, path: resolved };
  }
  const infoPath = join(resolved, INFO_FILE);
  const infoText = readBytes(infoPath).toString('utf8');
  const model = readSafetensors(join(resolved, MODEL_FILE));
  const state = existsSync(join(resolved, STATE_FILE)) ? readSafetensors(join(resolved, STATE_FILE)).tensors : new Map<string, Tensor>();
  return { model: model.tensors, tensors: state, info: parseInfo<Info>(infoText, infoPath), modelMetadata: model.metadata, path: resolved };
}

function parseInfo<Info>(text: string, source: string): Info {
  try {
    return JSON.parse(text) as Info;
  } catch (error) {
    throw new Error(`${source}: invalid checkpoint JSON (${(error as Error).message})`);
  }
}
