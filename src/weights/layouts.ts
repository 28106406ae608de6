// Foreign names to ours (torchvision's): the state dict inside a training checkpoint, DataParallel's 'module.'
// prefix, timm's MobileNetV2 names, and the ONNX Model Zoo's folded convolutions (conv_N in network order, each
// with a bias that stands for the BatchNorm folded into it).
import { BatchNorm, Conv2d, type Module } from '../nn/index.js';
import { full, type Tensor, zeros } from '../torch/index.js';
import type { WeightSet } from './sources.js';

/** Entries that hold the model's state dict in training checkpoints, in the order they are preferred. */
const STATE_DICT_ENTRIES = ['state_dict', 'model_state_dict', 'model', 'net'];

/** The model's tensors: the state-dict entry of a checkpoint if there is one, without DataParallel's prefix. */
export function selectStateDict(tensors: ReadonlyMap<string, Tensor>): {
  tensors: Map<string, Tensor>;
  entry: string | null;
} {
  let entry: string | null = null;
  let selected = new Map(tensors);
  for (const name of STATE_DICT_ENTRIES) {
    const inner = [...tensors].filter(([key]) => key.startsWith(`${name}.`));
    if (inner.length > 0) {
      entry = name;
      selected = new Map(inner.map(([key, t]) => [key.slice(name.length + 1), t]));
      break;
    }
  }
  const keys = [...selected.keys()];
  if (keys.length > 0 && keys.every((k) => k.startsWith('module.')))
    selected = new Map([...selected].map(([key, t]) => [key.slice('module.'.length), t]));
  return { tensors: selected, entry };
}

/** timm's MobileNetV2 (conv_stem, blocks.S.B.*, conv_head) in torchvision's names; other names pass unchanged. */
export function fromTimmMobileNetV2(tensors: ReadonlyMap<string, Tensor>): Map<string, Tensor> | null {
  if (!tensors.has('conv_stem.weight')) return null;
  // Blocks are numbered through the stages in order: blocks.S.B -> features.(1 + running index).
  const blocks = [...new Set([...tensors.keys()].flatMap((k) => /^blocks\.(\d+)\.(\d+)\./.exec(k)?.[0] ?? []))].sort(
    (a, b) => {
      const [, s1, b1] = /^blocks\.(\d+)\.(\d+)\./.exec(a)!.map(Number);
      const [, s2, b2] = /^blocks\.(\d+)\.(\d+)\./.exec(b)!.map(Number);
      return s1 - s2 || b1 - b2;
    },
  );
  const blockIndex = new Map(blocks.map((prefix, i) => [prefix, i + 1]));
  const last = blocks.length + 1;
  const renamed = new Map<string, Tensor>();
  for (const [key, t] of tensors) {
    let name = key;
    const block = /^(blocks\.\d+\.\d+\.)(\w+)\.(.+)$/.exec(key);
    if (block) {
      const [, prefix, layer, rest] = block;
      // A depthwise-separable block (no expansion) has conv_dw, bn1, conv_pw, bn2; an inverted residual has
      // conv_pw, bn1, conv_dw, bn2, conv_pwl, bn3.
      const expanded = tensors.has(`${prefix}conv_pwl.weight`);
      const map: Record<string, string> = expanded
        ? {
            conv_pw: 'conv.0.0',
            bn1: 'conv.0.1',
            conv_dw: 'conv.1.0',
            bn2: 'conv.1.1',
            conv_pwl: 'conv.2',
            bn3: 'conv.3',
          }
        : { conv_dw: 'conv.0.0', bn1: 'conv.0.1', conv_pw: 'conv.1', bn2: 'conv.2' };
      name = map[layer] ? `features.${blockIndex.get(prefix)}.${map[layer]}.${rest}` : key;
    } else {
      const top = /^(conv_stem|bn1|conv_head|bn2|classifier)\.(.+)$/.exec(key);
      const map: Record<string, string> = {
        conv_stem: 'features.0.0',
        bn1: 'features.0.1',
        conv_head: `features.${last}.0`,
        bn2: `features.${last}.1`,
        classifier: 'classifier.1',
      };
      if (top) name = `${map[top[1]]}.${top[2]}`;
    }
    renamed.set(name, t);
  }
  return renamed;
}

/**
 * The ONNX Model Zoo's folded convolutions (conv_N.weight / conv_N.bias, network order by N) on `model`'s
 * convolutions in order, each followed by its BatchNorm: the conv takes the weight, the BatchNorm becomes the
 * identity plus the folded bias (weight 1, mean 0, variance 1 - eps), so that eval mode computes the folded network.
 */
export function unfoldBatchNorm(weights: WeightSet, model: Module): Map<string, Tensor> {
  const modules = new Map(model.namedModules());
  const convs = [...modules].filter(([, m]) => m instanceof Conv2d).map(([name]) => name);
  const indices = [...new Set([...weights.tensors.keys()].flatMap((k) => /^conv_(\d+)\.weight$/.exec(k)?.[1] ?? []))]
    .map(Number)
    .sort((a, b) => a - b);
  if (indices.length !== convs.length) {
    throw new Error(
      `${weights.path}: ${indices.length} folded convolutions, but the model has ${convs.length}: not the same architecture`,
    );
  }
  // Every pair is checked before a tensor is made, so that a refusal leaves nothing to release.
  const pairs = convs.map((conv, i) => {
    const weight = weights.tensors.get(`conv_${indices[i]}.weight`)!;
    const bias = weights.tensors.get(`conv_${indices[i]}.bias`);
    if (bias === undefined) throw new Error(`${weights.path}: conv_${indices[i]}_bias.npy is missing`);
    // The BatchNorm that follows a conv is its next sibling ('x.0' -> 'x.1', 'conv.2' -> 'conv.3').
    const bnName = conv.replace(/(\d+)$/, (d) => String(Number(d) + 1));
    const bn = modules.get(bnName);
    if (!(bn instanceof BatchNorm))
      throw new Error(`cannot unfold BatchNorm: '${conv}' is not followed by a BatchNorm layer`);
    return { conv, weight, bias, bnName, eps: bn.eps };
  });
  const state = new Map<string, Tensor>();
  for (const { conv, weight, bias, bnName, eps } of pairs) {
    const channels = bias.shape[0];
    state.set(`${conv}.weight`, weight);
    state.set(`${bnName}.weight`, full([channels], 1));
    state.set(`${bnName}.bias`, bias);
    state.set(`${bnName}.running_mean`, zeros([channels]));
    state.set(`${bnName}.running_var`, full([channels], 1 - eps));
    state.set(`${bnName}.num_batches_tracked`, zeros([], { dtype: 'int64' }));
  }
  return state;
}
