// Weights known by name: 'imagenet' is the ImageNet backbone that comes with the project's shared data, where there
// is one (only MobileNetV2 here: the ONNX Model Zoo's, BatchNorm folded).
import { existsSync } from 'node:fs';
import { join } from 'node:path';

import { sharedDir } from '../torch/index.js';

const IMAGENET_FOLDERS: Record<string, string> = {
  mobilenet_v2: join('mobilenet_v2_imagenet_float', 'onnx-zoo-mobilenetv2-7-folded'),
};

/** 'imagenet' names the ImageNet weights known for a backbone (under $DSDNET_WEIGHTS or ../shared/weights); anything else is a path. */
export function resolveSource(source: string, backboneName: string): string {
  if (source !== 'imagenet') return source;
  const folder = IMAGENET_FOLDERS[backboneName];
  if (folder === undefined) {
    throw new Error(
      `no ImageNet weights for ${backboneName} come with dsdnet's shared data; pass the path of a file you have, e.g. torchvision's ` +
        `${backboneName}-*.pth or a timm model.safetensors (ImageNet weights are known here for ${Object.keys(IMAGENET_FOLDERS).join(', ')})`,
    );
  }
  const root = process.env.DSDNET_WEIGHTS ?? join(sharedDir(), 'weights');
  const path = join(root, folder);
  if (!existsSync(path))
    throw new Error(
      `ImageNet weights for ${backboneName} are expected in ${path} (set DSDNET_WEIGHTS to the folder that holds ${folder.split('/')[0]}/, or pass a path)`,
    );
  return path;
}
