// Backbones by name.
import type { Backbone } from './backbone.js';
import { MobileNetV2 } from './mobilenetv2.js';
import { BOTTLENECK_STRIDES, type BottleneckStride, ResNet } from './resnet.js';

export { Backbone, globalPool, type Stages, type StageTap } from './backbone.js';
export { MobileNetV2 } from './mobilenetv2.js';
export { BOTTLENECK_STRIDES, type BottleneckStride, ResNet, type ResNetDepth } from './resnet.js';

export const BACKBONES = ['resnet18', 'resnet34', 'resnet50', 'mobilenet_v2'] as const;
export type BackboneName = (typeof BACKBONES)[number];

/** Architecture choices beyond the name; they change the function, not the parameters, so runs must record them. */
export interface BackboneOptions {
  /** ResNet-50 only: where its downsampling bottlenecks stride (default '3x3', torchvision's). */
  bottleneckStride?: BottleneckStride;
}

/** What is wrong with `options` for the backbone `name` (from a configuration or a model file: untrusted). */
export function backboneOptionProblems(name: string, options: BackboneOptions): string[] {
  const { bottleneckStride = '3x3' } = options;
  if (!(BOTTLENECK_STRIDES as readonly string[]).includes(bottleneckStride))
    return [
      `bottleneckStride must be '3x3' (torchvision's ResNet v1.5) or '1x1' (the original ResNet v1), got ${JSON.stringify(bottleneckStride)}`,
    ];
  if (bottleneckStride !== '3x3' && name !== 'resnet50')
    return [`bottleneckStride '${bottleneckStride}' applies to resnet50's bottleneck blocks only, not to ${name}`];
  return [];
}

export function createBackbone(name: string, numClasses: number, options: BackboneOptions = {}): Backbone {
  if (!Number.isInteger(numClasses) || numClasses < 1)
    throw new RangeError(`numClasses must be a positive integer, got ${numClasses}`);
  const problems = backboneOptionProblems(name, options);
  if (problems.length > 0) throw new Error(problems.join('; '));
  switch (name) {
    case 'resnet18':
      return new ResNet(18, numClasses);
    case 'resnet34':
      return new ResNet(34, numClasses);
    case 'resnet50':
      return new ResNet(50, numClasses, options.bottleneckStride);
    case 'mobilenet_v2':
      return new MobileNetV2(numClasses);
    default:
      throw new Error(`unknown backbone '${name}' (expected one of ${BACKBONES.join(', ')})`);
  }
}
