// The backbone interface the training methods use: four stage outputs (timm's feature-stage convention) with their
// channel counts, and the main classifier on the last stage. forward() is the plain classifier: what is deployed.
import { Layer } from '../nn/index.js';
import { F, type Tensor, tidy } from '../torch/index.js';

export type Stages = [Tensor, Tensor, Tensor, Tensor];

/**
 * Sees each stage's output (stage 0 to 3) before the next stage takes it, and gives what the next stage takes instead
 * (a forward hook, as PyTorch's register_forward_hook): Grad-CAM swaps in a leaf whose gradient it reads.
 */
export type StageTap = (stage: number, output: Tensor) => Tensor;

export abstract class Backbone extends Layer {
  abstract readonly stageChannels: readonly [number, number, number, number];
  abstract readonly numClasses: number;

  /** The outputs of the four stages, from shallow to deep (each as `tap` gives it back, when there is one). */
  abstract stages(input: Tensor, tap?: StageTap): Stages;

  /** The main classifier head, applied to globally pooled last-stage features (fc, or MobileNetV2's classifier). */
  protected abstract readonly head: Layer;

  /** The main classifier: global average pooling and the head, applied to the last stage's output. */
  classify(lastStage: Tensor): Tensor {
    return tidy(() => this.head.forward(globalPool(lastStage)));
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
    return tidy(() => this.classify(this.stages(input)[3]));
  }
}

/** Global average pooling to a [N, C] feature vector. */
export function globalPool(x: Tensor): Tensor {
  return tidy(() => F.adaptiveAvgPool2d(x, 1).flatten(1));
}
