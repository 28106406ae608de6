// Loading a trained classifier: from a run folder, a checkpoint, or a bare model.safetensors, with an sd/dsd run's
// stage heads when asked for.
import { type DecodeOptions, DEFAULT_SCALE } from '../data/index.js';
import { type Checkpoint, loadCheckpoint, type Metadata } from '../io/index.js';
import { SelfDistillationNet, type StageHead } from '../dsd/index.js';
import { type Backbone, backboneOptionProblems, type BackboneOptions, createBackbone } from '../models/index.js';
import type { Device } from '../torch/index.js';
import { checkFinite } from '../weights/index.js';
import { AUXILIARY_PREFIX, checkClassNames, type SnapshotInfo } from './checkpoint-info.js';
import { decodeSize, type TrainConfig } from './run-config.js';
import { modelSettingsProblems, type ModelSettings } from './settings.js';

export interface LoadedModel {
  model: Backbone;
  classNames: string[];
  backbone: string;
  /** Input size of the network. */
  size: number;
  /** Images are resized to this (short side, centre crop) before the centre `size` window is taken. */
  decodeSize: number;
  /** Band choice and sample scaling of the training images, applied to every image predicted on. */
  decode: Required<Pick<DecodeOptions, 'bands' | 'scale'>>;
  /** The checkpoint folder or file it came from. */
  source: string;
  info: Partial<SnapshotInfo<TrainConfig>>;
  /** An sd/dsd run's auxiliary classifiers on stages 1-3, when asked for (`heads: true`) and the checkpoint has them. */
  heads?: StageHead[];
}

/** The class names a model file gives: its checkpoint's list, or its metadata's JSON text. */
function classNamesOf(info: Partial<SnapshotInfo<TrainConfig>>, metadata: Metadata, source: string): unknown {
  if (info.classNames !== undefined) return info.classNames;
  try {
    return JSON.parse(metadata.classNames);
  } catch (error) {
    throw new Error(`${source}: its metadata's classNames is not JSON (${(error as Error).message})`);
  }
}

/**
 * How a model file says it is used (backbone and its architecture options, classes, sizes, bands, scaling), checked
 * against the flags' limits.
 */
function settingsOf(
  checkpoint: Checkpoint<Partial<SnapshotInfo<TrainConfig>>> & { path: string },
): ModelSettings & { classNames: string[]; backboneOptions: BackboneOptions } {
  const { info, modelMetadata: metadata, path } = checkpoint;
  const backbone = info.config?.backbone ?? metadata.backbone;
  if (
    (info.classNames === undefined && metadata.classNames === undefined) ||
    !backbone ||
    (info.config === undefined && metadata.size === undefined)
  ) {
    throw new Error(`${path}: not a dsdnet model (its metadata names no class list, backbone or input size)`);
  }
  const size = info.config?.size ?? Number(metadata.size);
  const settings = {
    backbone,
    classNames: classNamesOf(info, metadata, path),
    size,
    decodeSize: info.config ? decodeSize(info.config) : Number(metadata.decodeSize ?? size),
    bands: info.config?.bands ?? null,
    scale: info.config?.scale ?? DEFAULT_SCALE,
  };
  // Runs from before the option had torchvision's placement.
  const backboneOptions = { bottleneckStride: info.config?.bottleneckStride ?? '3x3' };
  const problems = [...modelSettingsProblems(settings), ...backboneOptionProblems(backbone, backboneOptions)];
  if (problems.length > 0) throw new Error(`${path}: its settings cannot be used: ${problems.join('; ')}`);
  return { ...settings, backboneOptions } as ModelSettings & { classNames: string[]; backboneOptions: BackboneOptions };
}

/**
 * The stage heads of an sd/dsd run from its training state (the run's own SelfDistillationNet, so that the names are
 * the trainer's); undefined for plain runs and for a bare model.safetensors.
 */
function stageHeads(
  model: Backbone,
  checkpoint: Checkpoint<Partial<SnapshotInfo<TrainConfig>>>,
): StageHead[] | undefined {
  const config = checkpoint.info.config;
  const auxiliary = new Map(
    [...checkpoint.tensors]
      .filter(([key]) => key.startsWith(AUXILIARY_PREFIX))
      .map(([key, t]) => [key.slice(AUXILIARY_PREFIX.length), t]),
  );
  if (config === undefined || config.method === 'plain' || auxiliary.size === 0) return undefined;
  const net = new SelfDistillationNet(model, config.method, config.methodOptions);
  net.auxiliary.loadStateDict(auxiliary);
  for (const diffusion of net.diffusion) diffusion.dispose();
  return net.heads;
}

/**
 * Loads the deployable model (and, with `heads`, an sd/dsd run's stage heads) onto the device (default: the CPU);
 * checkpoints themselves hold no device. `tag` picks 'latest' (default) or 'best' inside a run.
 */
export function loadModel(
  path: string,
  options: { tag?: string; expectClasses?: readonly string[]; device?: Device; heads?: boolean } = {},
): LoadedModel {
  const checkpoint = loadCheckpoint<Partial<SnapshotInfo<TrainConfig>>>(path, options.tag ?? 'latest');
  let model: Backbone | undefined;
  try {
    const settings = settingsOf(checkpoint);
    if (options.expectClasses) checkClassNames(checkpoint.path, settings.classNames, options.expectClasses);
    checkFinite(
      checkpoint.model,
      checkpoint.path,
      'refusing a model that is not finite (its predictions would mean nothing)',
    );
    model = createBackbone(settings.backbone, settings.classNames.length, settings.backboneOptions);
    model.loadStateDict(checkpoint.model);
    const heads = options.heads ? stageHeads(model, checkpoint) : undefined;
    model.to(options.device ?? 'cpu').eval();
    for (const head of heads ?? []) head.to(options.device ?? 'cpu').eval();
    const { backbone, classNames, size, decodeSize: resize, bands, scale } = settings;
    return {
      model,
      classNames,
      backbone,
      size,
      decodeSize: resize,
      decode: { bands, scale },
      source: checkpoint.path,
      info: checkpoint.info,
      heads,
    };
  } catch (error) {
    model?.dispose();
    throw error;
  } finally {
    for (const t of [...checkpoint.model.values(), ...checkpoint.tensors.values()]) t.dispose();
  }
}
