// Engine benchmark worker: ResNet-18 written with engine ops, SGD with momentum written out (torch.optim.SGD's
// single-tensor path), or inference.
import { F, keep, noGrad, type Tensor, tidy } from '../src/torch/index.js';
import { forward, resnet18 } from './resnet18-ops.js';
import { runWorkerLoop } from './worker-loop.js';

runWorkerLoop(({ mode, input, labels }) => {
  if (mode === 'train-rmsprop')
    throw new Error('the engine worker trains with SGD only; RMSprop is in the module worker');
  const model = resnet18(1000);
  if (mode === 'infer') {
    return () => tidy(() => void noGrad(() => forward(model, input, false)));
  }
  const momentum: (Tensor | null)[] = model.parameters.map(() => null);
  return () =>
    tidy(() => {
      F.crossEntropy(forward(model, input, true), labels).backward();
      noGrad(() => {
        model.parameters.forEach((p, i) => {
          const grad = p.grad!;
          const buf = momentum[i];
          if (buf === null) momentum[i] = keep(grad.detach().clone());
          else buf.mul_(0.9).add_(grad);
          p.add_(momentum[i]!, -0.01);
          p.grad = null;
        });
      });
    });
});
