// Module benchmark worker: a backbone from src/models with an optimizer from src/optim (SGD or the recipe's RMSprop),
// or inference.
import { createBackbone } from '../src/models/index.js';
import { RMSprop, SGD } from '../src/optim/index.js';
import { F, noGrad, tidy } from '../src/torch/index.js';
import { runWorkerLoop } from './worker-loop.js';

runWorkerLoop(({ mode, model: name, input, labels }) => {
  const model = createBackbone(name, 1000);
  if (mode === 'infer') {
    model.eval();
    return () => tidy(() => void noGrad(() => model.forward(input)));
  }
  const optimizer =
    mode === 'train-rmsprop'
      ? new RMSprop(model.parameters(), { lr: 1e-4, alpha: 0.99, eps: 1e-8, weightDecay: 1e-5 })
      : new SGD(model.parameters(), { lr: 0.01, momentum: 0.9 });
  return () =>
    tidy(() => {
      F.crossEntropy(model.forward(input), labels).backward();
      optimizer.step();
      optimizer.zeroGrad();
    });
});
