// Module benchmark worker: a backbone from src/models with the SGD optimizer from src/optim, or inference.
import { createBackbone } from '../src/models/index.js';
import { SGD } from '../src/optim/index.js';
import { F, noGrad, tidy } from '../src/torch/index.js';
import { runWorkerLoop } from './worker-loop.js';

runWorkerLoop(({ mode, model: name, input, labels }) => {
  const model = createBackbone(name, 1000);
  if (mode === 'infer') {
    model.eval();
    return () => tidy(() => void noGrad(() => model.forward(input)));
  }
  const optimizer = new SGD(model.parameters(), { lr: 0.01, momentum: 0.9 });
  return () =>
    tidy(() => {
      F.crossEntropy(model.forward(input), labels).backward();
      optimizer.step();
      optimizer.zeroGrad();
    });
});
