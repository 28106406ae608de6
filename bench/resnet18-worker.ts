// One benchmark process: times ResNet-18 training steps or inference with the TS engine and prints JSON.
// Usage: node dist/bench/resnet18-worker.js MODE SIZE BATCH WARMUP ITERS THREADS   (MODE: train | infer)
import { performance } from 'node:perf_hooks';

import { F, keep, manualSeed, noGrad, randint, randn, setNumThreads, type Tensor, tidy } from '../src/torch/index.js';
import { peakRssMiB } from './peak-rss.js';
import { forward, resnet18 } from './resnet18-ops.js';

const [mode, size, batch, warmup, iters, threads] = process.argv.slice(2);
setNumThreads(Number(threads));
manualSeed(0);
const model = resnet18(1000);
const momentum: (Tensor | null)[] = model.parameters.map(() => null);
const input = randn([Number(batch), 3, Number(size), Number(size)]);
const labels = randint(0, 1000, [Number(batch)]);
const lr = 0.01;

function trainStep(): void {
  tidy(() => {
    const loss = F.crossEntropy(forward(model, input, true), labels);
    loss.backward();
    noGrad(() => {
      // SGD with momentum 0.9, exactly torch.optim.SGD's single-tensor path.
      model.parameters.forEach((p, i) => {
        const grad = p.grad!;
        let buf = momentum[i];
        if (buf === null) {
          buf = keep(grad.detach().clone());
          momentum[i] = buf;
        } else {
          buf.mul_(0.9).add_(grad);
        }
        p.add_(buf, -lr);
        p.grad = null;
      });
    });
  });
}

function inferStep(): void {
  tidy(() => {
    noGrad(() => forward(model, input, false));
  });
}

const step = mode === 'train' ? trainStep : inferStep;
const times: number[] = [];
for (let i = 0; i < Number(warmup) + Number(iters); i++) {
  const start = performance.now();
  step();
  if (i >= Number(warmup)) times.push((performance.now() - start) / 1000);
}
console.log(JSON.stringify({ times, peakRssMiB: peakRssMiB() }));
