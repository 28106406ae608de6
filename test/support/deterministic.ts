// Deterministic backbone weights that PyTorch's fixture generators make the same way (test/fixtures/generate_models.py).
import type { Backbone } from '../../src/models/index.js';
import { manualSeed, rand, randn, type Tensor, zeros } from '../../src/torch/index.js';

/** Mirrors deterministic_value() in generate_models.py: libtorch's generator seeded per tensor. */
export function deterministicState(model: Backbone): Map<string, Tensor> {
  const state = new Map<string, Tensor>();
  [...model.stateDict()].forEach(([name, value], ordinal) => {
    const shape = value.shape;
    manualSeed(ordinal);
    let v: Tensor;
    if (name.endsWith('num_batches_tracked')) v = zeros(shape, { dtype: 'int64' });
    else if (name.endsWith('running_var')) v = rand(shape).mul(0.5).add(1);
    else if (name.endsWith('running_mean') || name.endsWith('bias')) v = rand(shape).sub(0.5).mul(0.2);
    else if (shape.length === 1) v = rand(shape).mul(0.4).add(0.8);
    else v = randn(shape).mul(Math.sqrt(2 / (value.numel / shape[0])));
    state.set(name, v);
  });
  return state;
}
