// GPU benchmark: the training steps that the GPU presets run, dsdnet's backbones and optimizer against torchvision's
// and torch.optim's in PyTorch on the same GPU, bf16 mixed precision and channels-last: ResNet-50 at 448 px (the
// `paper` preset's size; batch 64, its per-GPU share) and MobileNetV2 at 224 px (the `finetune` preset's; batch 32).
// Usage: node dist/bench/gpu.js [--device cuda:0] [--rounds 3] [--iters 10] [--warmup 3] [--only TEXT]
import { runBenchmark } from './compare.js';

runBenchmark(
  'GPU training steps, dsdnet vs PyTorch (SGD momentum, bf16 autocast, channels-last)',
  './module-worker.js',
  [
    {
      label: 'ResNet-50 train step 448 px, batch 64, bf16 channels-last',
      mode: 'train',
      model: 'resnet50',
      size: 448,
      batch: 64,
      precision: 'bf16',
      layout: 'channelsLast',
    },
    {
      label: 'MobileNetV2 train step 224 px, batch 32, bf16 channels-last',
      mode: 'train',
      model: 'mobilenet_v2',
      size: 224,
      batch: 32,
      precision: 'bf16',
      layout: 'channelsLast',
    },
  ],
  { device: 'cuda' },
);
