// The backbone interface the training methods use: four stage outputs (timm's feature-stage convention) with their
// channel counts, and the main classifier on the last stage. forward() is the plain classifier: what is deployed.
import { Layer } from '../nn/index.js';
import { F, type Tensor } from '../torch/index.js';

export type Stages = [Tensor, Tensor, Tensor, Tensor];

export abstract class Backbone extends Layer {
  abstract readonly stageChannels: readonly [number, number, number, number];
  abstract readonly numClasses: number;

  /** The outputs of the four stages, from shallow to deep. */
  abstract stages(input: Tensor): Stages;

  /** The main classifier head, applied to globally pooled last-stage features (fc, or MobileNetV2's classifier). */
  protected abstract readonly head: Layer;

  /** The main classifier: global average pooling and the head, applied to the last stage's output. */
  classify(lastStage: Tensor): Tensor {
    const features = globalPool(lastStage);
    const logits = this.head.forward(features);
    features.dispose();
    return logits;
  }

  /** The parameters of the main classifier head (trained at a higher lr in the DSDNet recipe). */
  classifierParameters(): Tensor[] {
    return this.head.parameters();
  }

  /** State-dict keys of the main classifier head: what is replaced when weights come from another task. */
  classifierKeys(): string[] {
    const head = new Set(this.classifierParameters());
    return [...this.stateDict()].filter(([, t]) => head.has(t)).map(([key]) => key);
  }

  forward(input: Tensor): Tensor {
    const [s1, s2, s3, s4] = this.stages(input);
    s1.dispose();
    s2.dispose();
    s3.dispose();
    const logits = this.classify(s4);
    s4.dispose();
    return logits;
  }
}

/** Global average pooling to a [N, C] feature vector. */
export function globalPool(x: Tensor): Tensor {
  const pooled = F.adaptiveAvgPool2d(x, 1);
  const flat = pooled.flatten(1);
  pooled.dispose();
  return flat;
}
