// A training snapshot: everything needed to continue a run exactly where it stopped — model weights, optimizer
// state, schedule position, epoch, the random generator's state, the class list and the run's configuration —
// mapped onto a checkpoint (model.safetensors + state.safetensors + checkpoint.json).
import { type Checkpoint, loadCheckpoint, saveCheckpoint } from '../io/index.js';
import type { Module } from '../nn/index.js';
import type { GroupOptions, Optimizer } from '../optim/index.js';
import { deviceType, getRngState, setRngState, type Tensor } from '../torch/index.js';
import { AUXILIARY_PREFIX, checkClassNames, decodeSize, SNAPSHOT_FORMAT, type SnapshotInfo } from '../trained/index.js';

const OPTIMIZER_PREFIX = 'optimizer.';
const RNG_KEY = 'rng.cpu';
/** The generator of the GPU the model trained on (the method's noise is drawn there); ignored when resuming on the CPU. */
const CUDA_RNG_KEY = 'rng.cuda';

export interface SnapshotParts<Config> {
  /** The deployable model: its state dict is model.safetensors, under its own (torchvision) names. */
  model: Module;
  /** Training-only modules (auxiliary heads, diffusion modules), saved with the training state. */
  auxiliary?: Module;
  optimizer: Optimizer<GroupOptions>;
  config: Config;
  classNames: string[];
  epoch: number;
  iteration: number;
  extra?: Record<string, unknown>;
}

/** Saves a snapshot under root/ and points the given tags at it. Returns the checkpoint folder. */
export function saveSnapshot<Config>(root: string, tags: readonly string[], parts: SnapshotParts<Config>): string {
  const optimizerState = parts.optimizer.stateDict();
  const tensors = new Map<string, Tensor>([[RNG_KEY, getRngState()]]);
  const device = parts.model.device;
  if (deviceType(device) === 'cuda') tensors.set(CUDA_RNG_KEY, getRngState(device));
  for (const [key, t] of optimizerState.tensors) tensors.set(OPTIMIZER_PREFIX + key, t);
  for (const [key, t] of parts.auxiliary?.stateDict() ?? []) tensors.set(AUXILIARY_PREFIX + key, t);
  const info: SnapshotInfo<Config> = {
    format: SNAPSHOT_FORMAT,
    config: parts.config,
    classNames: parts.classNames,
    epoch: parts.epoch,
    iteration: parts.iteration,
    optimizer: { groups: optimizerState.groups, counters: optimizerState.counters },
    extra: parts.extra ?? {},
  };
  const metadata: Record<string, string> = {
    format: SNAPSHOT_FORMAT,
    classNames: JSON.stringify(parts.classNames),
    dsdnet: JSON.stringify({ config: parts.config, classNames: parts.classNames }),
  };
  // Enough for a bare model.safetensors to be loaded and used on its own.
  const config = parts.config as { backbone?: string; size?: number; cropFraction?: number } | undefined;
  if (config?.backbone) metadata.backbone = config.backbone;
  if (config?.size) metadata.size = String(config.size);
  if (config?.size && config.cropFraction)
    metadata.decodeSize = String(decodeSize({ size: config.size, cropFraction: config.cropFraction }));
  const path = saveCheckpoint(root, tags, { model: parts.model.stateDict(), tensors, info, modelMetadata: metadata });
  tensors.get(RNG_KEY)!.dispose();
  tensors.get(CUDA_RNG_KEY)?.dispose();
  return path;
}

export function readSnapshot<Config>(
  path: string,
  tag = 'latest',
): Checkpoint<SnapshotInfo<Config>> & { path: string } {
  const checkpoint = loadCheckpoint<SnapshotInfo<Config>>(path, tag);
  if (checkpoint.info.format !== SNAPSHOT_FORMAT) {
    throw new Error(
      `${checkpoint.path}: not a dsdnet training checkpoint (format ${JSON.stringify(checkpoint.info.format)})`,
    );
  }
  return checkpoint;
}

/** Restores model, optimizer and generator state from a snapshot; returns its info (epoch, iteration, extra...). */
export function restoreSnapshot<Config>(
  path: string,
  parts: { model: Module; auxiliary?: Module; optimizer: Optimizer<GroupOptions>; classNames: readonly string[] },
  tag = 'latest',
): SnapshotInfo<Config> & { path: string } {
  const checkpoint = readSnapshot<Config>(path, tag);
  const { info } = checkpoint;
  checkClassNames(checkpoint.path, info.classNames, parts.classNames);
  parts.model.loadStateDict(checkpoint.model);
  const optimizerTensors = new Map<string, Tensor>();
  const auxiliary = new Map<string, Tensor>();
  for (const [key, t] of checkpoint.tensors) {
    if (key.startsWith(OPTIMIZER_PREFIX)) optimizerTensors.set(key.slice(OPTIMIZER_PREFIX.length), t);
    if (key.startsWith(AUXILIARY_PREFIX)) auxiliary.set(key.slice(AUXILIARY_PREFIX.length), t);
  }
  parts.auxiliary?.loadStateDict(auxiliary);
  parts.optimizer.loadStateDict({ ...info.optimizer, tensors: optimizerTensors });
  const rng = checkpoint.tensors.get(RNG_KEY);
  if (rng === undefined) throw new Error(`${checkpoint.path}: the checkpoint has no generator state`);
  setRngState(rng);
  const cudaRng = checkpoint.tensors.get(CUDA_RNG_KEY);
  const device = parts.model.device;
  if (cudaRng !== undefined && deviceType(device) === 'cuda') setRngState(cudaRng, device);
  for (const t of [...checkpoint.model.values(), ...checkpoint.tensors.values()]) t.dispose();
  return { ...info, path: checkpoint.path };
}
