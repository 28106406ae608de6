// A small conv net's forward pass, loss, gradients and BatchNorm statistics against PyTorch (fixtures/convnet.json).
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { F, ones, type Tensor, zeros } from '../src/torch/index.js';
import { assertClose, decode, type EncodedTensor, readFixture } from './helpers.js';

interface ConvnetFixture {
  params: Record<string, EncodedTensor>;
  input: EncodedTensor;
  labels: EncodedTensor;
  logits: EncodedTensor;
  loss: number;
  grads: Record<string, EncodedTensor>;
  running: Record<string, EncodedTensor>;
}

test('small conv net: loss, logits, gradients and running stats equal PyTorch', () => {
  const fx = readFixture<ConvnetFixture>('convnet.json');
  const p: Record<string, Tensor> = {};
  for (const [name, value] of Object.entries(fx.params)) p[name] = decode(value).requiresGrad_(true);
  const running: Record<string, Tensor> = {
    'bn1.running_mean': zeros([4]),
    'bn1.running_var': ones([4]),
    'bn2.running_mean': zeros([6]),
    'bn2.running_var': ones([6]),
  };
  const x = decode(fx.input);
  let h = F.conv2d(x, p['conv1.weight'], p['conv1.bias'], { padding: 1 });
  h = F.batchNorm(h, running['bn1.running_mean'], running['bn1.running_var'], {
    weight: p['bn1.weight'],
    bias: p['bn1.bias'],
    training: true,
  });
  h = F.maxPool2d(F.relu(h), 2);
  h = F.conv2d(h, p['conv2.weight'], null, { stride: 2, padding: 1, groups: 2 });
  h = F.batchNorm(h, running['bn2.running_mean'], running['bn2.running_var'], {
    weight: p['bn2.weight'],
    bias: p['bn2.bias'],
    training: true,
  });
  h = F.relu(h);
  const logits = F.linear(F.adaptiveAvgPool2d(h, 1).flatten(1), p['fc.weight'], p['fc.bias']);
  const loss = F.crossEntropy(logits, decode(fx.labels), { labelSmoothing: 0.1 });
  loss.backward();

  assertClose(logits, fx.logits, { rtol: 1e-4, atol: 1e-5, what: 'logits' });
  assert.ok(Math.abs(loss.item() - fx.loss) <= 1e-5 * Math.abs(fx.loss) + 1e-6, `loss ${loss.item()} vs ${fx.loss}`);
  for (const [name, grad] of Object.entries(fx.grads)) {
    const g = p[name].grad;
    assert.ok(g !== null, `${name} has a gradient`);
    assertClose(g, grad, { rtol: 1e-4, atol: 1e-6, what: `grad ${name}` });
  }
  for (const [name, value] of Object.entries(fx.running))
    assertClose(running[name], value, { rtol: 1e-5, atol: 1e-6, what: name });
});
