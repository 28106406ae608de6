// Backbones by name.
import type { Backbone } from './backbone.js';
import { MobileNetV2 } from './mobilenetv2.js';
import { ResNet } from './resnet.js';

export { Backbone, globalPool, type Stages, type StageTap } from './backbone.js';
export { MobileNetV2 } from './mobilenetv2.js';
export { ResNet, type ResNetDepth } from './resnet.js';

export const BACKBONES = ['resnet18', 'resnet34', 'resnet50', 'mobilenet_v2'] as const;
export type BackboneName = (typeof BACKBONES)[number];

export function createBackbone(name: string, numClasses: number): Backbone {
  if (!Number.isInteger(numClasses) || numClasses < 1)
    throw new RangeError(`numClasses must be a positive integer, got ${numClasses}`);
  switch (name) {
    case 'resnet18':
      return new ResNet(18, numClasses);
    case 'resnet34':
      return new ResNet(34, numClasses);
    case 'resnet50':
      return new ResNet(50, numClasses);
    case 'mobilenet_v2':
      return new MobileNetV2(numClasses);
    default:
      throw new Error(`unknown backbone '${name}' (expected one of ${BACKBONES.join(', ')})`);
  }
}
