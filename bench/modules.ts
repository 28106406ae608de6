// Module benchmark: backbones from src/models trained with src/optim's SGD (and the recipe's RMSprop) against
// torchvision and torch.optim.
// Usage: node dist/bench/modules.js [--rounds 3] [--iters 10] [--warmup 3] [--threads 2]
import { runBenchmark } from './compare.js';

runBenchmark('src/models + src/optim vs torchvision + torch.optim', './module-worker.js', [
  { label: 'ResNet-18 train step 128 px, batch 32', mode: 'train', model: 'resnet18', size: 128, batch: 32 },
  { label: 'ResNet-18 train step 128 px, batch 32, RMSprop', mode: 'train-rmsprop', model: 'resnet18', size: 128, batch: 32 },
  { label: 'ResNet-50 train step 128 px, batch 16', mode: 'train', model: 'resnet50', size: 128, batch: 16 },
  { label: 'MobileNetV2 train step 128 px, batch 32', mode: 'train', model: 'mobilenet_v2', size: 128, batch: 32 },
  { label: 'ResNet-18 inference 128 px, batch 32', mode: 'infer', model: 'resnet18', size: 128, batch: 32 },
]);
