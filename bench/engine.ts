// Engine benchmark: ResNet-18 written directly with the TS ops (bench/resnet18-ops.ts) against torchvision's in
// PyTorch: training step (forward, cross-entropy, backward, SGD momentum update) at batch 32, 64 and 128 px, and
// inference. Usage: node dist/bench/engine.js [--rounds 3] [--iters 10] [--warmup 3] [--threads 2]
import { runBenchmark } from './compare.js';

runBenchmark('ResNet-18 from engine ops vs torchvision', './ops-worker.js', [
  { label: 'train step 64 px, batch 32', mode: 'train', model: 'resnet18', size: 64, batch: 32 },
  { label: 'train step 128 px, batch 32', mode: 'train', model: 'resnet18', size: 128, batch: 32 },
  { label: 'inference 128 px, batch 32', mode: 'infer', model: 'resnet18', size: 128, batch: 32 },
]);
