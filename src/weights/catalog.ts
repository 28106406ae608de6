// Weights known by name: 'imagenet' is the ImageNet backbone that comes with the project's shared data, where there
// is one: MobileNetV2 (the ONNX Model Zoo's, BatchNorm folded) and ResNet-50 (Kaiming He's original Caffe model, v1,
// converted to torchvision's names).
import { createHash } from 'node:crypto';
import { closeSync, existsSync, readSync } from 'node:fs';
import { join } from 'node:path';

import { openRegularFile } from '../io/index.js';
import type { BackboneOptions } from '../models/index.js';
import { sharedDir } from '../torch/index.js';

export interface KnownWeights {
  /** Under the weights folder ($DSDNET_WEIGHTS or ../shared/weights). */
  path: string;
  /** The file's SHA-256, checked before it is read (the folder of .npy files has none published). */
  sha256?: string;
  /**
   * The input the weights were trained on. 'imagenet' is RGB in [0, 1] less ImageNet's mean, over its std: the one
   * normalisation that the data pipeline, export and serve apply, so runs need not record it (Caffe's BGR mean
   * subtraction is folded into the ResNet-50's conv1). Weights wanting another would have to be recorded in the run.
   */
  normalisation: 'imagenet';
  /** The architecture the weights are exact for: the original ResNet-50 strides on its bottlenecks' 1x1 conv1. */
  backboneOptions: BackboneOptions;
}

const IMAGENET_WEIGHTS: Record<string, KnownWeights> = {
  mobilenet_v2: {
    path: join('mobilenet_v2_imagenet_float', 'onnx-zoo-mobilenetv2-7-folded'),
    normalisation: 'imagenet',
    backboneOptions: {},
  },
  resnet50: {
    path: join('resnet50_imagenet_caffe_v1', 'resnet50_imagenet_caffe_v1.pth'),
    sha256: '1e7c6161ea5a85c2083a4fb3c578c045cdcafc3a7f98103ce48b82ecad5c953f',
    normalisation: 'imagenet',
    backboneOptions: { bottleneckStride: '1x1' },
  },
};

/** The ImageNet weights known for a backbone, if any. */
export function imagenetWeights(backboneName: string): KnownWeights | undefined {
  return Object.hasOwn(IMAGENET_WEIGHTS, backboneName) ? IMAGENET_WEIGHTS[backboneName] : undefined;
}

function fileSha256(path: string): string {
  const hash = createHash('sha256');
  const chunk = Buffer.alloc(1 << 20);
  const fd = openRegularFile(path);
  try {
    for (let n: number; (n = readSync(fd, chunk, 0, chunk.length, null)) > 0;) hash.update(chunk.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  return hash.digest('hex');
}

export interface ResolvedSource {
  path: string;
  /** The catalogue's entry, when the source was named 'imagenet'. */
  known?: KnownWeights;
}

/** 'imagenet' names the ImageNet weights known for a backbone (checked against their SHA-256); anything else is a path. */
export function resolveSource(source: string, backboneName: string): ResolvedSource {
  if (source !== 'imagenet') return { path: source };
  const known = imagenetWeights(backboneName);
  if (known === undefined) {
    throw new Error(
      `no ImageNet weights for ${backboneName} come with dsdnet's shared data; pass the path of a file you have, e.g. torchvision's ` +
        `${backboneName}-*.pth or a timm model.safetensors (ImageNet weights are known here for ${Object.keys(IMAGENET_WEIGHTS).join(', ')}), or --pretrained none to train from scratch`,
    );
  }
  const path = join(process.env.DSDNET_WEIGHTS ?? join(sharedDir(), 'weights'), known.path);
  if (!existsSync(path))
    throw new Error(
      `ImageNet weights for ${backboneName} are expected in ${path} (set DSDNET_WEIGHTS to the folder that holds ${known.path.split('/')[0]}/, or pass a path)`,
    );
  if (known.sha256 !== undefined) {
    const digest = fileSha256(path);
    if (digest !== known.sha256)
      throw new Error(
        `${path}: not the ImageNet weights dsdnet knows for ${backboneName} (SHA-256 ${digest}, expected ${known.sha256})`,
      );
  }
  return { path, known };
}
