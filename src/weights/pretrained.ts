// Pretrained initialisation: a weight source read, put in torchvision's names for the chosen backbone, checked to
// fit it (the classifier aside: it is replaced for the dataset's classes), and copied in. Weights whose BatchNorm was
// folded away are unfolded into identity BatchNorm layers; calibrateBatchNorm (src/nn) then gives them statistics
// measured on training data before training starts.
import { readSafetensorsMetadata } from '../io/index.js';
import { type Backbone, type BackboneOptions, BOTTLENECK_STRIDES, type BottleneckStride } from '../models/index.js';
import { noGrad, type Tensor } from '../torch/index.js';
import { imagenetWeights, type KnownWeights, resolveSource } from './catalog.js';
import { checkFinite } from './finite.js';
import { fromTimmMobileNetV2, selectStateDict, unfoldBatchNorm } from './layouts.js';
import { checkFit } from './match.js';
import { modelFileOf, readWeights, type SourceKind, type WeightSet } from './sources.js';

/** Written by `dsdnet weights import` into its safetensors metadata. */
export const IMPORT_FORMAT = 'dsdnet-backbone/1';

export type Layout = 'torchvision' | 'timm' | 'npy-folded';

export interface PretrainedWeights {
  /** The backbone's state in torchvision's names, without the classifier. */
  state: Map<string, Tensor>;
  source: string;
  kind: SourceKind;
  layout: Layout;
  /** The checkpoint entry the state dict came from ('state_dict', 'model', ...), or null for a bare state dict. */
  entry: string | null;
  /** BatchNorm was folded into the convolutions: calibrate its statistics on data before training. */
  foldedBatchNorm: boolean;
  /** Tensors of the source that were not used (another task's classifier). */
  dropped: string[];
  /** The input normalisation the weights expect, where the catalogue knows it (weights named 'imagenet'). */
  normalisation?: KnownWeights['normalisation'];
  /** The architecture the weights are exact for, where known: the catalogue's, or what a dsdnet file records. */
  backboneOptions?: BackboneOptions;
}

/**
 * The architecture options a file records (ResNet-50's stride placement): `dsdnet weights import` writes them into its
 * metadata, a dsdnet model file has them in its run's configuration.
 */
function recordedBackboneOptions(
  metadata: ReadonlyMap<string, unknown>,
  source: string,
  backboneName: string,
): BackboneOptions {
  let [backbone, stride]: unknown[] = [];
  const run = metadata.get('dsdnet');
  if (metadata.get('format') === IMPORT_FORMAT)
    [backbone, stride] = [metadata.get('backbone'), metadata.get('bottleneckStride')];
  else if (typeof run === 'string') {
    try {
      const { config } = JSON.parse(run) as { config?: { backbone?: unknown; bottleneckStride?: unknown } };
      [backbone, stride] = [config?.backbone, config?.bottleneckStride];
    } catch {
      return {}; // reading the file says what is wrong with it
    }
  }
  // Another backbone's weights: the fit check names the right one.
  if (stride === undefined || backbone !== backboneName) return {};
  if (!(BOTTLENECK_STRIDES as readonly unknown[]).includes(stride))
    throw new Error(
      `${source}: its metadata's bottleneckStride ${JSON.stringify(stride)} is not one of ${BOTTLENECK_STRIDES.join(', ')}`,
    );
  return { bottleneckStride: stride as BottleneckStride };
}

/**
 * The architecture a weight source is exact for, from its header alone: the catalogue's for 'imagenet', what a
 * dsdnet file (an import, a run's model) records, nothing otherwise (a missing source is left to the caller to name).
 */
export function pretrainedBackboneOptions(source: string, backboneName: string): BackboneOptions {
  if (source === 'imagenet') return imagenetWeights(backboneName)?.backboneOptions ?? {};
  const file = modelFileOf(source);
  const metadata = file === undefined ? null : readSafetensorsMetadata(file);
  return metadata === null ? {} : recordedBackboneOptions(new Map(Object.entries(metadata)), file!, backboneName);
}

export interface MappedState {
  /** Every tensor of the source under torchvision's name for `backbone` (the classifier's included). */
  state: Map<string, Tensor>;
  entry: string | null;
  layout: Layout;
  foldedBatchNorm: boolean;
}

/** The source's tensors in `backbone`'s names; nothing is checked or released here. */
export function mapToBackbone(weights: WeightSet, backbone: Backbone): MappedState {
  if (weights.kind === 'npy-folded')
    return { state: unfoldBatchNorm(weights, backbone), entry: null, layout: 'npy-folded', foldedBatchNorm: true };
  const foldedBatchNorm =
    weights.values.get('format') === IMPORT_FORMAT && weights.values.get('foldedBatchNorm') === 'true';
  const { tensors, entry } = selectStateDict(weights.tensors);
  const timm = fromTimmMobileNetV2(tensors);
  return timm === null
    ? { state: tensors, entry, layout: 'torchvision', foldedBatchNorm }
    : { state: timm, entry, layout: 'timm', foldedBatchNorm };
}

/** Reads `source` and returns the state for `backbone`, or throws an error naming the source and every problem. */
export function readPretrained(source: string, backbone: Backbone, backboneName: string): PretrainedWeights {
  const { path, known } = resolveSource(source, backboneName);
  const weights = readWeights(path);
  let mapped: Map<string, Tensor> | undefined;
  /** Disposes the source's tensors and those made from it (unfolded BatchNorm layers), but for `kept`. */
  const release = (kept: ReadonlySet<Tensor>): void => {
    for (const t of new Set([...weights.tensors.values(), ...(mapped?.values() ?? [])])) if (!kept.has(t)) t.dispose();
  };
  try {
    const { state, entry, layout, foldedBatchNorm } = mapToBackbone(weights, backbone);
    mapped = state;
    checkFit(state, backbone, backboneName, weights.path);
    const classifier = new Set(backbone.classifierKeys());
    const used = new Map([...state].filter(([key]) => !classifier.has(key)));
    // Named as the source names them where the tensor is the source's own (not one unfolded from it).
    const sourceNames = new Map([...weights.tensors].map(([key, t]) => [t, key]));
    checkFinite(
      [...used].map(([key, t]): [string, Tensor] => [sourceNames.get(t) ?? key, t]),
      weights.path,
    );
    const kept = new Set(used.values());
    const dropped = [...weights.tensors].filter(([, t]) => !kept.has(t)).map(([key]) => key);
    // Release everything not handed over (classifiers, optimizer state...).
    release(kept);
    return {
      state: used,
      source: weights.path,
      kind: weights.kind,
      layout,
      entry,
      foldedBatchNorm,
      dropped,
      normalisation: known?.normalisation,
      backboneOptions: known?.backboneOptions ?? recordedBackboneOptions(weights.values, weights.path, backboneName),
    };
  } catch (error) {
    release(new Set());
    throw error;
  }
}

/** Copies the pretrained state into the backbone (the classifier keeps its fresh initialisation) and releases it. */
export function applyPretrained(backbone: Backbone, weights: PretrainedWeights): void {
  const own = backbone.stateDict();
  noGrad(() => {
    for (const [key, source] of weights.state) own.get(key)!.copy_(source);
  });
  for (const t of weights.state.values()) t.dispose();
  weights.state.clear();
}
