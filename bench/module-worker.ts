// Module benchmark worker: a backbone from src/models with an optimizer from src/optim (SGD or the recipe's RMSprop),
// in a precision and memory layout; inference; or the optimizer step alone.
import { createBackbone } from '../src/models/index.js';
import { RMSprop, SGD } from '../src/optim/index.js';
import { F, noGrad, randn, tidy, withPrecision } from '../src/torch/index.js';
import { runWorkerLoop } from './worker-loop.js';

runWorkerLoop(({ mode, model: name, precision, layout, device, input, labels }) => {
  const model = createBackbone(name, 1000).to(device).toMemoryFormat(layout);
  const forward = (): ReturnType<typeof model.forward> => withPrecision(precision, () => model.forward(input));
  if (mode === 'infer') {
    model.eval();
    return () => tidy(() => void noGrad(forward));
  }
  const rmsprop = (foreach: boolean): RMSprop =>
    new RMSprop(model.parameters(), { lr: 1e-4, alpha: 0.99, eps: 1e-8, weightDecay: 1e-5, foreach });
  if (mode === 'optim' || mode === 'optim-plain') {
    const optimizer = rmsprop(mode === 'optim');
    for (const p of model.parameters())
      p.grad = randn(p.shape, { device }).contiguous(p.isContiguous() ? 'contiguous' : 'channelsLast');
    return () => optimizer.step();
  }
  const optimizer = mode === 'train-rmsprop' ? rmsprop(true) : new SGD(model.parameters(), { lr: 0.01, momentum: 0.9 });
  return () =>
    tidy(() => {
      F.crossEntropy(forward().float(), labels).backward();
      optimizer.step();
      optimizer.zeroGrad();
    });
});
