// Class activation maps: where in an image a classifier finds the evidence for a class. Grad-CAM (Selvaraju et al.
// 2017) weighs a stage's feature maps by the spatial mean of the class score's gradient; Grad-CAM++ (Chattopadhay et
// al. 2018) by the positive gradients, each scaled by its closed-form alpha. The score is the class's logit (before
// softmax), as both papers define it. The gradient at a stage is read from a leaf swapped in for that stage's output
// (a StageTap), so no parameter needs or keeps a gradient.
import type { Backbone } from '../models/index.js';
import type { Layer } from '../nn/index.js';
import { backward, enableGrad, F, type Tensor, tensor, tidy } from '../torch/index.js';

export const CAM_METHODS = ['gradcam', 'gradcam++'] as const;
export type CamMethod = (typeof CAM_METHODS)[number];

export interface CamOptions {
  /** The stage whose features are weighed, 1-4 (default 4, the last). */
  stage?: number;
  method?: CamMethod;
  /** The class explained for each image (default: the predicted one). */
  classes?: readonly number[];
  /** The classifier that scores the stage's output (an sd/dsd stage head on its own stage); default the model's own, through the later stages. */
  head?: Layer;
}

export interface ClassActivationMaps {
  /** N maps of height x width (the stage's resolution), ReLU applied, not normalised. */
  maps: Float32Array;
  height: number;
  width: number;
  /** The class explained per image, and the softmax probability the classifier gives it. */
  classes: number[];
  probabilities: number[];
}

/** Grad-CAM++'s guard against 0 / 0 where the gradient vanishes (pytorch-grad-cam's value). */
const EPSILON = 1e-7;

/** Channel weights [N, C, 1, 1] from the stage's activations and the class score's gradients there. */
function channelWeights(method: CamMethod, activations: Tensor, gradients: Tensor): Tensor {
  if (method === 'gradcam') return gradients.mean([2, 3], true);
  const g2 = gradients.mul(gradients);
  const g3 = g2.mul(gradients);
  const alpha = g2.div(
    g2
      .mul(2)
      .add(activations.sum([2, 3], true).mul(g3))
      .add(EPSILON),
  );
  return alpha.mul(gradients.relu()).sum([2, 3], true);
}

/** The class activation maps of a batch of normalised images [N, 3, S, S] (the model in eval mode). */
export function classActivationMaps(model: Backbone, input: Tensor, options: CamOptions = {}): ClassActivationMaps {
  const { stage = 4, method = 'gradcam' } = options;
  if (!(Number.isInteger(stage) && stage >= 1 && stage <= 4))
    throw new RangeError(`stage must be 1, 2, 3 or 4, got ${stage}`);
  if (!CAM_METHODS.includes(method))
    throw new RangeError(`method must be one of ${CAM_METHODS.join(', ')}, got '${String(method)}'`);
  return enableGrad(() =>
    tidy(() => {
      let activations: Tensor | undefined;
      // The stage's output becomes a leaf: its gradient is what Grad-CAM weighs, and nothing below it is traced.
      const stages = model.stages(input, (s, x) => (s === stage - 1 ? (activations = x.detach().requiresGrad_()) : x));
      const logits = options.head ? options.head.forward(stages[stage - 1]) : model.classify(stages[3]);
      const count = input.shape[0];
      const classes = options.classes
        ? [...options.classes]
        : Array.from(logits.argmax(1).data() as BigInt64Array, Number);
      if (classes.length !== count) throw new RangeError(`${classes.length} classes given for ${count} images`);
      const index = tensor(classes, { dtype: 'int64', device: logits.device }).reshape([count, 1]);
      // Images do not interact in eval mode: the sum's gradient is each image's own score's.
      backward([logits.gather(1, index).sum()]);
      for (const p of [...model.parameters(), ...(options.head?.parameters() ?? [])]) p.grad = null;
      const leaf = activations!;
      const gradients = leaf.grad!;
      const maps = channelWeights(method, leaf.detach(), gradients).mul(leaf.detach()).sum(1).relu().float();
      const probabilities = Array.from(logits.detach().float().softmax(1).gather(1, index).data() as Float32Array);
      const [, height, width] = maps.shape;
      return { maps: maps.contiguous().data() as Float32Array, height, width, classes, probabilities };
    }),
  );
}

/** Maps [N, h, w] resized to size x size (bilinear, align_corners false, as F.interpolate). */
export function upsampleMaps(
  cams: Pick<ClassActivationMaps, 'maps' | 'height' | 'width'>,
  count: number,
  size: number,
): Float32Array {
  return tidy(
    () =>
      F.interpolate(tensor(cams.maps).reshape([count, 1, cams.height, cams.width]), {
        size: [size, size],
        mode: 'bilinear',
      })
        .contiguous()
        .data() as Float32Array,
  );
}
